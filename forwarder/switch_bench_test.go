package forwarder

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"testing"

	"github.com/podwire/podwire/dpdk"
)

// BenchmarkSwitchBurst measures the worker's per-packet Go work alone: one
// burst of 32 frames through switchBurst (classify, learn, look up,
// enqueue), with no rx or tx call. The frames stay in the output buffers,
// which the loop empties by hand, so the same mbufs serve every round.
// "1flow" is a pod's io loop (one source and destination MAC for the
// whole burst); "32macs" gives every frame its own pair, so that the run
// cache never hits.
func BenchmarkSwitchBurst(b *testing.B) {
	for _, macs := range []int{1, 32} {
		b.Run(fmt.Sprintf("%dmacs", macs), func(b *testing.B) { benchSwitch(b, macs) })
	}
}

func benchSwitch(b *testing.B, macs int) {
	const burst = 32
	nv := &netView{name: "n", macs: newMACTable(1024), members: []uint16{0, 1}}
	s := &snapshot{}
	for id := uint16(0); id < 2; id++ {
		s.ports[id] = &portView{id: id, net: nv, up: true, txq: 1}
	}
	w, err := newWorker(&Engine{cfg: Config{Burst: burst, Pool: testPool}}, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer w.free()
	pkts := dpdk.NewMbufArray(burst)
	defer pkts.Free()
	if err := testPool.AllocBulk(pkts.Pkts); err != nil {
		b.Fatal(err)
	}
	defer dpdk.FreeBulk(pkts.Pkts)
	mac := func(port, i int) uint64 { return 0x02_00_00_00_00_00 | uint64(port)<<16 | uint64(i%macs) }
	for i, m := range pkts.Pkts {
		d := m.Append(64)
		src, dst := mac(0, i), mac(1, i)
		binary.BigEndian.PutUint16(d[0:2], uint16(dst>>32))
		binary.BigEndian.PutUint32(d[2:6], uint32(dst))
		binary.BigEndian.PutUint16(d[6:8], uint16(src>>32))
		binary.BigEndian.PutUint32(d[8:12], uint32(src))
		binary.BigEndian.PutUint16(d[12:14], 0x0800)
		nv.macs.learn(dst, 1, 1)
	}
	in := s.ports[0]
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.switchBurst(s, in, pkts.Pkts, 1)
		w.discardTx()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/pkt")
	if got := w.counters[0].rxPkts.Load(); got != uint64(b.N*burst) {
		b.Fatalf("rx counted %d packets, want %d", got, b.N*burst)
	}
	if w.dropMask != 0 {
		b.Fatalf("drops: %v", w.accDrops[0])
	}
}

// discardTx empties the output buffers without sending: the packets in
// them still belong to the benchmark.
func (w *worker) discardTx() {
	for mask := w.txMask; mask != 0; mask &= mask - 1 {
		id := bits.TrailingZeros64(mask)
		w.tx[id].n, w.tx[id].bytes = 0, 0
	}
	w.txMask = 0
}
