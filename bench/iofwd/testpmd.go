package iofwd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
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
	startTimeout, cmdTimeout := t.StartTimeout, t.CmdTimeout
	if startTimeout <= 0 {
		startTimeout = 60 * time.Second
	}
	if cmdTimeout <= 0 {
		cmdTimeout = 15 * time.Second
	}
	prefix := fmt.Sprintf("pwiofwdtp%d_%d", os.Getpid(), testpmdSeq.Add(1))
	name, argv := t.Path, t.Args(prefix)
	if t.Stdbuf != "" {
		name, argv = t.Stdbuf, append([]string{"-oL", t.Path}, argv...)
	}
	cmd := exec.Command(name, argv...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, fmt.Errorf("testpmd stdin: %w", err)
	}
	out, errOut := newTranscript(), newTranscript()
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", t.Path, err)
	}
	res.PID = cmd.Process.Pid
	if t.Log != nil {
		t.Log.Debug("testpmd started", "pid", res.PID, "args", strings.Join(argv, " "))
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill() // by PID
			<-exited
		}
		// EAL leaves its runtime directory even with --in-memory, and
		// sockets in it when killed; the prefix is this trial's own.
		_ = os.RemoveAll(runtimeDir(prefix))
	}()
	fail := func(what string, err error) (TestpmdMeasurement, error) {
		return res, fmt.Errorf("testpmd (pid %d) %s: %w%s", res.PID, what, err, tails(errOut, out))
	}

	s := session{out: out, stdin: stdin, exited: exited}
	if err := s.waitPrompts(ctx, 1, startTimeout); err != nil {
		return fail("start-up", err)
	}
	if _, err := s.do(ctx, cmdStart, cmdTimeout); err != nil {
		return fail(cmdStart, err)
	}
	if err := sleep(ctx, warmup); err != nil {
		return fail("warm-up", err)
	}
	var share cpuShare
	if tid, err := findThread(res.PID, fmt.Sprintf("rte-worker-%d", FwdLcore)); err == nil {
		share.start(res.PID, tid)
	}
	t0, err := s.do(ctx, cmdShow, cmdTimeout)
	if err != nil {
		return fail(cmdShow, err)
	}
	if err := sleep(ctx, time.Until(t0.Add(window))); err != nil {
		return fail("window", err)
	}
	t1, err := s.do(ctx, cmdShow, cmdTimeout)
	if err != nil {
		return fail(cmdShow, err)
	}
	cpu := share.stop()
	if _, err := s.do(ctx, cmdStop, cmdTimeout); err != nil {
		return fail(cmdStop, err)
	}
	if _, err := io.WriteString(stdin, cmdQuit+"\n"); err != nil {
		return fail(cmdQuit, err)
	}
	_ = stdin.Close()
	select {
	case <-exited:
	case <-time.After(cmdTimeout):
		return fail(cmdQuit, errors.New("did not exit"))
	case <-ctx.Done():
		return fail(cmdQuit, ctx.Err())
	}
	if waitErr != nil {
		return fail("exit", waitErr)
	}

	res.Transcript = CleanTranscript(out.String(), trialCmds)
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

// runtimeDir is where an EAL with file prefix prefix keeps its runtime
// files, by DPDK's rule (eal_create_runtime_dir): /var/run/dpdk/<prefix> for
// root, else under $XDG_RUNTIME_DIR or /tmp.
func runtimeDir(prefix string) string {
	base := "/var/run"
	if os.Getuid() != 0 {
		base = "/tmp"
		if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
			base = x
		}
	}
	return filepath.Join(base, "dpdk", prefix)
}

// session drives testpmd's CLI: every command ends with a new prompt.
type session struct {
	out     *transcript
	stdin   io.Writer
	exited  <-chan struct{}
	prompts int // prompts seen and waited for so far
}

// do sends cmd and waits for the prompt after it. It returns the middle of
// the time between sending and seeing the prompt: testpmd ran the command
// in between, and for "show port stats all" that is the best estimate of
// when it read the counters (the error is half the round trip, well under a
// millisecond).
func (s *session) do(ctx context.Context, cmd string, timeout time.Duration) (time.Time, error) {
	t0 := time.Now()
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		return t0, err
	}
	if err := s.waitPrompts(ctx, s.prompts+1, timeout); err != nil {
		return t0, err
	}
	return t0.Add(time.Since(t0) / 2), nil
}

func (s *session) waitPrompts(ctx context.Context, n int, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if got := s.out.prompts(); got >= n {
			s.prompts = n
			return nil
		}
		select {
		case <-s.out.notify:
		case <-s.exited:
			if s.out.prompts() >= n {
				continue
			}
			if n == 1 {
				return errNoPrompt
			}
			return errors.New("testpmd exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("no prompt after %v", timeout)
		}
	}
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

// tails formats the last lines of testpmd's stderr and stdout for an error.
func tails(stderr, stdout *transcript) string {
	var b strings.Builder
	for _, x := range []struct {
		name string
		t    *transcript
	}{{"stderr", stderr}, {"stdout", stdout}} {
		lines := strings.Split(strings.TrimRight(x.t.String(), "\n"), "\n")
		if len(lines) == 1 && lines[0] == "" {
			continue
		}
		lines = lines[max(0, len(lines)-15):]
		fmt.Fprintf(&b, "\n--- testpmd %s (last %d lines) ---\n%s", x.name, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}
