package forwarder

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/podwire/podwire/dpdk"
)

// FuzzSwitch feeds arbitrary frames through the worker's switching code
// (switchBurst, the Go work of the poll loop, on mbufs in EAL memory) on a
// test snapshot: ports 0 and 1 are access ports of network n0 (VLAN 0),
// port 2 of network n10 (VLAN 10), port 3 is the trunk, and port 1 has a
// static MAC. A frame arrives on the port the input picks, `copies` times
// in one burst (the run cache), as one mbuf or split in two segments at
// `split` (a chained mbuf). What the worker queued for output is checked
// and freed by hand instead of sent.
//
// Properties: no panic; every input is either dropped once (counted) or
// forwarded, and the forwarded ones all reach the same number of outputs;
// outputs go only to other ports of the frame's network, carry the input's
// bytes (the trunk's 802.1Q tag stripped on the way in, the network's tag
// added on the way out to the trunk), and every segment of a shared mbuf
// has a reference count equal to its number of outputs; rx counters count
// every input; the mempool is back where it was afterwards.
func FuzzSwitch(f *testing.F) {
	p0 := []byte{0x02, 0, 0, 0, 0, 0x10}
	p1 := staticFuzzMAC[:]
	bc := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	hdr := func(dst, src []byte, et ...byte) []byte {
		return append(append(append([]byte{}, dst...), src...), et...)
	}
	pad := make([]byte, 46)
	f.Add(append(hdr(p1, p0, 0x08, 0x00), pad...), uint16(0), uint8(0), uint8(1))
	f.Add(append(hdr(bc, p0, 0x08, 0x06), pad...), uint16(20), uint8(0), uint8(3))
	f.Add(append(hdr(bc, p0, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00), pad...), uint16(0), uint8(3), uint8(2))
	f.Add(append(hdr(p0, p1, 0x08, 0x00), pad...), uint16(0), uint8(0), uint8(1)) // spoofed static MAC
	f.Add(hdr(bc, p0, 0x81, 0x00, 0x00), uint16(0), uint8(3), uint8(1))           // truncated tag on the trunk
	f.Add(append(hdr(bc, p0, 0x08, 0x00), make([]byte, 3000)...), uint16(14), uint8(2), uint8(2))
	f.Add([]byte{1, 2, 3}, uint16(1), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, frame []byte, split uint16, ingress, copies uint8) {
		fuzzSwitch(t, frame, int(split), int(ingress%4), int(copies%4)+1)
	})
}

var staticFuzzMAC = [6]byte{0x02, 0, 0, 0, 0, 0x11}

var fuzzWorker *worker

func fuzzSwitch(t *testing.T, frame []byte, split, ingress, n int) {
	const room = 2048 // the test pool's data room after the headroom
	if len(frame) > 2*room {
		frame = frame[:2*room]
	}
	if split <= 0 || split >= len(frame) {
		split = min(len(frame), room)
	}
	if split > room || len(frame)-split > room {
		split = len(frame) - room
	}
	if fuzzWorker == nil {
		w, err := newWorker(&Engine{cfg: Config{Burst: MaxBurst, Pool: testPool}}, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		fuzzWorker = w
	}
	w := fuzzWorker
	// A fresh snapshot and MAC tables: every input starts from the same state.
	n0 := &netView{name: "n0", macs: newMACTable(64), members: []uint16{0, 1, 3}}
	n10 := &netView{name: "n10", vlan: 10, macs: newMACTable(64), members: []uint16{2, 3}}
	s := &snapshot{nets: []*netView{n0, n10}}
	s.vlanNet[0], s.vlanNet[10] = n0, n10
	for id, nv := range []*netView{n0, n0, n10, nil} {
		s.ports[id] = &portView{id: uint16(id), net: nv, trunk: nv == nil, up: true, txq: 1}
	}
	n0.macs.setStatic(macToU64(staticFuzzMAC[:]), 1)

	idle := testPool.InUse() - w.ncopies
	in := dpdk.NewMbufArray(n)
	defer in.Free()
	for i := range in.Pkts {
		in.Pkts[i] = buildFuzzMbuf(t, frame, split)
	}
	inputs := map[*dpdk.Mbuf]bool{}
	for _, m := range in.Pkts {
		inputs[m] = true
	}
	rx0 := w.counters[ingress].rxPkts.Load()

	w.switchBurst(s, s.ports[ingress], in.Pkts, 1)

	// What was queued: per port, and how often each mbuf is referenced.
	refs := map[*dpdk.Mbuf]int{}
	outputs := 0
	var out []*dpdk.Mbuf
	for id := range w.tx {
		tb := &w.tx[id]
		for _, m := range tb.pkts[:tb.n] {
			refs[m]++
			outputs++
			out = append(out, m)
			checkFuzzOutput(t, frame, s, ingress, id, m)
		}
	}
	for m, r := range refs {
		for seg := m; seg != nil; seg = seg.Next() {
			if seg.RefCnt() != r {
				t.Errorf("an mbuf queued %d times has a segment with refcnt %d", r, seg.RefCnt())
			}
		}
	}
	drops := 0
	for id := range w.accDrops {
		for r, v := range w.accDrops[id] {
			drops += int(v)
			w.accDrops[id][r] = 0
		}
	}
	w.dropMask = 0
	forwarded := n - drops
	switch {
	case drops > n:
		t.Errorf("%d inputs, %d drops counted", n, drops)
	case forwarded == 0 && outputs != 0:
		t.Errorf("all %d inputs dropped, yet %d outputs", n, outputs)
	case forwarded > 0 && (outputs < forwarded || outputs%forwarded != 0):
		t.Errorf("%d inputs forwarded, %d outputs: not the same fan-out for each", forwarded, outputs)
	}
	if rx := w.counters[ingress].rxPkts.Load() - rx0; rx != uint64(n) {
		t.Errorf("rx counted %d of %d", rx, n)
	}
	// "Send" the outputs (a tx queue frees each once), then the drops.
	for id := range w.tx {
		w.tx[id].n, w.tx[id].bytes = 0, 0
	}
	w.txMask = 0
	for id := range w.accFlood {
		w.accFlood[id] = 0
	}
	for _, m := range out {
		m.Free()
	}
	for _, m := range w.drop.Pkts[:w.ndrop] {
		if !inputs[m] {
			t.Errorf("the drop list holds an mbuf that is not an input")
		}
	}
	dpdk.FreeBulk(w.drop.Pkts[:w.ndrop])
	w.ndrop = 0
	if got := testPool.InUse() - w.ncopies; got != idle {
		t.Errorf("mempool: %d in use (spares aside) after the burst, %d before", got, idle)
	}
	if w.ncopies > 0 { // no spares held between inputs: TestMain checks for leaks
		dpdk.FreeBulk(w.copies.Pkts[:w.ncopies])
		w.ncopies = 0
		w.spares.Store(0)
	}
}

// buildFuzzMbuf puts frame in one mbuf, or two chained at split.
func buildFuzzMbuf(t *testing.T, frame []byte, split int) *dpdk.Mbuf {
	m := testPool.Alloc()
	if m == nil {
		t.Fatal("mempool empty")
	}
	copy(m.Append(split), frame[:split])
	if split < len(frame) {
		tail := testPool.Alloc()
		if tail == nil {
			m.Free()
			t.Fatal("mempool empty")
		}
		copy(tail.Append(len(frame)-split), frame[split:])
		if err := m.Chain(tail); err != nil {
			tail.Free()
			m.Free()
			t.Fatal(err)
		}
	}
	return m
}

// checkFuzzOutput checks one queued mbuf: its port belongs to the frame's
// network and is not the ingress port, and its bytes are the input's with
// the trunk's tag stripped on ingress and the network's tag added for a
// tagged trunk.
func checkFuzzOutput(t *testing.T, frame []byte, s *snapshot, ingress, out int, m *dpdk.Mbuf) {
	t.Helper()
	if out == ingress {
		t.Errorf("frame sent back out of its ingress port %d", out)
	}
	want := frame
	nv := s.ports[ingress].net
	if s.ports[ingress].trunk {
		vid := uint16(0)
		if len(frame) >= 18 && binary.BigEndian.Uint16(frame[12:14]) == 0x8100 {
			vid = binary.BigEndian.Uint16(frame[14:16]) & 0xfff
			want = append(append([]byte{}, frame[:12]...), frame[16:]...)
		}
		nv = s.vlanNet[vid]
	}
	if nv == nil {
		t.Fatalf("frame from port %d forwarded to %d without a network", ingress, out)
	}
	member := false
	for _, id := range nv.members {
		member = member || int(id) == out
	}
	if !member {
		t.Errorf("frame of network %s sent to port %d, not a member", nv.name, out)
	}
	if s.ports[out].trunk && nv.vlan != 0 {
		tagged := append([]byte{}, want[:12]...)
		tagged = binary.BigEndian.AppendUint16(tagged, 0x8100)
		tagged = binary.BigEndian.AppendUint16(tagged, nv.vlan)
		want = append(tagged, want[12:]...)
	}
	total := 0
	for seg := m; seg != nil; seg = seg.Next() {
		total += seg.DataLen()
	}
	if total != m.PktLen() {
		t.Errorf("output to port %d: pkt_len %d, segments hold %d", out, m.PktLen(), total)
	}
	got := make([]byte, m.PktLen())
	m.CopyTo(got)
	if !bytes.Equal(got, want) {
		t.Errorf("output to port %d: % x, want % x", out, got[:min(len(got), 32)], want[:min(len(want), 32)])
	}
}
