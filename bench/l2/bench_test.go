package l2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/bench/iofwd"
)

// needPrereq skips (or, under CI=true, fails) when a prerequisite is missing.
func needPrereq(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("missing prerequisite under CI: %s", what)
	}
	t.Skip("missing prerequisite: " + what)
}

// gone reports whether no process has the PID any more.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func TestContended(t *testing.T) {
	for _, tc := range []struct {
		t    Trial
		want bool
	}{
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.99}, PodCPUShare: 0.98, Steal: 0.01}, false},
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: -1}, PodCPUShare: -1, Steal: -1}, false}, // unknown
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.5}, PodCPUShare: 0.99}, true},
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.99}, PodCPUShare: 0.9}, true},
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.99}, PodCPUShare: 0.99, Steal: 0.2}, true},
		// podwired's own control threads on cpu 0 are not contention.
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.99}, PodCPUShare: 0.92, FwdCtlShare: 0.05}, false},
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.99}, PodCPUShare: 0.85, FwdCtlShare: 0.05}, true},
		{Trial{Measurement: iofwd.Measurement{FwdCPUShare: 0.99}, PodCPUShare: 0.92, FwdCtlShare: -1}, true},
	} {
		if got := tc.t.Contended(); got != tc.want {
			t.Errorf("%+v: contended %v, want %v", tc.t, got, tc.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	ours, ref := []float64{4, 5, 4.5}, []float64{6, 5.5, 5}
	c, err := iofwd.Compare(ours, ref, 0.85)
	if err != nil {
		t.Fatal(err)
	}
	sr := ScenarioResult{Scenario: Scenario{Vhost, 64}, Comparison: c, Contended: 1}
	for i := range ours {
		first := SidePodwired
		if i%2 == 1 {
			first = SideTestpmd
		}
		pw := Trial{Measurement: iofwd.Measurement{Mpps: ours[i], FwdCPUShare: 0.99}, PodCPUShare: 0.99}
		if i == 1 {
			pw.PodCPUShare = 0.5
		}
		sr.Rounds = append(sr.Rounds, Round{Round: i + 1, First: first, Podwired: pw,
			Testpmd: Trial{Measurement: iofwd.Measurement{Mpps: ref[i], FwdCPUShare: -1}, PodCPUShare: 0.97},
			Ratio:   ours[i] / ref[i]})
	}
	r := &Result{Setup: DefaultSetup, WarmupSec: 0.5, WindowSec: 2, Scenarios: []ScenarioResult{sr}}
	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tx_first 32 x burst 32 per port; forwarder on cpu 1; 3 rounds of 2.0 s after 0.5 s warm-up",
		"== vhost-user 64 B",
		"2 testpmd-mac 5.00* 99%/50% 5.50 ?/97% 0.909",
		"podwired 4.50 4.00 5.00",
		"testpmd-mac 5.50 5.00 6.00",
		"ratio median(podwired)/median(testpmd-mac) = 0.818 (per-round ratios: median 0.900, min 0.667, max 0.909); target >= 0.85: BELOW",
		"1 of 6 trials contended",
		"vhost-user 64 B 4.50 [4.00-5.00] 5.50 [5.00-6.00] 0.818 [0.667-0.909] >= 0.85 BELOW 1/6",
	} {
		// Compare with runs of spaces collapsed: the columns' widths vary.
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteGCTable(t *testing.T) {
	rs := []GCResult{
		{Scenario: Scenario{Memif, 64}, Trial: Trial{Measurement: iofwd.Measurement{Mpps: 7.5}, GC: &GCWindow{Mallocs: 120}}, Verdict: "PASS"},
		{Scenario: Scenario{Vhost, 1518}, Trial: Trial{Measurement: iofwd.Measurement{Mpps: 2}, GC: &GCWindow{Cycles: 2, Mallocs: 9e6}}, Verdict: "BELOW"},
	}
	var b strings.Builder
	if err := WriteGCTable(&b, rs, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"over 30 s", "memif 64 B 7.50 0 120 0 cycles PASS", "vhost-user 1518 B 2.00 2 9000000 0 cycles BELOW"} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// buildPodwired builds cmd/podwired into a test directory.
func buildPodwired(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "podwired")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/podwire/podwire/cmd/podwired").CombinedOutput(); err != nil {
		t.Fatalf("build podwired: %v\n%s", err, out)
	}
	return bin
}

// TestRunShort runs one short round of the two 64 B scenarios for real:
// podwired and testpmd each forward, every process is gone afterwards.
func TestRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts podwired and dpdk-testpmd")
	}
	needPrereq(t, os.Geteuid() == 0, "root (hugepages, vhost-user and memif sockets)")
	_, err := exec.LookPath("dpdk-testpmd")
	needPrereq(t, err == nil, "dpdk-testpmd (Debian package dpdk)")
	c := DefaultConfig
	c.PodwiredPath = buildPodwired(t)
	c.Scenarios = []Scenario{{Vhost, 64}, {Memif, 64}}
	c.Rounds, c.Warmup, c.Window, c.QuietWait = 1, 200*time.Millisecond, 500*time.Millisecond, 0
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		c.Stdbuf = sb
	}
	var pids []int
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, c, func(p Progress) {
		t.Logf("%s %s: %.2f Mpps; %s", p.Scenario, p.Side, p.Trial.Mpps, p.Trial.Note())
		pids = append(pids, p.Trial.PID, p.Trial.PodPID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != 2 {
		t.Fatalf("%d scenario results, want 2", len(res.Scenarios))
	}
	for _, sr := range res.Scenarios {
		rd := sr.Rounds[0]
		for side, tr := range map[string]Trial{SidePodwired: rd.Podwired, SideTestpmd: rd.Testpmd} {
			what := fmt.Sprintf("%s %s", sr.Scenario, side)
			if tr.Packets == 0 || tr.Seconds < 0.45 || tr.Seconds > 2 {
				t.Errorf("%s: %+v", what, tr.Measurement)
			}
			// The loop ran: the pod sent and received.
			if tr.Pod.RxPackets == 0 || tr.Pod.TxPackets == 0 {
				t.Errorf("%s: pod stats %+v", what, tr.Pod)
			}
		}
		// Every frame is switched to the other pod port: none comes from a
		// bad source, none is sent back where it came from.
		for _, r := range []string{"bad_header", "bad_src_mac", "same_port", "no_network"} {
			if n := rd.Podwired.FwdDrops[r]; n != 0 {
				t.Errorf("%s: podwired dropped %d as %s", sr.Scenario, n, r)
			}
		}
		if w := rd.Podwired.Worker; w == nil || w.Loops == 0 || w.Packets == 0 {
			t.Errorf("%s: worker %+v", sr.Scenario, w)
		}
		if rd.Testpmd.Fwd == nil || rd.Testpmd.ReportedMpps <= 0 {
			t.Errorf("%s: testpmd stats %+v, reported %v Mpps", sr.Scenario, rd.Testpmd.Fwd, rd.Testpmd.ReportedMpps)
		}
	}
	for _, pid := range pids {
		if pid == 0 || !gone(pid) {
			t.Errorf("process %d still exists (or was not recorded)", pid)
		}
	}
	left, _ := filepath.Glob(iofwd.RuntimeDir(fmt.Sprintf("pwl2_%d_*", os.Getpid())))
	if len(left) != 0 {
		t.Errorf("EAL runtime directories left: %v", left)
	}
}
