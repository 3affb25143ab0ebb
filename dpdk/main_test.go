package dpdk_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

// testPool is shared by the tests; each test checks that it leaves no mbuf
// in use.
var testPool *dpdk.Mempool

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
	dpdktest.Main(m, "dpdk", testEALOptions(), "pwtest",
		dpdk.MbufPoolConfig{Mbufs: 8191, Cache: 256, Socket: dpdk.SocketAny}, false,
		func(mp *dpdk.Mempool) { testPool = mp })
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
