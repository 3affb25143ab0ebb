package dpdk_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

// helperEnv makes the test binary act as a child process (see runHelper).
const helperEnv = "PODWIRE_DPDK_TEST_HELPER"

// runHelper is the child side of tests that need a fresh process: it runs
// rte_eal_init with the arguments in os.Args after "--" and reports.
func runHelper() {
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	var err error
	if os.Getenv(helperEnv) == "options" {
		err = dpdk.InitOptions(dpdk.Options{NoPCI: true, InMemory: true, NoTelemetry: true, Lcores: []int{0}, Vdevs: args})
	} else {
		err = dpdk.Init(args)
	}
	if err == nil {
		fmt.Println("INIT-OK")
		_ = dpdk.Cleanup()
		os.Exit(0)
	}
	fmt.Printf("INIT-ERR %v\n", err)
	os.Exit(0)
}

var devSeq atomic.Int32

// uniqueName returns a vdev name with the driver prefix and a fresh number.
func uniqueName(driver string) string {
	return fmt.Sprintf("%s%d", driver, 10+devSeq.Add(1))
}

// shortDir makes a temporary directory with a short path (sun_path is 108
// bytes), removed at cleanup.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startPort configures port p with one rx and one tx queue on testPool and
// starts it; cleanup stops it (the port stays probed).
func startPort(t testing.TB, p dpdk.Port) {
	t.Helper()
	if err := p.Configure(1, 1, dpdk.PortConf{}); err != nil {
		t.Fatal(err)
	}
	if err := p.RxQueueSetup(0, 512, dpdk.SocketAny, testPool); err != nil {
		t.Fatal(err)
	}
	if err := p.TxQueueSetup(0, 512, dpdk.SocketAny); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.Valid() {
			_ = p.Stop()
		}
	})
}

// probe hot-plugs a device and registers its removal.
func probe(t testing.TB, devargs string) dpdk.Port {
	t.Helper()
	ports, err := dpdk.Probe(devargs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 {
		t.Fatalf("probe %s: %d ports, want 1", devargs, len(ports))
	}
	p := ports[0]
	t.Cleanup(func() {
		if p.Valid() {
			if err := p.Remove(); err != nil {
				t.Errorf("remove: %v", err)
			}
		}
	})
	return p
}

// receiveFrames collects want test frames from queue 0 of p or fails the
// test; it returns their sequence numbers.
func receiveFrames(t testing.TB, p dpdk.Port, want int, timeout time.Duration) []uint32 {
	t.Helper()
	seqs := dpdktest.Collect(p, want, timeout)
	if len(seqs) < want {
		t.Fatalf("port %d: received %d of %d test frames in %v", p, len(seqs), want, timeout)
	}
	return seqs
}

// waitLinkUp waits until every port reports link up.
func waitLinkUp(t testing.TB, timeout time.Duration, ports ...dpdk.Port) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, p := range ports {
		for {
			l, err := p.Link()
			if err != nil {
				t.Fatal(err)
			}
			if l.Up {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("port %d: link still down after %v", p, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func mustContain(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
