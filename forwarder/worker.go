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

	// rxb polls the worker's queues, rxChunk at a time; rxbGen and
	// rxbStart say which snapshot and chunk its queue list holds.
	rxb      *dpdk.RxBatch
	rxbGen   uint64
	rxbStart int
	drop     *dpdk.MbufArray // packets to free at the end of a burst
	ndrop    int
	txMem    *dpdk.MbufArray
	tx       [dpdk.MaxPorts]txBuf
	txMask   uint64 // ports whose tx buffer has packets or flood counts
	txb      *dpdk.TxBatch
	txIDs    [dpdk.MaxPorts]uint16 // port of each burst in txb
	copies   *dpdk.MbufArray       // spare mbufs for tagged copies
	ncopies  int
	spares   atomic.Int64 // ncopies, for readers on other goroutines (tests: mbufs in use when idle)

	counters [dpdk.MaxPorts]portCounters
	// per-burst accumulators, stored into counters once per burst
	accDrops [dpdk.MaxPorts][numDropReasons]uint64
	dropMask uint64 // ports with drops in accDrops
	accFlood [dpdk.MaxPorts]uint64
}

func newWorker(e *Engine, id int, lcore uint) (*worker, error) {
	w := &worker{id: id, lcore: lcore, eng: e, rxbGen: ^uint64(0)}
	var err error
	if w.rxb, err = dpdk.NewRxBatch(rxChunk, e.cfg.Burst); err != nil {
		return nil, err
	}
	if w.txb, err = dpdk.NewTxBatch(int(dpdk.MaxPorts)); err != nil {
		w.rxb.Free()
		return nil, err
	}
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
		w.spares.Store(0)
	}
	w.rxb.Free()
	w.txb.Free()
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
		// Inside the datapath section an unmap by a PMD on EAL's
		// interrupt thread (memif teardown) waits for this loop.
		dpdk.DatapathEnter(w.lcore)
		total := w.pollAll(s, e.clock.Load())
		dpdk.DatapathLeave(w.lcore)
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
		w.spares.Store(0)
	}
	w.seen.Store(^uint64(0))
	return nil
}

// rxChunk is how many rx queues one cgo call polls.
const rxChunk = 32

// pollAll polls the worker's rx queues, rxChunk per cgo call, switches
// what they received and sends it with one more cgo call per chunk. It
// returns the number of packets received.
func (w *worker) pollAll(s *snapshot, now uint32) int {
	qs := s.rx[w.id]
	total := 0
	for start := 0; start < len(qs); start += rxChunk {
		chunk := qs[start:min(start+rxChunk, len(qs))]
		b := w.rxb
		if w.rxbGen != s.gen || w.rxbStart != start || b.Len() != len(chunk) {
			b.Reset()
			for _, q := range chunk {
				b.Add(dpdk.Port(q.port), q.queue, s.ports[q.port].rxIfUp)
			}
			w.rxbGen, w.rxbStart = s.gen, start
		}
		if b.Poll() == 0 {
			continue
		}
		for i, q := range chunk {
			if pkts := b.Pkts(i); len(pkts) > 0 {
				total += len(pkts)
				w.switchBurst(s, s.ports[q.port], pkts, now)
			}
		}
		w.flush(s)
	}
	return total
}

// switchBurst classifies, learns and switches the packets received on in
// into the output buffers (or the drops); flush sends them.
func (w *worker) switchBurst(s *snapshot, in *portView, rx []*dpdk.Mbuf, now uint32) {
	var rxBytes uint64
	drops := in.id
	// Consecutive frames of a burst mostly share their MACs. A frame with
	// the same 14 bytes of MACs and EtherType as the one before on an
	// access port takes the same way (fast, when that was plain unicast to
	// an up access port); otherwise the source is learnt and the
	// destination looked up once per run of equal ones.
	var lastSrc, lastDst uint64
	var lastSrcNet, lastDstNet *netView
	spoofed := false // lastSrc is another port's static MAC
	lastOut := -1
	var runA, runB uint64
	var fast *txBuf // output of the previous frame's run, nil: none
	var fastID uint16
	for _, m := range rx {
		plen := uint64(m.PktLen())
		rxBytes += plen
		d := m.Data()
		if len(d) < 14 {
			w.dropPkt(m, drops, DropBadHeader)
			fast = nil
			continue
		}
		h := d[:14:14]
		a, b := binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[6:14])
		if fast != nil && a == runA && b == runB {
			if fast.n == txCap {
				w.flushPort(s, fastID)
			}
			fast.pkts[fast.n] = m
			fast.n++
			fast.bytes += plen
			continue
		}
		fast = nil
		nv := in.net
		et := binary.BigEndian.Uint16(h[12:14])
		if in.trunk {
			vid := uint16(0)
			if et == 0x8100 {
				if len(d) < 18 {
					w.dropPkt(m, drops, DropBadHeader)
					continue
				}
				vid = binary.BigEndian.Uint16(d[14:16]) & 0xfff
				// Strip the tag: move the MACs 4 bytes up, drop the head.
				copy(d[4:16], d[0:12])
				m.Adj(4)
				d = m.Data()
				h = d[:14:14]
			}
			nv = s.vlanNet[vid]
		} else if et == 0x8100 || et == 0x88a8 || et == 0x9100 {
			// Access ports carry untagged frames: a pod's tag would leave
			// the trunk as the outer tag of an untagged network's frame
			// and put it in the VLAN of the pod's choice upstream.
			w.dropPkt(m, drops, DropTaggedOnAccess)
			continue
		}
		if nv == nil {
			w.dropPkt(m, drops, DropNoNetwork)
			continue
		}
		dst := uint64(binary.BigEndian.Uint32(h[0:4]))<<16 | uint64(binary.BigEndian.Uint16(h[4:6]))
		src := uint64(binary.BigEndian.Uint32(h[6:10]))<<16 | uint64(binary.BigEndian.Uint16(h[10:12]))
		if src&(1<<40) != 0 || src == 0 {
			w.dropPkt(m, drops, DropBadSrcMAC)
			continue
		}
		if src != lastSrc || nv != lastSrcNet {
			spoofed = nv.macs.learn(src, in.id, now) == learnStaticOther
			lastSrc, lastSrcNet = src, nv
		}
		if spoofed {
			w.dropPkt(m, drops, DropSrcMACSpoof)
			continue
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
					if out == int(in.id) {
						w.dropPkt(m, drops, DropSamePort)
						continue
					}
					if !in.trunk && !op.trunk && op.up {
						// Plain unicast: the frames that follow with the
						// same MACs go straight to this buffer.
						fast, fastID, runA, runB = &w.tx[op.id], op.id, a, b
					}
					w.send(s, op, nv, m, drops)
					continue
				}
			}
		}
		w.flood(s, in, nv, m, drops)
	}
	c := &w.counters[in.id]
	add(&c.rxPkts, uint64(len(rx)))
	add(&c.rxBytes, rxBytes)
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
	// Every segment of a chain carries its own reference count: each
	// output's free decrements them all (rte_pktmbuf_refcnt_update).
	for seg := m; seg != nil; seg = seg.Next() {
		seg.SetRefCnt(uint16(shared))
	}
	for _, id := range nv.members {
		op := s.ports[id]
		if id == in.id || op == nil || !op.up || (op.trunk && nv.vlan != 0) {
			continue
		}
		w.accFlood[id]++
		w.enqueue(s, id, m)
	}
}

// copyOf copies m into spare mbufs, or returns nil when there are none:
// into one when it fits, else (a chained or giant packet) into a chain.
func (w *worker) copyOf(m *dpdk.Mbuf) *dpdk.Mbuf {
	c := w.spare()
	if c == nil {
		return nil
	}
	if !m.IsChained() {
		if b := c.SetLen(m.DataLen()); b != nil {
			copy(b, m.Data())
			return c
		}
	}
	c.SetLen(0)
	return w.copyChain(m, c)
}

// spare takes one of the worker's spare mbufs, refilling them; nil if
// the pool is empty.
func (w *worker) spare() *dpdk.Mbuf {
	if w.ncopies == 0 {
		if w.eng.cfg.Pool.AllocBulk(w.copies.Pkts[:MaxBurst]) != nil {
			return nil
		}
		w.ncopies = MaxBurst
	}
	w.ncopies--
	w.spares.Store(int64(w.ncopies))
	return w.copies.Pkts[w.ncopies]
}

// copyChain copies every segment of m into head, an empty spare, and as
// it fills into more spares chained to it (each once full: Append works on
// an unchained mbuf only, and Chain adds the tail's length to the head's).
// Off the fast path: chained and giant frames only.
func (w *worker) copyChain(m, head *dpdk.Mbuf) *dpdk.Mbuf {
	cur := head
	for seg := m; seg != nil; seg = seg.Next() {
		for d := seg.Data(); len(d) > 0; {
			if cur.Tailroom() == 0 {
				next := w.spare()
				if next == nil || (cur != head && head.Chain(cur) != nil) {
					if cur != head {
						cur.Free()
					}
					if next != nil {
						next.Free()
					}
					head.Free()
					return nil
				}
				next.SetLen(0)
				cur = next
			}
			n := copy(cur.Append(min(len(d), cur.Tailroom())), d)
			d = d[n:]
		}
	}
	if cur != head && head.Chain(cur) != nil {
		cur.Free()
		head.Free()
		return nil
	}
	return head
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
	w.txMask |= 1 << id
}

// flush sends every output buffer (one cgo call for all ports whose tx
// queue is the worker's own), frees the burst's drops and stores the
// burst's counters.
func (w *worker) flush(s *snapshot) {
	b := w.txb
	b.Reset()
	for mask := w.txMask; mask != 0; mask &= mask - 1 {
		id := uint16(bits.TrailingZeros64(mask))
		if f := w.accFlood[id]; f != 0 {
			add(&w.counters[id].flooded, f)
			w.accFlood[id] = 0
		}
		tb := &w.tx[id]
		if tb.n == 0 {
			continue
		}
		op := s.ports[id]
		if op.locks != nil {
			w.flushPort(s, id) // a shared queue: under its lock, alone
			continue
		}
		w.txIDs[b.Add(dpdk.Port(id), uint16(w.id)%op.txq, tb.pkts[:tb.n])] = id
	}
	w.txMask = 0
	b.Send()
	for i := range b.Len() {
		w.sent(w.txIDs[i], b.Sent(i))
	}
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

// flushPort sends port id's output buffer now: when it is full, or when
// the port's tx queue is shared under a lock.
func (w *worker) flushPort(s *snapshot, id uint16) {
	tb := &w.tx[id]
	if tb.n == 0 {
		return
	}
	op := s.ports[id]
	q := uint16(w.id) % op.txq
	pkts := tb.pkts[:tb.n]
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
	w.sent(id, sent)
}

// sent counts port id's output buffer, of which the port took the first
// n packets, frees the rest as tx drops and empties the buffer.
func (w *worker) sent(id uint16, n int) {
	tb := &w.tx[id]
	pkts := tb.pkts[:tb.n]
	bytes := tb.bytes
	c := &w.counters[id]
	if n < len(pkts) {
		for _, m := range pkts[n:] {
			bytes -= uint64(m.PktLen())
		}
		add(&c.drops[DropTxFull], uint64(len(pkts)-n))
		dpdk.FreeBulk(pkts[n:])
	}
	add(&c.txPkts, uint64(n))
	add(&c.txBytes, bytes)
	tb.n, tb.bytes = 0, 0
}
