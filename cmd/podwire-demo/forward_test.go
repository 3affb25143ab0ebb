package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
)

func TestSwapMACs(t *testing.T) {
	frame := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b
	}
	swapped := func(n int) []byte {
		b := frame(n)
		copy(b[0:6], frame(12)[6:12])
		copy(b[6:12], frame(12)[0:6])
		return b
	}
	for _, tc := range []struct {
		name     string
		in, want []byte
	}{
		{"empty", nil, nil},
		{"shorter than two MACs", frame(11), frame(11)},
		{"two MACs exactly", frame(12), swapped(12)},
		{"64-byte frame", frame(64), swapped(64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(tc.in)
			swapMACs(b)
			if !bytes.Equal(b, tc.want) {
				t.Errorf("swapMACs(% x)\n got % x\nwant % x", tc.in, b, tc.want)
			}
		})
	}
}

// The forwarder tests run on an EAL in this test process: no hugepages, one
// net_ring port (what it sends comes back on its rx), lcores 0 and 1.
var testEAL struct {
	once sync.Once
	err  error
	pool *dpdk.Mempool
	port dpdk.Port
}

func needEAL(t testing.TB) (*dpdk.Mempool, dpdk.Port) {
	t.Helper()
	testEAL.once.Do(func() {
		err := dpdk.InitOptions(dpdk.Options{
			Lcores: []int{0, 1}, MainLcore: 0, HasMainLcore: true,
			FilePrefix: testEALPrefix(),
			NoHuge:     true, MemoryMB: 64, NoPCI: true, NoTelemetry: true, // --no-huge excludes --in-memory
			LogLevel: "*:warning", Vdevs: []string{"net_ring0"},
		})
		if err != nil {
			testEAL.err = err
			return
		}
		testEAL.pool, err = dpdk.NewMbufPool("pwdemotest", dpdk.MbufPoolConfig{Mbufs: 1023, Cache: 32, Socket: dpdk.SocketAny})
		if err != nil {
			testEAL.err = err
			return
		}
		testEAL.port = dpdk.PortsOfDevice("net_ring0")[0]
		testEAL.err = startPort(testEAL.port, testEAL.pool)
	})
	if testEAL.err != nil {
		if inCI() {
			t.Fatalf("EAL for the forwarder tests: %v", testEAL.err)
		}
		t.Skipf("EAL for the forwarder tests: %v", testEAL.err)
	}
	return testEAL.pool, testEAL.port
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dpdk.Initialized() {
		if testEAL.pool != nil {
			_ = testEAL.port.Stop()
			testEAL.pool.Free()
		}
		_ = dpdk.Cleanup()
	}
	// Without --in-memory, EAL leaves its runtime directory, also when its
	// init fails.
	_ = os.RemoveAll(filepath.Join(dpdkRunDir, testEALPrefix()))
	os.Exit(code)
}

func testEALPrefix() string { return fmt.Sprintf("pwdemotest%d", os.Getpid()) }

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = []byte{0x02, 0, 0, 0, 0, 0x0b}
)

// seed sends n 64-byte frames, dst macA and src macB, into the ring port.
func seed(t testing.TB, pool *dpdk.Mempool, port dpdk.Port, n int) {
	t.Helper()
	pkts := make([]*dpdk.Mbuf, n)
	if err := pool.AllocBulk(pkts); err != nil {
		t.Fatal(err)
	}
	for _, m := range pkts {
		b := m.Append(64)
		copy(b[0:6], macA)
		copy(b[6:12], macB)
		b[12], b[13] = 0x88, 0xb5
	}
	if sent := port.TxBurst(0, pkts); sent != n {
		dpdk.FreeBulk(pkts[sent:])
		t.Fatalf("seed: ring took %d of %d", sent, n)
	}
}

// drain receives and frees everything in the ring port, checking that
// every frame's MACs are (dst, src) unless dst is nil; it returns the count.
func drain(t testing.TB, port dpdk.Port, dst, src []byte) int {
	t.Helper()
	pkts := make([]*dpdk.Mbuf, burstSize)
	total := 0
	for {
		n := port.RxBurst(0, pkts)
		if n == 0 {
			return total
		}
		for _, m := range pkts[:n] {
			b := m.Data()
			if dst != nil && (!bytes.Equal(b[0:6], dst) || !bytes.Equal(b[6:12], src)) {
				t.Errorf("frame dst %x src %x, want dst %x src %x", b[0:6], b[6:12], dst, src)
			}
		}
		dpdk.FreeBulk(pkts[:n])
		total += n
	}
}

// TestForwarderPoll forwards bursts through a net_ring port: MACs swapped,
// counters right, no allocation per burst, no mbuf left in use.
func TestForwarderPoll(t *testing.T) {
	pool, port := needEAL(t)
	burst := dpdk.NewMbufArray(burstSize)
	defer burst.Free()
	f := newForwarder(port, burst.Pkts)

	seed(t, pool, port, burstSize)
	f.poll()
	want := counters{RxPkts: burstSize, RxBytes: burstSize * 64, TxPkts: burstSize, TxBytes: burstSize * 64}
	if got := f.snapshot(); got != want {
		t.Errorf("counters after one burst: %+v, want %+v", got, want)
	}
	if n := drain(t, port, macB, macA); n != burstSize {
		t.Errorf("%d frames came back, want %d", n, burstSize)
	}

	seed(t, pool, port, burstSize)
	if allocs := testing.AllocsPerRun(1000, f.poll); allocs != 0 {
		t.Errorf("poll allocates %.1f times per burst, want 0", allocs)
	}
	// 1 + 1000 more bursts: an odd number of swaps.
	if n := drain(t, port, macB, macA); n != burstSize {
		t.Errorf("%d frames came back, want %d", n, burstSize)
	}
	if got := f.snapshot(); got.RxPkts != 1002*burstSize || got.TxPkts != got.RxPkts || got.TxDrops != 0 {
		t.Errorf("counters after 1002 bursts: %+v", got)
	}
	if n := pool.InUse(); n != 0 {
		t.Errorf("%d mbufs in use, want 0", n)
	}
}

// TestForwarderRunOnLcore runs the loop on EAL lcore 1 and stops it.
func TestForwarderRunOnLcore(t *testing.T) {
	pool, port := needEAL(t)
	burst := dpdk.NewMbufArray(burstSize)
	defer burst.Free()
	f := newForwarder(port, burst.Pkts)

	seed(t, pool, port, 4*burstSize)
	if err := dpdk.Launch(fwdLcore, f.run); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.snapshot().RxPkts < 10000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f.Stop()
	if err := dpdk.Wait(fwdLcore); err != nil {
		t.Fatal(err)
	}
	got := f.snapshot()
	if got.RxPkts < 10000 || got.TxPkts+got.TxDrops != got.RxPkts || got.RxBytes != 64*got.RxPkts {
		t.Errorf("counters after the loop stopped: %+v", got)
	}
	if got != f.local {
		t.Errorf("published counters %+v differ from the loop's own %+v", got, f.local)
	}
	left := drain(t, port, nil, nil)
	if uint64(left)+got.TxDrops != 4*burstSize {
		t.Errorf("%d frames left in the ring plus %d dropped, want %d", left, got.TxDrops, 4*burstSize)
	}
	if n := pool.InUse(); n != 0 {
		t.Errorf("%d mbufs in use, want 0", n)
	}
}
