// Command iofwd-bench compares podwire's Go-driven io forward loop with
// dpdk-testpmd --forward-mode=io on two net_null ports and the same core,
// alternating the two for a number of rounds (see package iofwd).
//
// Progress goes to stderr, the result table to stdout, and with -json FILE
// the whole result with the machine's description to FILE. A ratio below
// the target is a report, not a failure: the exit status is non-zero only
// on errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/podwire/podwire/bench/iofwd"
)

// Output is what -json writes.
type Output struct {
	Env iofwd.Env `json:"env"`
	*iofwd.Result
}

func main() {
	c := iofwd.DefaultConfig
	seconds := flag.Float64("seconds", c.Window.Seconds(), "measured `seconds` per trial")
	flag.IntVar(&c.Rounds, "rounds", c.Rounds, "rounds; each runs ours and testpmd once, alternating which goes first")
	flag.DurationVar(&c.Warmup, "warmup", c.Warmup, "warm-up before each measured window")
	jsonFile := flag.String("json", "", "write the results as JSON to `FILE`")
	flag.StringVar(&c.TestpmdPath, "testpmd", c.TestpmdPath, "dpdk-testpmd binary")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "iofwd-bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if *seconds <= 0 || c.Rounds < 1 || c.Warmup < 0 {
		fmt.Fprintf(os.Stderr, "iofwd-bench: -seconds %g, -rounds %d, -warmup %v: need seconds > 0, rounds >= 1, warmup >= 0\n",
			*seconds, c.Rounds, c.Warmup)
		os.Exit(2)
	}
	c.Window = time.Duration(*seconds * float64(time.Second))

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(c, *jsonFile, log); err != nil {
		fmt.Fprintf(os.Stderr, "iofwd-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(c iofwd.Config, jsonFile string, log *slog.Logger) error {
	path, err := exec.LookPath(c.TestpmdPath)
	if err != nil {
		return fmt.Errorf("dpdk-testpmd not found (%w); it comes with Debian's dpdk package: run make setup", err)
	}
	c.TestpmdPath = path
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		c.Stdbuf = sb
	}
	env := iofwd.Environment(path)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	fmt.Fprintf(os.Stderr, "iofwd-bench: %d rounds of %v (+%v warm-up) per side; cpu %q, dpdk %s, %s\n",
		c.Rounds, c.Window, c.Warmup, env.CPUModel, env.DPDKVersion, env.GoVersion)
	res, err := iofwd.Run(ctx, log, c, func(p iofwd.Progress) {
		fmt.Fprintf(os.Stderr, "round %d/%d %-7s %7.2f Mpps  (%d pkts in %.3f s; fwd thread on cpu %s; %s)\n",
			p.Round, p.Rounds, p.Side, p.Mpps, p.Packets, p.Seconds, iofwd.FormatShare(p.FwdCPUShare), p.Note)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "iofwd-bench: done in %.1f s\n", time.Since(start).Seconds())
	if err := iofwd.WriteTable(os.Stdout, res); err != nil {
		return err
	}
	if jsonFile != "" {
		if err := iofwd.WriteJSON(jsonFile, Output{Env: env, Result: res}); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "iofwd-bench: results written to %s\n", jsonFile)
	}
	return nil
}
