package dpdk_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/podwire/podwire/dpdk"
)

// testPool is shared by the tests; each test checks that it leaves no mbuf
// in use.
var testPool *dpdk.Mempool

// inCI reports whether a missing prerequisite must fail instead of skip.
func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// eal options for the test process: two lcores (main 0, worker 1), real
// hugepages in memory (vhost-user needs shared memory), the vdevs that stay
// for the whole run. Hot-plugged devices come and go in the tests.
func testEALOptions() dpdk.Options {
	return dpdk.Options{
		Lcores:             []int{0, 1},
		MainLcore:          0,
		HasMainLcore:       true,
		FilePrefix:         fmt.Sprintf("pwtest%d", os.Getpid()),
		InMemory:           true,
		SingleFileSegments: true,
		NoPCI:              true,
		NoTelemetry:        true,
		LogLevel:           "*:warning",
		Vdevs:              []string{"net_null0", "net_null1", "net_ring0"},
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper()
		return
	}
	if err := dpdk.InitOptions(testEALOptions()); err != nil {
		msg := fmt.Sprintf("dpdk tests need a working EAL (hugepages: run scripts/setup-node.sh): %v", err)
		if inCI() {
			fmt.Fprintln(os.Stderr, "FAIL:", msg)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		os.Exit(0)
	}
	var err error
	testPool, err = dpdk.NewMbufPool("pwtest", dpdk.MbufPoolConfig{Mbufs: 8191, Cache: 256, Socket: dpdk.SocketAny})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	code := m.Run()
	if n := testPool.InUse(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d mbufs still in use after all tests\n", n)
		code = 1
	}
	for _, p := range dpdk.Ports() {
		_ = p.Stop()
		_ = p.Close()
	}
	testPool.Free()
	if err := dpdk.Cleanup(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "FAIL: cleanup:", err)
		code = 1
	}
	os.Exit(code)
}

// checkPool registers a check that the test leaves no mbuf in use.
func checkPool(t testing.TB) {
	t.Helper()
	before := testPool.InUse()
	t.Cleanup(func() {
		if n := testPool.InUse(); n != before {
			t.Errorf("mempool in use: %d after the test, %d before", n, before)
		}
	})
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
