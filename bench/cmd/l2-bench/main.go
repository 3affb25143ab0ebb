// Command l2-bench compares podwired's L2 switching with dpdk-testpmd
// --forward-mode=mac in its place, between the two ports of one testpmd
// pod, over vhost-user and memif at 64 B and 1518 B, alternating the two
// forwarders for a number of rounds (see package l2).
//
// Progress goes to stderr, the result table to stdout, and with -json FILE
// the whole result with the machine's description to FILE. With -gc it runs
// podwired alone in a steady loop for -gc-seconds per scenario and counts
// its GC cycles instead. A ratio below the target is a report, not a
// failure: the exit status is non-zero only on errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/podwire/podwire/bench/iofwd"
	"github.com/podwire/podwire/bench/l2"
)

// Output is what -json writes.
type Output struct {
	Env iofwd.Env `json:"env"`
	*l2.Result
	GC []l2.GCResult `json:"gc,omitempty"`
}

func main() {
	c := l2.DefaultConfig
	scenarios := flag.String("scenarios", "all", "comma-separated `list` of KIND-SIZE (vhost-64, vhost-1518, memif-64, memif-1518), or all")
	seconds := flag.Float64("seconds", c.Window.Seconds(), "measured `seconds` per trial")
	flag.IntVar(&c.Rounds, "rounds", c.Rounds, "rounds per scenario; each runs podwired and testpmd once, alternating which goes first")
	flag.DurationVar(&c.Warmup, "warmup", c.Warmup, "warm-up after the pod's tx_first, before each measured window")
	flag.IntVar(&c.TxFirst, "tx-first", c.TxFirst, "bursts per port the pod sends to start the loop (start tx_first N)")
	flag.BoolVar(&c.BurstStats, "burst-stats", false, "testpmd forwarder records burst statistics too (costs it a little)")
	flag.Float64Var(&c.QuietBusy, "quiet-busy", c.QuietBusy, "before each trial, wait until neither cpu is busier than this `share` (other processes)")
	flag.DurationVar(&c.QuietWait, "quiet-wait", c.QuietWait, "but wait at most this long; 0: do not wait")
	gc := flag.Bool("gc", false, "instead of the comparison, run podwired alone for -gc-seconds per scenario and count its GC cycles")
	gcSeconds := flag.Float64("gc-seconds", 30, "measured `seconds` of a -gc run")
	jsonFile := flag.String("json", "", "write the results as JSON to `FILE`")
	flag.StringVar(&c.TestpmdPath, "testpmd", c.TestpmdPath, "dpdk-testpmd binary")
	flag.StringVar(&c.PodwiredPath, "podwired", "", "podwired `binary`; empty: go build ./cmd/podwired into a temporary directory")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "l2-bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	var err error
	if c.Scenarios, err = l2.ParseScenarios(*scenarios); err != nil {
		fmt.Fprintf(os.Stderr, "l2-bench: -scenarios: %v\n", err)
		os.Exit(2)
	}
	if *seconds <= 0 || *gcSeconds <= 0 || c.Rounds < 1 || c.Warmup < 0 {
		fmt.Fprintf(os.Stderr, "l2-bench: -seconds %g, -gc-seconds %g, -rounds %d, -warmup %v: need seconds > 0, rounds >= 1, warmup >= 0\n",
			*seconds, *gcSeconds, c.Rounds, c.Warmup)
		os.Exit(2)
	}
	c.Window = time.Duration(*seconds * float64(time.Second))
	if *gc {
		c.Window = time.Duration(*gcSeconds * float64(time.Second))
	}
	if err := run(c, *gc, *jsonFile); err != nil {
		fmt.Fprintf(os.Stderr, "l2-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(c l2.Config, gc bool, jsonFile string) error {
	path, err := exec.LookPath(c.TestpmdPath)
	if err != nil {
		return fmt.Errorf("dpdk-testpmd not found (%w); it comes with Debian's dpdk package: run make setup", err)
	}
	c.TestpmdPath = path
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		c.Stdbuf = sb
	}
	if c.PodwiredPath == "" {
		dir, err := os.MkdirTemp("", "pwl2bin")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.PodwiredPath = filepath.Join(dir, "podwired")
		if out, err := exec.Command("go", "build", "-o", c.PodwiredPath, "github.com/podwire/podwire/cmd/podwired").CombinedOutput(); err != nil {
			return fmt.Errorf("build podwired: %v\n%s", err, out)
		}
	}
	env := iofwd.Environment(path)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	progress := func(p l2.Progress) {
		fmt.Fprintf(os.Stderr, "%-10s round %d/%d %-11s %6.2f Mpps%s  (%d pkts in %.3f s, setup %.1f s; %s)\n",
			p.Scenario, p.Round, p.Rounds, p.Side, p.Trial.Mpps, contended(p.Trial), p.Trial.Packets, p.Trial.Seconds,
			p.Trial.SetupSeconds, p.Trial.Note())
	}
	out := Output{Env: env}
	if gc {
		fmt.Fprintf(os.Stderr, "l2-bench -gc: %d scenarios, podwired alone for %v each; cpu %q, dpdk %s, %s\n",
			len(c.Scenarios), c.Window, env.CPUModel, env.DPDKVersion, env.GoVersion)
		if out.GC, err = l2.RunGC(ctx, c, progress); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "l2-bench: done in %.1f s\n", time.Since(start).Seconds())
		if err := l2.WriteGCTable(os.Stdout, out.GC, c.Window); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(os.Stderr, "l2-bench: %d scenarios x %d rounds of %v (+%v warm-up) per side; cpu %q, dpdk %s, %s\n",
			len(c.Scenarios), c.Rounds, c.Window, c.Warmup, env.CPUModel, env.DPDKVersion, env.GoVersion)
		if out.Result, err = l2.Run(ctx, c, progress); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "l2-bench: done in %.1f s\n", time.Since(start).Seconds())
		if err := l2.WriteTable(os.Stdout, out.Result); err != nil {
			return err
		}
	}
	if jsonFile != "" {
		if err := iofwd.WriteJSON(jsonFile, out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "l2-bench: results written to %s\n", jsonFile)
	}
	return nil
}

func contended(t l2.Trial) string {
	if t.Contended() {
		return "*"
	}
	return " "
}
