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
	"syscall"
	"testing"
	"time"
)

// inCI reports whether a missing prerequisite must fail instead of skip.
func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// needDemoPrereqs skips the test (fails it under CI=true) unless the demo can
// run here: root, dpdk-testpmd, ip, two CPUs and free hugepages.
func needDemoPrereqs(t testing.TB) {
	t.Helper()
	if err := checkPrereqs(); err != nil {
		if inCI() {
			t.Fatalf("missing prerequisite under CI: %v", err)
		}
		t.Skipf("missing prerequisite: %v", err)
	}
}

// buildDemo builds the demo into a temporary directory and returns its path.
func buildDemo(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), prog)
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// demoResult is what one run of the demo printed and how it ended.
type demoResult struct {
	pid            int
	stdout, stderr string
	exitCode       int
}

// runDemo runs the demo binary with args. If sig is not 0, it sends sig to
// the demo (by its PID) once its stderr contains after. A demo that hangs
// gets SIGTERM after 90 s, so that it still cleans up, and SIGKILL 20 s later.
func runDemo(t testing.TB, bin string, args []string, sig syscall.Signal, after string) demoResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	var stdout syncBuffer
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
	r := demoResult{pid: cmd.Process.Pid, stdout: stdout.String(), stderr: stderr.buf.String()}
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
	if sig != 0 && !stderr.matched {
		t.Fatalf("never saw %q on stderr, so never sent %v\nstderr:\n%s", after, sig, r.stderr)
	}
	return r
}

// watchWriter keeps what is written to it and calls onMatch once, when the
// text so far first contains match.
type watchWriter struct {
	buf     syncBuffer
	match   string
	onMatch func()
	matched bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if w.onMatch != nil && !w.matched && strings.Contains(w.buf.String(), w.match) {
		w.matched = true
		w.onMatch()
	}
	return n, err
}

var (
	reRxRow   = regexp.MustCompile(`(?m)^\s*pod -> podwire\s+(\d+)\s`)
	reTxRow   = regexp.MustCompile(`(?m)^\s*podwire -> pod\s+(\d+)\s`)
	reInUse   = regexp.MustCompile(`mbufs in use after the loop stopped: (\d+)`)
	rePodLine = regexp.MustCompile(`netns (\S+), dpdk-testpmd pid (\d+)`)
	reSocket  = regexp.MustCompile(`listening on (\S+)`)
)

// summaryCount returns the packet count in a summary row, or fails.
func summaryCount(t testing.TB, re *regexp.Regexp, stdout string) uint64 {
	t.Helper()
	m := re.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("summary has no row matching %s:\n%s", re, stdout)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkNothingLeft fails the test if the demo left its netns, testpmd, socket
// directory, EAL runtime directories or hugepage files behind.
func checkNothingLeft(t testing.TB, r demoResult) {
	t.Helper()
	m := rePodLine.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no pod line on stderr:\n%s", r.stderr)
	}
	netns, podPID := m[1], m[2]
	if _, err := os.Stat("/run/netns/" + netns); err == nil {
		t.Errorf("netns %s left behind", netns)
	}
	if comm, err := os.ReadFile("/proc/" + podPID + "/comm"); err == nil && strings.Contains(string(comm), "testpmd") {
		t.Errorf("dpdk-testpmd pid %s still running", podPID)
	}
	if m := reSocket.FindStringSubmatch(r.stderr); m == nil {
		t.Errorf("no socket path on stderr:\n%s", r.stderr)
	} else if _, err := os.Stat(filepath.Dir(m[1])); err == nil {
		t.Errorf("socket directory %s left behind", filepath.Dir(m[1]))
	}
	for _, prefix := range []string{"pwdemo" + strconv.Itoa(r.pid), "pwpod" + strconv.Itoa(r.pid)} {
		if _, err := os.Stat(filepath.Join(dpdkRunDir, prefix)); err == nil {
			t.Errorf("EAL runtime directory %s left behind", filepath.Join(dpdkRunDir, prefix))
		}
		if files, _ := filepath.Glob(filepath.Join("/dev/hugepages", prefix+"*")); len(files) > 0 {
			t.Errorf("hugepage files left behind: %v", files)
		}
	}
}

// TestDemo runs the built demo end to end against a real dpdk-testpmd pod.
func TestDemo(t *testing.T) {
	needDemoPrereqs(t)
	bin := buildDemo(t)

	t.Run("full run", func(t *testing.T) {
		r := runDemo(t, bin, []string{"-seconds", "2"}, 0, "")
		if r.exitCode != 0 {
			t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", r.exitCode, r.stdout, r.stderr)
		}
		rx, tx := summaryCount(t, reRxRow, r.stdout), summaryCount(t, reTxRow, r.stdout)
		if rx == 0 || tx == 0 {
			t.Errorf("pod -> podwire %d packets, podwire -> pod %d packets; want both nonzero\n%s", rx, tx, r.stdout)
		}
		if n := summaryCount(t, reInUse, r.stdout); n != 0 {
			t.Errorf("%d mbufs in use after the loop stopped, want 0", n)
		}
		t.Logf("pod -> podwire %d packets, podwire -> pod %d packets in 2 s", rx, tx)
		checkNothingLeft(t, r)
	})

	t.Run("SIGINT during traffic", func(t *testing.T) {
		r := runDemo(t, bin, []string{"-seconds", "60"}, syscall.SIGINT, "t=1s")
		if want := 128 + int(syscall.SIGINT); r.exitCode != want {
			t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.exitCode, want, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "stopped by SIGINT") {
			t.Errorf("stderr does not say it was interrupted:\n%s", r.stderr)
		}
		if rx := summaryCount(t, reRxRow, r.stdout); rx == 0 {
			t.Errorf("no packets before the interrupt\n%s", r.stdout)
		}
		checkNothingLeft(t, r)
	})
}
