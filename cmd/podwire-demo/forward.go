package main

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/podwire/podwire/dpdk"
)

// burstSize is the most packets one RxBurst returns.
const burstSize = 32

// counters are a forwarder's totals since it started.
type counters struct {
	RxPkts, RxBytes uint64 // received from the port (pod -> podwire)
	TxPkts, TxBytes uint64 // taken by TxBurst (podwire -> pod)
	TxDrops         uint64 // refused by TxBurst, freed
}

// forwarder is the demo's data path: one port, rx and tx queue 0; every
// packet's Ethernet MACs are swapped in place and the packet goes back out of
// the port it came in on. One lcore runs it (run); any goroutine may read its
// counters (snapshot) and stop it (Stop).
type forwarder struct {
	port dpdk.Port
	// pkts is the burst array, in C memory (owned by the caller, who frees
	// it after the loop has stopped).
	pkts []*dpdk.Mbuf

	stop atomic.Bool
	_    [64]byte // keep the flag, written by another thread, off the counters' line

	// local is written and read by the lcore only.
	local counters
	// pub is local as of the last burst: written by the lcore only (one
	// writer, atomic stores), read by anyone.
	pub struct {
		rxPkts, rxBytes, txPkts, txBytes, txDrops atomic.Uint64
	}
}

func newForwarder(port dpdk.Port, pkts []*dpdk.Mbuf) *forwarder {
	return &forwarder{port: port, pkts: pkts}
}

// run polls until Stop. It is the function an lcore runs (dpdk.Launch); it
// never allocates.
func (f *forwarder) run() error {
	for !f.stop.Load() {
		f.poll()
	}
	return nil
}

// Stop asks run to return after its current burst.
func (f *forwarder) Stop() { f.stop.Store(true) }

// poll handles one burst: rx, swap MACs, tx, free and count what tx refused,
// publish the counters. It does not allocate and makes two cgo calls (three
// when tx refuses packets).
func (f *forwarder) poll() {
	pkts := f.pkts
	n := f.port.RxBurst(0, pkts)
	if n == 0 {
		return
	}
	var bytes uint64
	for _, m := range pkts[:n] {
		swapMACs(m.Data())
		bytes += uint64(m.PktLen())
	}
	sent := f.port.TxBurst(0, pkts[:n])
	c := &f.local
	c.RxPkts += uint64(n)
	c.RxBytes += bytes
	if sent < n {
		var dropped uint64
		for _, m := range pkts[sent:n] {
			dropped += uint64(m.PktLen())
		}
		dpdk.FreeBulk(pkts[sent:n])
		c.TxDrops += uint64(n - sent)
		bytes -= dropped
	}
	c.TxPkts += uint64(sent)
	c.TxBytes += bytes

	p := &f.pub
	p.rxPkts.Store(c.RxPkts)
	p.rxBytes.Store(c.RxBytes)
	p.txPkts.Store(c.TxPkts)
	p.txBytes.Store(c.TxBytes)
	p.txDrops.Store(c.TxDrops)
}

// snapshot returns the counters as of the last burst. Each field is exact;
// fields may be from consecutive bursts.
func (f *forwarder) snapshot() counters {
	p := &f.pub
	return counters{
		RxPkts: p.rxPkts.Load(), RxBytes: p.rxBytes.Load(),
		TxPkts: p.txPkts.Load(), TxBytes: p.txBytes.Load(),
		TxDrops: p.txDrops.Load(),
	}
}

// swapMACs swaps an Ethernet frame's destination and source MAC addresses
// in place. A frame shorter than the two addresses is left as it is.
func swapMACs(b []byte) {
	if len(b) < 12 {
		return
	}
	d0, d1 := binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6])
	s0, s1 := binary.LittleEndian.Uint32(b[6:10]), binary.LittleEndian.Uint16(b[10:12])
	binary.LittleEndian.PutUint32(b[0:4], s0)
	binary.LittleEndian.PutUint16(b[4:6], s1)
	binary.LittleEndian.PutUint32(b[6:10], d0)
	binary.LittleEndian.PutUint16(b[10:12], d1)
}
