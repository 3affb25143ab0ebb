package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/internal/syncbuf"
)

// inCI reports whether a missing prerequisite must fail instead of skip.
func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// needDemoPrereqs skips the test (fails it under CI=true) unless the demo can
// run here: root, dpdk-testpmd, ip, two CPUs and free hugepages.
func needDemoPrereqs(t testing.TB) {
	t.Helper()
	if err := checkSystem(); err != nil {
		if inCI() {
			t.Fatalf("missing prerequisite under CI: %v", err)
		}
		t.Skipf("missing prerequisite: %v", err)
	}
}

// buildDemo builds the demo, podwired and the podwire CNI plugin into one
// temporary directory, as `make build` puts them in bin/, and returns the
// demo's path.
func buildDemo(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/podwire/podwire/cmd/podwire-demo",
		"github.com/podwire/podwire/cmd/podwired", "github.com/podwire/podwire/cmd/podwire").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, prog)
}

// demoResult is what one run of the demo printed and how it ended.
type demoResult struct {
	pid            int
	stdout, stderr string
	exitCode       int
}

// runDemo runs the demo binary with args. If sig is not 0, it sends sig to
// the demo (by its PID) once its stderr contains after. A demo that hangs
// gets SIGTERM after 90 s, so that it still cleans up, and SIGKILL 30 s later.
func runDemo(t testing.TB, bin string, args []string, sig syscall.Signal, after string) demoResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout syncbuf.Buffer
	stderr := &watchWriter{}
	if sig != 0 {
		stderr.match = after
		stderr.onMatch = func() {
			if err := syscall.Kill(cmd.Process.Pid, sig); err != nil {
				t.Errorf("kill %d: %v", cmd.Process.Pid, err)
			}
		}
	}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	r := demoResult{pid: cmd.Process.Pid, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s did not finish within 90 s (%v)\nstderr:\n%s", bin, err, r.stderr)
	case err == nil:
	case errors.As(err, &ee):
		r.exitCode = ee.ExitCode()
	default:
		t.Fatalf("run %s: %v\nstderr:\n%s", bin, err, r.stderr)
	}
	if sig != 0 && !stderr.wasMatched() {
		t.Fatalf("never saw %q on stderr, so never sent %v\nstderr:\n%s", after, sig, r.stderr)
	}
	return r
}

// watchWriter keeps what is written to it and calls onMatch once, when the
// text so far first contains match.
type watchWriter struct {
	mu      sync.Mutex
	buf     strings.Builder
	match   string
	onMatch func()
	matched bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.onMatch != nil && !w.matched && strings.Contains(w.buf.String(), w.match) {
		w.matched = true
		w.onMatch()
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *watchWriter) wasMatched() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.matched
}

var (
	// A summary row: direction, packets, bytes, Mpps.
	reABRow    = regexp.MustCompile(`(?m)^A -> B\s+(\d+)\s+\d+\s+([0-9.]+)\s`)
	reBARow    = regexp.MustCompile(`(?m)^B -> A\s+(\d+)\s+\d+\s+([0-9.]+)\s`)
	reTempDir  = regexp.MustCompile(`temporary directory (\S+)`)
	rePodwired = regexp.MustCompile(`podwired pid (\d+)`)
	rePodLine  = regexp.MustCompile(`pod [AB]: netns (\S+), dpdk-testpmd pid (\d+)`)
)

// summaryRow returns the packets and Mpps of a summary row, or fails.
func summaryRow(t testing.TB, re *regexp.Regexp, stdout string) (uint64, float64) {
	t.Helper()
	m := re.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("summary has no row matching %s:\n%s", re, stdout)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	mpps, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		t.Fatal(err)
	}
	return n, mpps
}

// running reports whether pid is alive and its command name contains comm.
func running(pid, comm string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/comm")
	return err == nil && strings.Contains(string(b), comm)
}

// checkNothingLeft fails the test if the demo left a process, a network
// namespace, its temporary directory (with podwired's API socket, state and
// the pods' sockets), an EAL runtime directory or hugepage files behind.
func checkNothingLeft(t testing.TB, r demoResult) {
	t.Helper()
	if m := reTempDir.FindStringSubmatch(r.stderr); m == nil {
		t.Errorf("no temporary directory on stderr:\n%s", r.stderr)
	} else if _, err := os.Stat(m[1]); err == nil {
		t.Errorf("temporary directory %s left behind", m[1])
	}
	if m := rePodwired.FindStringSubmatch(r.stderr); m == nil {
		t.Errorf("no podwired pid on stderr:\n%s", r.stderr)
	} else if running(m[1], "podwired") {
		t.Errorf("podwired pid %s still running", m[1])
	}
	pods := rePodLine.FindAllStringSubmatch(r.stderr, -1)
	if len(pods) != 2 {
		t.Errorf("%d pod lines on stderr, want 2:\n%s", len(pods), r.stderr)
	}
	for _, m := range pods {
		if _, err := os.Stat("/run/netns/" + m[1]); err == nil {
			t.Errorf("netns %s left behind", m[1])
		}
		if running(m[2], "testpmd") {
			t.Errorf("dpdk-testpmd pid %s still running", m[2])
		}
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Errorf("ip netns list: %v: %s", err, out)
	}
	mine := "pwdemo-" + strconv.Itoa(r.pid) + "-"
	if strings.Contains(string(out), mine) {
		t.Errorf("ip netns list shows namespaces %s*:\n%s", mine, out)
	}
	prefix := "pwdemo" + strconv.Itoa(r.pid)
	for _, glob := range []string{filepath.Join(dpdkRunDir, prefix+"*"), filepath.Join("/dev/hugepages", prefix+"*")} {
		if files, _ := filepath.Glob(glob); len(files) > 0 {
			t.Errorf("left behind: %v", files)
		}
	}
}

// TestDemo runs the built demo end to end: podwired and two dpdk-testpmd
// pods, on vhost-user and on memif.
func TestDemo(t *testing.T) {
	needDemoPrereqs(t)
	bin := buildDemo(t)

	t.Run("full run", func(t *testing.T) {
		r := runDemo(t, bin, []string{"-seconds", "2"}, 0, "")
		if r.exitCode != 0 {
			t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", r.exitCode, r.stdout, r.stderr)
		}
		ab, abMpps := summaryRow(t, reABRow, r.stdout)
		ba, baMpps := summaryRow(t, reBARow, r.stdout)
		if ab == 0 || ba == 0 || abMpps == 0 || baMpps == 0 {
			t.Errorf("A -> B %d packets (%.3f Mpps), B -> A %d packets (%.3f Mpps); want both nonzero\n%s", ab, abMpps, ba, baMpps, r.stdout)
		}
		for _, want := range []string{"STATUS: podwired answers", "ADD pod A (vhostuser)", "ADD pod B (memif)",
			"CHECK pod A, pod B: ok", "DEL pod B (memif) -> port", "DEL pod A (vhostuser) -> port", "t=1s  A->B ", "t=2s  A->B "} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("no %q on stderr:\n%s", want, r.stderr)
			}
		}
		for _, want := range []string{"drops by reason", "MAC table of network default", "02:70:77:00:00:0a", "02:70:77:00:00:0b"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("summary does not show %q:\n%s", want, r.stdout)
			}
		}
		t.Logf("A -> B %d packets (%.3f Mpps), B -> A %d packets (%.3f Mpps) in 2 s", ab, abMpps, ba, baMpps)
		checkNothingLeft(t, r)
	})

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String()+" during traffic", func(t *testing.T) {
			r := runDemo(t, bin, []string{"-seconds", "60"}, sig, "t=1s")
			if want := 128 + int(sig); r.exitCode != want {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.exitCode, want, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "stopped by SIG") {
				t.Errorf("stderr does not say it was stopped by a signal:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, "cleanup:") {
				t.Errorf("a cleanup step failed:\n%s", r.stderr)
			}
			checkNothingLeft(t, r)
		})
	}

	t.Run("podwired missing", func(t *testing.T) {
		lone := filepath.Join(t.TempDir(), prog)
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(lone, b, 0o755); err != nil {
			t.Fatal(err)
		}
		r := runDemo(t, lone, nil, 0, "")
		msg := strings.TrimSpace(r.stderr)
		if r.exitCode != 1 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "podwired not found") || !strings.Contains(msg, "make build") {
			t.Fatalf("exit code %d, stderr %q; want 1 and one line that says to run make build", r.exitCode, msg)
		}
	})

	t.Run("CNI plugin missing", func(t *testing.T) {
		r := runDemo(t, bin, []string{"-cni-path", t.TempDir()}, 0, "")
		msg := strings.TrimSpace(r.stderr)
		if r.exitCode != 1 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "CNI plugin podwire not found") || !strings.Contains(msg, "make build") {
			t.Fatalf("exit code %d, stderr %q; want 1 and one line that says to run make build", r.exitCode, msg)
		}
	})
}
