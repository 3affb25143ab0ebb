package vhostuser_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

// testPool is the forwarder side's mbuf pool; each test that moves frames
// checks that it leaves no mbuf in use.
var testPool *dpdk.Mempool

// inCI reports whether a missing prerequisite must fail instead of skip.

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
	dpdktest.Main(m, "vhostuser", testEALOptions(), "pwvutest",
		dpdk.MbufPoolConfig{Mbufs: 4095, Cache: 128, Socket: dpdk.SocketAny}, true,
		func(mp *dpdk.Mempool) { testPool = mp })
}
