package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
)

func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// ealErr says why the EAL did not come up in TestMain, or is nil.
var ealErr error

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		ealErr = dpdk.InitOptions(dpdk.Options{
			Lcores: []int{0, 1}, MainLcore: 0, HasMainLcore: true,
			FilePrefix: fmt.Sprintf("pwkpt%d", os.Getpid()), InMemory: true, NoPCI: true, NoTelemetry: true,
			LogLevel: "*:error",
		})
	} else {
		ealErr = fmt.Errorf("not root")
	}
	code := m.Run()
	if ealErr == nil {
		_ = dpdk.Cleanup()
	}
	os.Exit(code)
}

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
pwkpod0: 6000000  100000    0 99990    0     0          0         0      600      10    0    3    0     0       0          0
`
	c, err := parseNetDev([]byte(dev), "pwkpod0")
	if err != nil {
		t.Fatal(err)
	}
	if want := (ifCounters{RxPackets: 100000, RxDropped: 99990, TxPackets: 10, TxDropped: 3}); c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if _, err := parseNetDev([]byte(dev), "eth0"); err == nil {
		t.Fatal("missing interface: no error")
	}
	if _, err := parseNetDev([]byte("x: 1 2 3\n"), "x"); err == nil {
		t.Fatal("short line: no error")
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want stat
	}{
		{nil, stat{}},
		{[]float64{3}, stat{3, 3, 3}},
		{[]float64{5, 1, 3}, stat{3, 1, 5}},
		{[]float64{4, 1, 2, 3}, stat{2.5, 1, 4}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestRatios(t *testing.T) {
	res := &result{Samples: []sample{
		{Cand: ref, Mode: modeRx.String(), Round: 0, DPDKRxPPS: 100},
		{Cand: ref, Mode: modeRx.String(), Round: 1, DPDKRxPPS: 200},
		{Cand: candTap, Mode: modeRx.String(), Round: 0, DPDKRxPPS: 50},
		{Cand: candTap, Mode: modeRx.String(), Round: 1, DPDKRxPPS: 300},
		{Cand: candTap, Mode: modeTx.String(), Round: 0, KernRxPPS: 7},
	}}
	got := ratios(res, candTap, modeRx, func(s sample) float64 { return s.DPDKRxPPS })
	if got.String() != "1.00 (0.50-1.50)" {
		t.Fatalf("ratios: %v", got)
	}
	if got := ratios(res, candTap, modeTx, func(s sample) float64 { return s.KernRxPPS }); got.String() != "-" {
		t.Fatalf("ratios without a reference: %v", got)
	}
}

func TestMakeFrame(t *testing.T) {
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	src := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	f := makeFrame(dst, src)
	if len(f) != frameLen || string(f[0:6]) != string(dst) || string(f[6:12]) != string(src) || f[12] != 0x88 || f[13] != 0xb5 {
		t.Fatalf("frame % x", f)
	}
}

// TestRound runs one short round of every candidate for real: namespaces,
// veth pairs, tap, AF_PACKET, AF_XDP, a kernel generator and the DPDK loop.
// It checks the facts the recommendation rests on, not the rates.
func TestRound(t *testing.T) {
	if ealErr != nil {
		if inCI() {
			t.Fatalf("missing prerequisite under CI: root and a working EAL: %v", ealErr)
		}
		t.Skipf("missing prerequisite: root and a working EAL: %v", ealErr)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("missing prerequisite: ip (iproute2)")
	}
	prefix := fmt.Sprintf("pwkpt%d", os.Getpid())
	res := newResult(1, 200*time.Millisecond)
	if err := runRound(context.Background(), res, allCandidates, prefix, 0, 200*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{candTap, candAFPacket, candAFXDP} {
		if why, failed := res.Failures[c]; failed {
			t.Errorf("%s failed: %s", c, why)
			continue
		}
		n := 0
		for _, s := range res.Samples {
			if s.Cand == c {
				n++
				if s.Mode == modeTx.String() && s.KernRxPPS == 0 {
					t.Errorf("%s: the pod's netdev received nothing from DPDK", c)
				}
				if s.Mode == modeRx.String() && s.DPDKRxPPS == 0 {
					t.Errorf("%s: DPDK received nothing from the pod", c)
				}
			}
		}
		if n != 3 {
			t.Errorf("%s: %d samples, want 3", c, n)
		}
	}
	if res.Survives[candTap] || !res.Survives[candAFPacket] || !res.Survives[candAFXDP] {
		t.Errorf("netdev survives port removal: %v; want tap false, veth candidates true", res.Survives)
	}
	if _, failed := res.Failures[candVhostNet]; !failed {
		if _, err := os.Stat("/dev/vhost-net"); err != nil {
			t.Error("vhost-net probed without /dev/vhost-net")
		}
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), prefix) {
		t.Fatalf("namespaces left behind:\n%s", out)
	}
}
