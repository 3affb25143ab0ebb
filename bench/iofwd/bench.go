package iofwd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"
)

// Sides.
const (
	SideOurs    = "ours"
	SideTestpmd = "testpmd"
)

// Config is one benchmark run.
type Config struct {
	Setup
	// Rounds of one trial per side each; the side that goes first
	// alternates from round to round.
	Rounds int
	// Warmup runs before each measured Window.
	Warmup, Window time.Duration
	// Target is the ratio median(ours)/median(testpmd) to reach.
	Target float64
	// TestpmdPath is the dpdk-testpmd binary; Stdbuf as in Testpmd.
	TestpmdPath, Stdbuf string
}

// DefaultConfig is 5 rounds of 3 s after 0.5 s of warm-up, target 0.80.
var DefaultConfig = Config{
	Setup:  DefaultSetup,
	Rounds: 5, Warmup: 500 * time.Millisecond, Window: 3 * time.Second,
	Target: 0.80, TestpmdPath: "dpdk-testpmd",
}

func (c Config) validate() error {
	if err := c.Setup.validate(); err != nil {
		return err
	}
	if c.Rounds < 1 {
		return fmt.Errorf("rounds %d: need at least 1", c.Rounds)
	}
	if c.Window <= 0 || c.Warmup < 0 {
		return fmt.Errorf("window %v and warm-up %v: window must be positive", c.Window, c.Warmup)
	}
	return nil
}

// OursTrial is our figure for one trial.
type OursTrial struct {
	Measurement
	// TxDropped counts packets tx refused, freed by the loop.
	TxDropped uint64 `json:"tx_dropped"`
}

// Round is one trial of each side.
type Round struct {
	Round   int                `json:"round"`
	First   string             `json:"first"`
	Ours    OursTrial          `json:"ours"`
	Testpmd TestpmdMeasurement `json:"testpmd"`
	Ratio   float64            `json:"ratio"`
}

// Result is a whole run.
type Result struct {
	Setup       Setup      `json:"setup"`
	WarmupSec   float64    `json:"warmup_seconds"`
	WindowSec   float64    `json:"window_seconds"`
	OursEAL     []string   `json:"ours_eal_args"`
	TestpmdArgs []string   `json:"testpmd_args"`
	Rounds      []Round    `json:"rounds"`
	Comparison  Comparison `json:"comparison"`
	// Contended counts the trials whose forwarding thread had less than
	// ContendedShare of its cpu: their figures are noise-bound.
	Contended int `json:"contended_trials"`
}

// Progress reports one finished trial.
type Progress struct {
	Round, Rounds int
	Side          string
	Measurement
	Note string
}

// Run measures both sides for c.Rounds rounds. It initializes the EAL in
// this process (see NewForwarder), so it can be called once per process.
// progress, if not nil, is called after every trial.
func Run(ctx context.Context, log *slog.Logger, c Config, progress func(Progress)) (res *Result, err error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(c.TestpmdPath)
	if err != nil {
		return nil, fmt.Errorf("dpdk-testpmd not found (%w); it comes with Debian's dpdk package: run make setup", err)
	}
	tp := &Testpmd{Path: path, Stdbuf: c.Stdbuf, Setup: c.Setup, Log: log}
	fwd, err := NewForwarder(log, c.Setup)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := fwd.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("forwarder close: %w", cerr))
		}
	}()
	res = &Result{
		Setup: c.Setup, WarmupSec: c.Warmup.Seconds(), WindowSec: c.Window.Seconds(),
		OursEAL: EALArgs("pwiofwd<pid>"), TestpmdArgs: tp.Args("pwiofwdtp<pid>_<n>"),
	}
	report := func(r int, side string, m Measurement, note string) {
		if progress != nil {
			progress(Progress{Round: r, Rounds: c.Rounds, Side: side, Measurement: m, Note: note})
		}
	}
	var ours, ref []float64
	for r := 1; r <= c.Rounds; r++ {
		round := Round{Round: r, First: SideOurs}
		order := []string{SideOurs, SideTestpmd}
		if r%2 == 0 {
			round.First = SideTestpmd
			order = []string{SideTestpmd, SideOurs}
		}
		for _, side := range order {
			switch side {
			case SideOurs:
				m, dropped, err := fwd.Trial(ctx, c.Warmup, c.Window)
				if err != nil {
					return nil, fmt.Errorf("round %d, ours: %w", r, err)
				}
				round.Ours = OursTrial{Measurement: m, TxDropped: dropped}
				report(r, side, m, fmt.Sprintf("tx dropped %d", dropped))
			case SideTestpmd:
				m, err := tp.Trial(ctx, c.Warmup, c.Window)
				if err != nil {
					return nil, fmt.Errorf("round %d, testpmd: %w", r, err)
				}
				round.Testpmd = m
				report(r, side, m.Measurement, fmt.Sprintf("testpmd says %.2f Mpps, pid %d", m.ReportedMpps, m.PID))
			}
		}
		if round.Testpmd.Mpps > 0 {
			round.Ratio = round.Ours.Mpps / round.Testpmd.Mpps
		}
		for _, share := range []float64{round.Ours.FwdCPUShare, round.Testpmd.FwdCPUShare} {
			if share >= 0 && share < ContendedShare {
				res.Contended++
			}
		}
		res.Rounds = append(res.Rounds, round)
		ours, ref = append(ours, round.Ours.Mpps), append(ref, round.Testpmd.Mpps)
	}
	if res.Comparison, err = Compare(ours, ref, c.Target); err != nil {
		return nil, err
	}
	return res, nil
}

// FormatShare formats a cpu share as a percentage, "?" if unknown.
func FormatShare(s float64) string {
	if s < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", 100*s)
}

// WriteTable prints the per-round figures, the summaries and the verdict.
func WriteTable(w io.Writer, r *Result) error {
	c := r.Comparison
	var b strings.Builder
	fmt.Fprintf(&b, "iofwd: Go io-forward loop (ours) vs dpdk-testpmd --forward-mode=io\n")
	fmt.Fprintf(&b, "%s <-> %s on lcore %d (cpu %d), burst %d, %d mbufs, cache %d; %d rounds of %.1f s after %.1f s warm-up\n\n",
		Vdevs[0], Vdevs[1], FwdLcore, FwdLcore, r.Setup.Burst, r.Setup.Mbufs, r.Setup.Cache, len(r.Rounds), r.WindowSec, r.WarmupSec)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tfirst\tours Mpps\tcpu\ttestpmd Mpps\tcpu\tratio\t")
	for _, rd := range r.Rounds {
		fmt.Fprintf(tw, "%d\t%s\t%.2f\t%s\t%.2f\t%s\t%.3f\t\n", rd.Round, rd.First,
			rd.Ours.Mpps, FormatShare(rd.Ours.FwdCPUShare), rd.Testpmd.Mpps, FormatShare(rd.Testpmd.FwdCPUShare), rd.Ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Mpps\tmedian\tmin\tmax\t")
	fmt.Fprintf(tw, "ours\t%.2f\t%.2f\t%.2f\t\n", c.Ours.Median, c.Ours.Min, c.Ours.Max)
	fmt.Fprintf(tw, "testpmd\t%.2f\t%.2f\t%.2f\t\n", c.Reference.Median, c.Reference.Min, c.Reference.Max)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nratio median(ours)/median(testpmd) = %.3f  (per-round ratios: min %.3f, max %.3f)\n", c.Ratio, c.RatioMin, c.RatioMax)
	fmt.Fprintf(&b, "target ours >= %.2fx testpmd: %s\n", c.Target, c.Verdict)
	b.WriteString("cpu: the forwarding thread's share of cpu 1 in the window")
	if r.Contended > 0 {
		fmt.Fprintf(&b, "; %d of %d trials below %.0f%%: other load on the cpu, figures are noisy", r.Contended, 2*len(r.Rounds), 100*ContendedShare)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
