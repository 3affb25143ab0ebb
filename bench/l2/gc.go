package l2

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// GCResult is one steady podwired run of a scenario, read through its
// Prometheus Go collector before and after the window.
type GCResult struct {
	Scenario Scenario `json:"scenario"`
	Trial    Trial    `json:"trial"`
	// Verdict is PASS when no GC cycle completed in the window.
	Verdict string `json:"verdict"`
}

// RunGC runs podwired alone, once per scenario of c, with metrics on and a
// window of c.Window (30 s for the steady run), and counts the GC
// cycles in the window. progress, if not nil, is called after each run.
func RunGC(ctx context.Context, c Config, progress func(Progress)) ([]GCResult, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	r, err := c.runner()
	if err != nil {
		return nil, err
	}
	var out []GCResult
	for _, s := range c.Scenarios {
		t, err := r.trial(ctx, c, s, SidePodwired, true)
		if err != nil {
			return nil, fmt.Errorf("%s, gc run: %w", s, err)
		}
		g := GCResult{Scenario: s, Trial: t, Verdict: "BELOW"}
		if t.GC != nil && t.GC.Cycles == 0 {
			g.Verdict = "PASS"
		}
		if progress != nil {
			progress(Progress{Scenario: s, Round: 1, Rounds: 1, Side: SidePodwired, Trial: t})
		}
		out = append(out, g)
	}
	return out, nil
}

// WriteGCTable prints one line per GC run.
func WriteGCTable(w io.Writer, rs []GCResult, window time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gc: podwired alone, steady loop, Go runtime counters (podwired /metrics) over %.0f s\n", window.Seconds())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tMpps\tgc cycles\tmallocs (whole process)\ttarget\tverdict")
	for _, g := range rs {
		var cycles, mallocs float64
		if g.Trial.GC != nil {
			cycles, mallocs = g.Trial.GC.Cycles, g.Trial.GC.Mallocs
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.0f\t0 cycles\t%s\n", g.Scenario.Label(), g.Trial.Mpps, cycles, mallocs, g.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("mallocs count the whole podwired process in the window, the API and metrics requests that read it included\n")
	_, err := io.WriteString(w, b.String())
	return err
}
