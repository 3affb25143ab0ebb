package forwarder

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// snapshot is an immutable forwarding configuration. Workers load the
// current one once per loop; the control plane builds a new one for every
// change and swaps the pointer.
// dropMask has one bit per port.
var _ [64 - dpdk.MaxPorts]struct{}

type snapshot struct {
	gen     uint64
	ports   [dpdk.MaxPorts]*portView // by ethdev id; nil: not forwarding
	nets    []*netView
	vlanNet [4096]*netView // trunk ingress: VLAN id (0 untagged) -> network
	rx      [][]rxQueue    // per worker
}

type portView struct {
	id uint16
	// rxIfUp: read the link state in the rx call and skip a down port
	// (memif: its rx path must not run once the peer has gone).
	rxIfUp bool
	net    *netView // access ports
	trunk  bool
	up     bool
	txq    uint16
	locks  []txLock // non-nil when workers share tx queues
}

type netView struct {
	name    string
	vlan    uint16
	macs    *macTable
	members []uint16 // flood list: access ports, then trunks
}

type rxQueue struct{ port, queue uint16 }

// txBuf collects one worker's packets for one output port during a burst.
type txBuf struct {
	pkts  []*dpdk.Mbuf // C memory, txCap long
	n     int
	bytes uint64 // of pkts[:n]
}

// worker is one poll loop on one lcore. Everything in it is written by its
// own lcore only, except stop (control plane) and the atomics others read.
type worker struct {
	id    int
	lcore uint
	eng   *Engine

	stop    atomic.Bool
	running atomic.Bool
	seen    atomic.Uint64 // generation of the snapshot in use
	_       [64]byte

	loops, busyLoops, pkts atomic.Uint64

	rx      *dpdk.MbufArray
	drop    *dpdk.MbufArray // packets to free at the end of a burst
	ndrop   int
	txMem   *dpdk.MbufArray
	tx      [dpdk.MaxPorts]txBuf
	dirty   [dpdk.MaxPorts]uint16
	ndirty  int
	isDirty [dpdk.MaxPorts]bool
	copies  *dpdk.MbufArray // spare mbufs for tagged copies
	ncopies int

	counters [dpdk.MaxPorts]portCounters
	// per-burst accumulators, stored into counters once per burst
	accDrops [dpdk.MaxPorts][numDropReasons]uint64
	dropMask uint64 // ports with drops in accDrops
	accFlood [dpdk.MaxPorts]uint64
}

func newWorker(e *Engine, id int, lcore uint) (*worker, error) {
	w := &worker{id: id, lcore: lcore, eng: e}
	w.rx = dpdk.NewMbufArray(MaxBurst)
	w.drop = dpdk.NewMbufArray(2 * MaxBurst)
	w.copies = dpdk.NewMbufArray(MaxBurst)
	w.txMem = dpdk.NewMbufArray(int(dpdk.MaxPorts) * txCap)
	for i := range w.tx {
		w.tx[i].pkts = w.txMem.Pkts[i*txCap : (i+1)*txCap]
	}
	return w, nil
}

func (w *worker) free() {
	if w.ncopies > 0 {
		dpdk.FreeBulk(w.copies.Pkts[:w.ncopies])
		w.ncopies = 0
	}
	w.rx.Free()
	w.drop.Free()
	w.copies.Free()
	w.txMem.Free()
}

// resetPort clears a removed port's counters. Only after a quiescent point.
func (w *worker) resetPort(id uint16) {
	c := &w.counters[id]
	for _, a := range []*atomic.Uint64{&c.rxPkts, &c.rxBytes, &c.txPkts, &c.txBytes, &c.flooded} {
		a.Store(0)
	}
	for r := range c.drops {
		c.drops[r].Store(0)
	}
}

// run is the poll loop; it runs on the worker's lcore until stop.
func (w *worker) run() error {
	e := w.eng
	idle := 0
	for !w.stop.Load() {
		s := e.snap.Load()
		if w.seen.Load() != s.gen {
			w.seen.Store(s.gen)
		}
		now := e.clock.Load()
		total := 0
		for _, q := range s.rx[w.id] {
			total += w.poll(s, q, now)
		}
		w.loops.Store(w.loops.Load() + 1)
		if total > 0 {
			w.busyLoops.Store(w.busyLoops.Load() + 1)
			w.pkts.Store(w.pkts.Load() + uint64(total))
			idle = 0
			continue
		}
		if e.cfg.IdleSleep > 0 {
			if idle++; idle >= IdleLoops {
				time.Sleep(e.cfg.IdleSleep)
			}
		} else if len(s.rx[w.id]) == 0 {
			runtime.Gosched()
		}
	}
	// Hand back what a stopped loop still holds.
	if w.ncopies > 0 {
		dpdk.FreeBulk(w.copies.Pkts[:w.ncopies])
		w.ncopies = 0
	}
	w.seen.Store(^uint64(0))
	return nil
}

// poll handles one burst from one rx queue: classify, learn, switch, send.
func (w *worker) poll(s *snapshot, q rxQueue, now uint32) int {
	in := s.ports[q.port]
	rx := w.rx.Pkts[:w.eng.cfg.Burst]
	var n int
	if in.rxIfUp {
		n = dpdk.Port(q.port).RxBurstIfUp(q.queue, rx)
	} else {
		n = dpdk.Port(q.port).RxBurst(q.queue, rx)
	}
	if n == 0 {
		return 0
	}
	var rxBytes uint64
	drops := q.port
	// Consecutive frames of a burst mostly share their MACs: learn a
	// source and look up a destination once per run of equal ones.
	var lastSrc, lastDst uint64
	var lastSrcNet, lastDstNet *netView
	lastOut := -1
	for _, m := range rx[:n] {
		rxBytes += uint64(m.PktLen())
		d := m.Data()
		if len(d) < 14 {
			w.dropPkt(m, drops, DropBadHeader)
			continue
		}
		nv := in.net
		if in.trunk {
			vid := uint16(0)
			if binary.BigEndian.Uint16(d[12:14]) == 0x8100 {
				if len(d) < 18 {
					w.dropPkt(m, drops, DropBadHeader)
					continue
				}
				vid = binary.BigEndian.Uint16(d[14:16]) & 0xfff
				// Strip the tag: move the MACs 4 bytes up, drop the head.
				copy(d[4:16], d[0:12])
				m.Adj(4)
				d = m.Data()
			}
			nv = s.vlanNet[vid]
		}
		if nv == nil {
			w.dropPkt(m, drops, DropNoNetwork)
			continue
		}
		dst := uint64(binary.BigEndian.Uint32(d[0:4]))<<16 | uint64(binary.BigEndian.Uint16(d[4:6]))
		src := uint64(binary.BigEndian.Uint32(d[6:10]))<<16 | uint64(binary.BigEndian.Uint16(d[10:12]))
		if src&(1<<40) != 0 || src == 0 {
			w.dropPkt(m, drops, DropBadSrcMAC)
			continue
		}
		if src != lastSrc || nv != lastSrcNet {
			nv.macs.learn(src, q.port, now)
			lastSrc, lastSrcNet = src, nv
		}
		if dst&(1<<40) == 0 {
			out := lastOut
			if dst != lastDst || nv != lastDstNet {
				out = nv.macs.lookup(dst)
				lastDst, lastDstNet, lastOut = dst, nv, out
			}
			if out >= 0 {
				op := s.ports[out]
				if op != nil && (op.net == nv || op.trunk) {
					if out == int(q.port) {
						w.dropPkt(m, drops, DropSamePort)
						continue
					}
					w.send(s, op, nv, m, drops)
					continue
				}
			}
		}
		w.flood(s, in, nv, m, drops)
	}
	c := &w.counters[q.port]
	add(&c.rxPkts, uint64(n))
	add(&c.rxBytes, rxBytes)
	w.flush(s)
	return n
}

// dropPkt counts m as dropped on port id for reason r and frees it with
// the burst.
func (w *worker) dropPkt(m *dpdk.Mbuf, id uint16, r DropReason) {
	w.countDrop(id, r)
	w.freeLater(m)
}

func (w *worker) countDrop(id uint16, r DropReason) {
	w.accDrops[id][r]++
	w.dropMask |= 1 << id
}

// freeLater collects m to be freed with the burst's other drops.
func (w *worker) freeLater(m *dpdk.Mbuf) {
	if w.ndrop == len(w.drop.Pkts) {
		dpdk.FreeBulk(w.drop.Pkts)
		w.ndrop = 0
	}
	w.drop.Pkts[w.ndrop] = m
	w.ndrop++
}

// send queues m, which the worker owns alone, for op.
func (w *worker) send(s *snapshot, op *portView, nv *netView, m *dpdk.Mbuf, inDrops uint16) {
	if !op.up {
		w.dropPkt(m, op.id, DropPortDown)
		return
	}
	if op.trunk && nv.vlan != 0 {
		if !tag(m, nv.vlan) {
			w.dropPkt(m, inDrops, DropBadHeader)
			return
		}
	}
	w.enqueue(s, op.id, m)
}

// tag inserts an 802.1Q header; false if there is no headroom.
func tag(m *dpdk.Mbuf, vid uint16) bool {
	h := m.Prepend(4)
	if h == nil {
		return false
	}
	d := m.Data()
	copy(d[0:12], d[4:16])
	binary.BigEndian.PutUint16(d[12:14], 0x8100)
	binary.BigEndian.PutUint16(d[14:16], vid)
	return true
}

// flood sends m to every port of nv but the one it came in on. Untagged
// outputs share m through its reference count; tagged trunks get a copy.
func (w *worker) flood(s *snapshot, in *portView, nv *netView, m *dpdk.Mbuf, drops uint16) {
	shared := 0
	tagged := 0
	for _, id := range nv.members {
		if id == in.id {
			continue
		}
		op := s.ports[id]
		if op == nil || !op.up {
			continue
		}
		if op.trunk && nv.vlan != 0 {
			tagged++
		} else {
			shared++
		}
	}
	if shared == 0 && tagged == 0 {
		w.dropPkt(m, drops, DropSamePort) // nowhere else to go
		return
	}
	if tagged > 0 {
		for _, id := range nv.members {
			op := s.ports[id]
			if id == in.id || op == nil || !op.up || !(op.trunk && nv.vlan != 0) {
				continue
			}
			c := w.copyOf(m)
			if c == nil {
				w.countDrop(id, DropNoMbuf)
				continue
			}
			if !tag(c, nv.vlan) {
				w.dropPkt(c, drops, DropBadHeader)
				continue
			}
			w.accFlood[id]++
			w.enqueue(s, id, c)
		}
	}
	if shared == 0 {
		w.freeLater(m) // copies went out; the original is done
		return
	}
	m.SetRefCnt(uint16(shared))
	for _, id := range nv.members {
		op := s.ports[id]
		if id == in.id || op == nil || !op.up || (op.trunk && nv.vlan != 0) {
			continue
		}
		w.accFlood[id]++
		w.enqueue(s, id, m)
	}
}

// copyOf copies a single-segment packet into a spare mbuf, or nil.
func (w *worker) copyOf(m *dpdk.Mbuf) *dpdk.Mbuf {
	if w.ncopies == 0 {
		if w.eng.cfg.Pool.AllocBulk(w.copies.Pkts[:MaxBurst]) != nil {
			return nil
		}
		w.ncopies = MaxBurst
	}
	w.ncopies--
	c := w.copies.Pkts[w.ncopies]
	b := c.SetLen(m.DataLen())
	if b == nil || m.IsChained() {
		w.copies.Pkts[w.ncopies] = c
		w.ncopies++
		return nil
	}
	copy(b, m.Data())
	return c
}

// enqueue adds m to the output buffer of port id, flushing a full buffer.
func (w *worker) enqueue(s *snapshot, id uint16, m *dpdk.Mbuf) {
	tb := &w.tx[id]
	if tb.n == txCap {
		w.flushPort(s, id)
	}
	tb.pkts[tb.n] = m
	tb.n++
	tb.bytes += uint64(m.PktLen())
	if !w.isDirty[id] {
		w.isDirty[id] = true
		w.dirty[w.ndirty] = id
		w.ndirty++
	}
}

// flush sends every output buffer, frees the burst's drops and stores the
// burst's counters.
func (w *worker) flush(s *snapshot) {
	for _, id := range w.dirty[:w.ndirty] {
		w.flushPort(s, id)
		w.isDirty[id] = false
		c := &w.counters[id]
		add(&c.flooded, w.accFlood[id])
		w.accFlood[id] = 0
	}
	w.ndirty = 0
	if w.ndrop > 0 {
		dpdk.FreeBulk(w.drop.Pkts[:w.ndrop])
		w.ndrop = 0
	}
	for mask := w.dropMask; mask != 0; mask &= mask - 1 {
		id := bits.TrailingZeros64(mask)
		acc := &w.accDrops[id]
		for r, v := range acc {
			if v != 0 {
				add(&w.counters[id].drops[r], v)
				acc[r] = 0
			}
		}
	}
	w.dropMask = 0
}

func (w *worker) flushPort(s *snapshot, id uint16) {
	tb := &w.tx[id]
	if tb.n == 0 {
		return
	}
	op := s.ports[id]
	q := uint16(w.id) % op.txq
	pkts := tb.pkts[:tb.n]
	bytes := tb.bytes
	var sent int
	if op.locks != nil {
		l := &op.locks[q]
		for !l.held.CompareAndSwap(false, true) {
		}
		sent = dpdk.Port(id).TxBurst(q, pkts)
		l.held.Store(false)
	} else {
		sent = dpdk.Port(id).TxBurst(q, pkts)
	}
	c := &w.counters[id]
	if sent < tb.n {
		for _, m := range pkts[sent:] {
			bytes -= uint64(m.PktLen())
		}
		add(&c.drops[DropTxFull], uint64(tb.n-sent))
		dpdk.FreeBulk(pkts[sent:])
	}
	add(&c.txPkts, uint64(sent))
	add(&c.txBytes, bytes)
	tb.n, tb.bytes = 0, 0
}
