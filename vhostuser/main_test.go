package vhostuser_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/podwire/podwire/dpdk"
)

// testPool is the forwarder side's mbuf pool; each test that moves frames
// checks that it leaves no mbuf in use.
var testPool *dpdk.Mempool

// inCI reports whether a missing prerequisite must fail instead of skip.
func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// The test process is podwired's stand-in: a real EAL with lcores 0,1 (main
// 0), hugepage memory in memfds (vhost-user shares it with the pod), no PCI.
// Devices are hot-plugged by the tests through the package under test.
func testEALOptions() dpdk.Options {
	return dpdk.Options{
		Lcores:             []int{0, 1},
		MainLcore:          0,
		HasMainLcore:       true,
		FilePrefix:         fmt.Sprintf("pwvu%d", os.Getpid()),
		InMemory:           true,
		SingleFileSegments: true,
		NoPCI:              true,
		NoTelemetry:        true,
		LogLevel:           "*:warning",
	}
}

func TestMain(m *testing.M) {
	if err := dpdk.InitOptions(testEALOptions()); err != nil {
		msg := fmt.Sprintf("vhostuser tests need a working EAL (hugepages: run scripts/setup-node.sh): %v", err)
		if inCI() {
			fmt.Fprintln(os.Stderr, "FAIL:", msg)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		os.Exit(0)
	}
	var err error
	testPool, err = dpdk.NewMbufPool("pwvutest", dpdk.MbufPoolConfig{Mbufs: 4095, Cache: 128, Socket: dpdk.SocketAny})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	code := m.Run()
	if n := testPool.InUse(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d mbufs still in use after all tests\n", n)
		code = 1
	}
	if ps := dpdk.Ports(); len(ps) != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: ports left after all tests: %v\n", ps)
		code = 1
	}
	for _, p := range dpdk.Ports() {
		_ = p.Remove()
	}
	testPool.Free()
	if err := dpdk.Cleanup(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "FAIL: cleanup:", err)
		code = 1
	}
	os.Exit(code)
}

// needPrereq skips (or, under CI=true, fails) when a prerequisite is missing.
func needPrereq(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if inCI() {
		t.Fatalf("missing prerequisite under CI: %s", what)
	}
	t.Skip("missing prerequisite: " + what)
}
