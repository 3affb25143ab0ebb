package iofwd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The testpmd commands a trial sends, in this order (show twice).
const (
	cmdStart = "start"
	cmdShow  = "show port stats all"
	cmdStop  = "stop"
	cmdQuit  = "quit"
)

var trialCmds = []string{cmdStart, cmdShow, cmdStop, cmdQuit}

// Testpmd runs dpdk-testpmd --forward-mode=io on Vdevs, forwarding on
// FwdLcore with the same pool, cache and burst as the Forwarder.
type Testpmd struct {
	// Path is the dpdk-testpmd binary.
	Path string
	// Stdbuf, if set, is coreutils' stdbuf: testpmd then runs as
	// "stdbuf -oL dpdk-testpmd ..." (stdbuf execs it, the PID stays), so
	// that its output arrives line by line. The parser copes without it.
	Stdbuf string
	Setup  Setup
	Log    *slog.Logger
	// StartTimeout bounds testpmd's start-up until its first prompt;
	// CmdTimeout each command until the next prompt. Zero: 60 s and 15 s.
	StartTimeout, CmdTimeout time.Duration
}

// TestpmdMeasurement is testpmd's figure for one trial, from the ports' RX
// counters of two "show port stats all", and what testpmd said besides.
type TestpmdMeasurement struct {
	Measurement
	// ReportedMpps is testpmd's own total Rx-pps at the second show, over
	// its own TSC window: a cross-check of Mpps.
	ReportedMpps float64 `json:"reported_mpps"`
	// FwdLcores are the lcores testpmd said forward packets.
	FwdLcores []int `json:"fwd_lcores"`
	PID       int   `json:"pid"`
	// Transcript is testpmd's stdout, prompts and echoes removed.
	Transcript string `json:"-"`
}

var testpmdSeq atomic.Int32

// Args are testpmd's arguments for one run with a file prefix.
func (t *Testpmd) Args(prefix string) []string {
	return append(EALArgs(prefix), "--",
		"-i", "--forward-mode=io", "--nb-cores=1",
		"--burst="+strconv.Itoa(t.Setup.Burst),
		"--mbcache="+strconv.FormatUint(uint64(t.Setup.Cache), 10),
		"--total-num-mbufs="+strconv.FormatUint(uint64(t.Setup.Mbufs), 10))
}

// Trial starts testpmd, waits for its prompt, starts forwarding, lets it
// warm up, takes "show port stats all" twice window apart, stops, quits and
// parses the output. testpmd is killed by its PID if it does not quit in
// time, and on any error or cancellation.
func (t *Testpmd) Trial(ctx context.Context, warmup, window time.Duration) (TestpmdMeasurement, error) {
	var res TestpmdMeasurement
	if err := t.Setup.validate(); err != nil {
		return res, err
	}
	prefix := fmt.Sprintf("pwiofwdtp%d_%d", os.Getpid(), testpmdSeq.Add(1))
	p, err := StartProcess(ctx, ProcessOptions{Path: t.Path, Stdbuf: t.Stdbuf, Args: t.Args(prefix), Prefix: prefix,
		StartTimeout: t.StartTimeout, CmdTimeout: t.CmdTimeout})
	if err != nil {
		return res, err
	}
	defer p.Close()
	res.PID = p.PID()
	if t.Log != nil {
		t.Log.Debug("testpmd started", "pid", res.PID, "args", strings.Join(t.Args(prefix), " "))
	}
	fail := func(what string, err error) (TestpmdMeasurement, error) { return res, p.Fail(what, err) }

	if _, err := p.Do(ctx, cmdStart); err != nil {
		return fail(cmdStart, err)
	}
	if err := sleep(ctx, warmup); err != nil {
		return fail("warm-up", err)
	}
	var share CPUShare
	if tid, err := FindThread(res.PID, fmt.Sprintf("rte-worker-%d", FwdLcore)); err == nil {
		share.Start(res.PID, tid)
	}
	t0, err := p.Do(ctx, cmdShow)
	if err != nil {
		return fail(cmdShow, err)
	}
	if err := sleep(ctx, time.Until(t0.Add(window))); err != nil {
		return fail("window", err)
	}
	t1, err := p.Do(ctx, cmdShow)
	if err != nil {
		return fail(cmdShow, err)
	}
	cpu := share.Stop()
	if _, err := p.Do(ctx, cmdStop); err != nil {
		return fail(cmdStop, err)
	}
	if err := p.Quit(ctx); err != nil {
		return fail(cmdQuit, err)
	}

	res.Transcript = p.Output(0)
	snaps, err := ParsePortStats(res.Transcript)
	if err != nil {
		return fail("output", err)
	}
	if len(snaps) != 2 {
		return fail("output", fmt.Errorf("%d port stats snapshots, want 2", len(snaps)))
	}
	delta, err := RxDelta(snaps[0], snaps[1], []int{0, 1})
	if err != nil {
		return fail("output", err)
	}
	res.FwdLcores = FwdLcores(res.Transcript)
	if !slices.Equal(res.FwdLcores, []int{FwdLcore}) {
		return fail("output", fmt.Errorf("forwarding lcores %v, want [%d]", res.FwdLcores, FwdLcore))
	}
	res.ReportedMpps = float64(snaps[1].RxPPS()) / 1e6
	if res.Measurement, err = measure(delta, t1.Sub(t0)); err != nil {
		return fail("output", err)
	}
	res.FwdCPUShare = cpu
	return res, nil
}

// RuntimeDir is where an EAL with file prefix prefix keeps its runtime
// files, by DPDK's rule (eal_create_runtime_dir): /var/run/dpdk/<prefix> for
// root, else under $XDG_RUNTIME_DIR or /tmp.
func RuntimeDir(prefix string) string {
	base := "/var/run"
	if os.Getuid() != 0 {
		base = "/tmp"
		if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
			base = x
		}
	}
	return filepath.Join(base, "dpdk", prefix)
}

// transcript collects a child's output and counts testpmd prompts in it.
type transcript struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	n       int // prompts seen
	scanned int // bytes searched for prompts
	notify  chan struct{}
}

func newTranscript() *transcript { return &transcript{notify: make(chan struct{}, 1)} }

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf.Write(p)
	b := t.buf.Bytes()
	for {
		i := bytes.Index(b[t.scanned:], []byte(Prompt))
		if i < 0 {
			t.scanned = max(t.scanned, len(b)-len(Prompt)+1)
			break
		}
		t.n++
		t.scanned += i + len(Prompt)
	}
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (t *transcript) prompts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
