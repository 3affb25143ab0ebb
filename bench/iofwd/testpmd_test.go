package iofwd

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testpmdPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("dpdk-testpmd")
	needPrereq(t, err == nil, "dpdk-testpmd (Debian package dpdk)")
	return p
}

// gone reports whether no process has the PID any more.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func TestTestpmdArgs(t *testing.T) {
	tp := &Testpmd{Setup: DefaultSetup}
	want := "-l 0,1 --main-lcore 0 --no-pci --in-memory --file-prefix P --vdev=net_null0 --vdev=net_null1 " +
		"-- -i --forward-mode=io --nb-cores=1 --burst=32 --mbcache=256 --total-num-mbufs=8191"
	if got := strings.Join(tp.Args("P"), " "); got != want {
		t.Errorf("args:\n got %s\nwant %s", got, want)
	}
	// Our EAL has the same arguments as testpmd's EAL part.
	if got, want := EALArgs("P"), tp.Args("P")[:len(EALArgs("P"))]; !reflect.DeepEqual(got, want) {
		t.Errorf("EALArgs %v, testpmd's EAL args %v", got, want)
	}
}

func TestTestpmdTrial(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dpdk-testpmd")
	}
	path := testpmdPath(t)
	stdbuf, _ := exec.LookPath("stdbuf")
	for _, tc := range []struct{ name, stdbuf string }{{"stdbuf", stdbuf}, {"pipe", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			needPrereq(t, tc.name != "stdbuf" || stdbuf != "", "stdbuf (coreutils)")
			tp := &Testpmd{Path: path, Stdbuf: tc.stdbuf, Setup: DefaultSetup}
			m, err := tp.Trial(context.Background(), 100*time.Millisecond, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if m.Packets == 0 || m.Seconds < 0.45 || m.Seconds > 1 {
				t.Errorf("measurement %+v", m.Measurement)
			}
			// testpmd's own rate over its own window agrees with ours.
			if r := m.ReportedMpps / m.Mpps; r < 0.9 || r > 1.1 {
				t.Errorf("testpmd reports %.2f Mpps, we measured %.2f", m.ReportedMpps, m.Mpps)
			}
			if !reflect.DeepEqual(m.FwdLcores, []int{FwdLcore}) {
				t.Errorf("forwarding lcores %v", m.FwdLcores)
			}
			if m.FwdCPUShare < 0 || m.FwdCPUShare > 1.05 {
				t.Errorf("cpu share of rte-worker-1: %v", m.FwdCPUShare)
			}
			if !gone(m.PID) {
				t.Errorf("testpmd pid %d still exists", m.PID)
			}
		})
	}
}

func TestTestpmdExitsAtStart(t *testing.T) {
	tp := &Testpmd{Path: "/bin/false", Setup: DefaultSetup}
	_, err := tp.Trial(context.Background(), 0, time.Second)
	if !errors.Is(err, errNoPrompt) {
		t.Fatalf("err %v, want %v", err, errNoPrompt)
	}
}

func TestTestpmdKilled(t *testing.T) {
	fake, err := filepath.Abs("testdata/fake-testpmd-hang.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		timeout time.Duration // of the context
		want    string
	}{
		{"command timeout", time.Minute, "no prompt after"},
		{"cancelled", 200 * time.Millisecond, context.DeadlineExceeded.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			tp := &Testpmd{Path: fake, Setup: DefaultSetup, CmdTimeout: 500 * time.Millisecond}
			if tc.name == "cancelled" {
				tp.CmdTimeout = time.Minute
			}
			m, err := tp.Trial(ctx, 0, time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if m.PID == 0 || !gone(m.PID) {
				t.Errorf("fake testpmd pid %d not stopped", m.PID)
			}
		})
	}
}
