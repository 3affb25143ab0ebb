package l2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podwire/podwire/bench/iofwd"
)

// Config is one benchmark run.
type Config struct {
	Setup
	Scenarios []Scenario
	// Rounds of one trial per side each, per scenario; the side that goes
	// first alternates from round to round.
	Rounds int
	// Warmup runs after the pod's tx_first, before each measured Window.
	Warmup, Window time.Duration
	// TestpmdPath is dpdk-testpmd; Stdbuf as in iofwd.ProcessOptions;
	// PodwiredPath is the podwired binary.
	TestpmdPath, Stdbuf, PodwiredPath string
	// BurstStats makes the testpmd forwarder record burst statistics too
	// (the pod always does): its rx burst sizes, at a small cost to it.
	BurstStats bool
	// QuietBusy and QuietWait: before each trial, wait up to QuietWait
	// until neither cpu is busier than QuietBusy (waitQuiet). QuietWait 0
	// starts every trial at once.
	QuietBusy float64
	QuietWait time.Duration
}

// MaxTries bounds the attempts at a trial that forwards nothing (the
// loop's packets lost, or a forwarding thread starved for the whole
// window): such a trial is repeated, and Trial.Tries says how often.
const MaxTries = 3

// DefaultConfig is the short run of make bench: the four scenarios, 5
// rounds, 2 s windows after 0.5 s of warm-up, each trial after waiting up
// to 1 s for both cpus to be at most 10 % busy: about 2.5 minutes.
var DefaultConfig = Config{
	Setup: DefaultSetup, Scenarios: DefaultScenarios,
	Rounds: 5, Warmup: 500 * time.Millisecond, Window: 2 * time.Second,
	TestpmdPath: "dpdk-testpmd", QuietBusy: 0.10, QuietWait: time.Second,
}

func (c Config) validate() error {
	if err := c.Setup.validate(); err != nil {
		return err
	}
	if len(c.Scenarios) == 0 {
		return errors.New("no scenarios")
	}
	if c.Rounds < 1 {
		return fmt.Errorf("rounds %d: need at least 1", c.Rounds)
	}
	if c.Window <= 0 || c.Warmup < 0 {
		return fmt.Errorf("window %v and warm-up %v: window must be positive", c.Window, c.Warmup)
	}
	if c.PodwiredPath == "" {
		return errors.New("no podwired binary given")
	}
	if c.QuietWait < 0 || c.QuietBusy < 0 || c.QuietBusy > 1 {
		return fmt.Errorf("quiet wait %v and busy share %v: want a wait >= 0 and a share in 0..1", c.QuietWait, c.QuietBusy)
	}
	return nil
}

// trial runs one trial of side after waiting for quiet cpus, and repeats
// it (up to MaxTries) while it forwards nothing.
func (r *runner) trial(ctx context.Context, c Config, s Scenario, side string, gc bool) (Trial, error) {
	for try := 1; ; try++ {
		t0 := time.Now()
		busy := -1.0
		if c.QuietWait > 0 {
			var err error
			if busy, err = waitQuiet(ctx, c.QuietBusy, c.QuietWait); err != nil {
				return Trial{}, err
			}
		}
		var t Trial
		var err error
		if side == SidePodwired {
			t, err = r.podwiredTrial(ctx, s, c.Warmup, c.Window, gc)
		} else {
			t, err = r.testpmdTrial(ctx, s, c.Warmup, c.Window)
		}
		t.BusyBefore, t.Tries, t.TrialSeconds = busy, try, time.Since(t0).Seconds()
		if err != nil || t.Packets > 0 || try == MaxTries {
			return t, err
		}
	}
}

func (c Config) runner() (*runner, error) {
	tp, err := exec.LookPath(c.TestpmdPath)
	if err != nil {
		return nil, fmt.Errorf("dpdk-testpmd not found (%w); it comes with Debian's dpdk package: run make setup", err)
	}
	pw, err := exec.LookPath(c.PodwiredPath)
	if err != nil {
		return nil, fmt.Errorf("podwired: %w", err)
	}
	return &runner{testpmd: tp, stdbuf: c.Stdbuf, podwired: pw, setup: c.Setup, burstStats: c.BurstStats,
		prefix: fmt.Sprintf("pwl2_%d_", os.Getpid())}, nil
}

// Round is one trial of each side.
type Round struct {
	Round    int     `json:"round"`
	First    string  `json:"first"`
	Podwired Trial   `json:"podwired"`
	Testpmd  Trial   `json:"testpmd_mac"`
	Ratio    float64 `json:"ratio"`
}

// ScenarioResult is every round of one scenario and their summary.
type ScenarioResult struct {
	Scenario   Scenario         `json:"scenario"`
	Rounds     []Round          `json:"rounds"`
	Comparison iofwd.Comparison `json:"comparison"`
	// Contended counts the trials in which something else had cpu 0 or 1
	// (Trial.Contended): their figures are noise-bound.
	Contended int `json:"contended_trials"`
}

// Result is a whole run.
type Result struct {
	Setup        Setup            `json:"setup"`
	QuietBusy    float64          `json:"quiet_busy"`
	QuietWaitSec float64          `json:"quiet_wait_seconds"`
	WarmupSec    float64          `json:"warmup_seconds"`
	WindowSec    float64          `json:"window_seconds"`
	BurstStats   bool             `json:"testpmd_burst_stats"`
	PodwiredArgs []string         `json:"podwired_args"`
	PodwiredYAML string           `json:"podwired_config"`
	TestpmdArgs  []string         `json:"testpmd_args"`
	PodArgs      []string         `json:"pod_args"`
	Scenarios    []ScenarioResult `json:"scenarios"`
}

// Progress reports one finished trial.
type Progress struct {
	Scenario      Scenario
	Round, Rounds int
	Side          string
	Trial         Trial
}

// Run measures both sides for c.Rounds rounds of every scenario.
// progress, if not nil, is called after every trial.
func Run(ctx context.Context, c Config, progress func(Progress)) (*Result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	r, err := c.runner()
	if err != nil {
		return nil, err
	}
	ex := c.Scenarios[0]
	res := &Result{
		Setup: c.Setup, QuietBusy: c.QuietBusy, QuietWaitSec: c.QuietWait.Seconds(), WarmupSec: c.Warmup.Seconds(), WindowSec: c.Window.Seconds(), BurstStats: c.BurstStats,
		PodwiredArgs: PodwiredFlags("DIR/podwired.yaml"),
		PodwiredYAML: PodwiredConfig(c.Setup, "PREFIX", "DIR", false),
		TestpmdArgs:  FwdTestpmdArgs(ex, c.Setup, "PREFIX", "DIR", c.BurstStats),
		PodArgs:      PodArgs(ex, c.Setup, "PREFIX", [2]string{"SOCKET0", "SOCKET1"}),
	}
	for _, s := range c.Scenarios {
		sr := ScenarioResult{Scenario: s}
		var ours, ref []float64
		for n := 1; n <= c.Rounds; n++ {
			rd := Round{Round: n, First: SidePodwired}
			order := []string{SidePodwired, SideTestpmd}
			if n%2 == 0 {
				rd.First, order = SideTestpmd, []string{SideTestpmd, SidePodwired}
			}
			for _, side := range order {
				t, err := r.trial(ctx, c, s, side, false)
				if side == SidePodwired {
					rd.Podwired = t
				} else {
					rd.Testpmd = t
				}
				if err != nil {
					return nil, fmt.Errorf("%s, round %d, %s: %w", s, n, side, err)
				}
				if t.Contended() {
					sr.Contended++
				}
				if progress != nil {
					progress(Progress{Scenario: s, Round: n, Rounds: c.Rounds, Side: side, Trial: t})
				}
			}
			if rd.Testpmd.Mpps > 0 {
				rd.Ratio = rd.Podwired.Mpps / rd.Testpmd.Mpps
			}
			sr.Rounds = append(sr.Rounds, rd)
			ours, ref = append(ours, rd.Podwired.Mpps), append(ref, rd.Testpmd.Mpps)
		}
		if sr.Comparison, err = iofwd.Compare(ours, ref, s.Target()); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	return res, nil
}

// WriteTable prints, per scenario, the rounds and the summary, then one
// line per scenario with the verdicts.
func WriteTable(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "l2: podwired (L2 switch, MAC learning, static pod MACs) vs dpdk-testpmd --forward-mode=mac in its place\n")
	fmt.Fprintf(&b, "pod: testpmd io loop on cpu %d, tx_first %d x burst %d per port; forwarder on cpu %d; %d rounds of %.1f s after %.1f s warm-up\n",
		PodLcore, r.Setup.TxFirst, r.Setup.Burst, FwdLcore, roundsOf(r), r.WindowSec, r.WarmupSec)
	b.WriteString("figure: the forwarder's total RX Mpps over the window (podwired: API port counters; testpmd: port stats)\n")
	for _, sr := range r.Scenarios {
		fmt.Fprintf(&b, "\n== %s\n", sr.Scenario.Label())
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "round\tfirst\tpodwired Mpps\tcpu fwd/pod\ttestpmd-mac Mpps\tcpu fwd/pod\tratio\t")
		for _, rd := range sr.Rounds {
			fmt.Fprintf(tw, "%d\t%s\t%.2f%s\t%s\t%.2f%s\t%s\t%.3f\t\n", rd.Round, rd.First,
				rd.Podwired.Mpps, flag(rd.Podwired), shares(rd.Podwired),
				rd.Testpmd.Mpps, flag(rd.Testpmd), shares(rd.Testpmd), rd.Ratio)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		c := sr.Comparison
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "Mpps\tmedian\tmin\tmax\t")
		fmt.Fprintf(tw, "podwired\t%.2f\t%.2f\t%.2f\t\n", c.Ours.Median, c.Ours.Min, c.Ours.Max)
		fmt.Fprintf(tw, "testpmd-mac\t%.2f\t%.2f\t%.2f\t\n", c.Reference.Median, c.Reference.Min, c.Reference.Max)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&b, "ratio median(podwired)/median(testpmd-mac) = %.3f (per-round ratios: median %.3f, min %.3f, max %.3f); target >= %.2f: %s\n",
			c.Ratio, median(c.RoundRatios), c.RatioMin, c.RatioMax, c.Target, c.Verdict)
		if sr.Contended > 0 {
			fmt.Fprintf(&b, "%d of %d trials contended (*): other processes took cpu 0 or 1 (the forwarder's worker, or the pod with the forwarder's other threads, below %.0f%% of their cpu) or steal above %.0f%%\n",
				sr.Contended, 2*len(sr.Rounds), 100*ContendedShare, 100*MaxSteal)
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tpodwired Mpps med [min-max]\ttestpmd-mac Mpps med [min-max]\tratio [round min-max]\ttarget\tverdict\tcontended")
	for _, sr := range r.Scenarios {
		c := sr.Comparison
		fmt.Fprintf(tw, "%s\t%.2f [%.2f-%.2f]\t%.2f [%.2f-%.2f]\t%.3f [%.3f-%.3f]\t>= %.2f\t%s\t%d/%d\n", sr.Scenario.Label(),
			c.Ours.Median, c.Ours.Min, c.Ours.Max, c.Reference.Median, c.Reference.Min, c.Reference.Max,
			c.Ratio, c.RatioMin, c.RatioMax, c.Target, c.Verdict, sr.Contended, 2*len(sr.Rounds))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func roundsOf(r *Result) int {
	if len(r.Scenarios) == 0 {
		return 0
	}
	return len(r.Scenarios[0].Rounds)
}

func flag(t Trial) string {
	if t.Contended() {
		return "*"
	}
	return ""
}

func shares(t Trial) string {
	return iofwd.FormatShare(t.FwdCPUShare) + "/" + iofwd.FormatShare(t.PodCPUShare)
}

func median(xs []float64) float64 {
	s, err := iofwd.Summarize(xs)
	if err != nil {
		return 0
	}
	return s.Median
}
