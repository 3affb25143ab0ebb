package forwarder

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/podwire/podwire/dpdk"
)

// Hostile frames through the real engine: vhost-user ports with
// virtio-user peers in this process, the engine's worker on lcore 1. Every
// class of frame must be forwarded byte for byte to the right ports only,
// or dropped and counted under its reason on the ingress port, and the
// mempool must return to its idle count afterwards.

// hostileLab is one engine with two networks and a trunk:
// acc (VLAN 0): pods a and b; v10 (VLAN 10): pod c; up: the trunk.
type hostileLab struct {
	e       *Engine
	a, b, c *pod
	up      *pod
	all     []*pod
	idle    int
	remote  net.HardwareAddr
}

// hostileTxPool supplies what the test pods send. The virtio-user tx
// rings keep sent mbufs until they reclaim their descriptors, so the
// engine's pool (testPool) counts only the engine's own mbufs and the
// peers' rx rings: a leak in the forwarder shows there exactly.
var hostileTxPool *dpdk.Mempool

func newHostileLab(t *testing.T) *hostileLab {
	t.Helper()
	if hostileTxPool == nil {
		mp, err := dpdk.NewMbufPool("pwhostiletx", dpdk.MbufPoolConfig{Mbufs: 4095, Socket: dpdk.SocketAny})
		if err != nil {
			t.Fatal(err)
		}
		hostileTxPool = mp // kept for the test binary's life: rings may hold its mbufs
	}
	e := newEngine(t)
	ctx := context.Background()
	for _, n := range []NetworkSpec{{Name: "acc"}, {Name: "v10", VLAN: 10}} {
		if err := e.AddNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	l := &hostileLab{e: e, remote: net.HardwareAddr{0x02, 0xee, 0, 0, 0, 1}}
	l.up = attach(t, e, "up", "", false)
	l.a = attach(t, e, "a", "acc", true)
	l.b = attach(t, e, "b", "acc", true)
	l.c = attach(t, e, "c", "v10", true)
	l.all = []*pod{l.a, l.b, l.c, l.up}
	// The virtio-user rx rings hold their descriptors' mbufs from the
	// start; that is the idle count.
	l.idle = testPool.InUse()
	return l
}

// case_ is one hostile input: frames (or prepared mbufs) sent from one pod,
// what every pod must receive, byte for byte and in order, and which
// drops the ingress port must count.
type hostileCase struct {
	name   string
	from   *pod
	frames [][]byte
	segs   int // > 1: send each frame as a chain of this many mbufs
	want   map[*pod][][]byte
	drops  map[string]uint64 // on the ingress port
}

func (l *hostileLab) run(t *testing.T, hc hostileCase) {
	t.Helper()
	before, _ := l.e.Port(hc.from.name)
	if hc.segs > 1 {
		hc.from.sendChained(t, hc.segs, hc.frames...)
	} else {
		hc.from.sendRaw(t, hc.frames...)
	}
	for _, p := range l.all {
		want := hc.want[p]
		var got [][]byte
		if len(want) > 0 {
			got = p.recvRaw(t, len(want), time.Second)
			got = append(got, p.recvRaw(t, 0, 20*time.Millisecond)...) // duplicates
		} else {
			got = p.recvRaw(t, 0, 50*time.Millisecond)
		}
		if len(got) != len(want) {
			t.Errorf("%s: pod %s received %d frames, want %d", hc.name, p.name, len(got), len(want))
			for _, g := range got {
				t.Logf("  got %d bytes: % x", len(g), g[:min(len(g), 40)])
			}
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: pod %s frame %d: got %d bytes % x..., want %d bytes % x...", hc.name, p.name, i,
					len(got[i]), got[i][:min(len(got[i]), 32)], len(want[i]), want[i][:min(len(want[i]), 32)])
			}
		}
	}
	// The ingress port counted every frame, and exactly the expected drops.
	deadline := time.Now().Add(time.Second)
	for {
		after, _ := l.e.Port(hc.from.name)
		rx := after.Counters.RxPackets - before.Counters.RxPackets
		diff := map[string]uint64{}
		for _, r := range DropReasons() {
			if d := after.Counters.Drops[r] - before.Counters.Drops[r]; d != 0 {
				diff[r] = d
			}
		}
		ok := rx == uint64(len(hc.frames)) && fmt.Sprint(diff) == fmt.Sprint(nonZero(hc.drops))
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: port %s counted rx %d (sent %d), drops %v, want drops %v", hc.name, hc.from.name,
				rx, len(hc.frames), diff, nonZero(hc.drops))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.checkIdle(t, hc.name)
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// checkIdle waits until the mempool is back to the lab's idle count plus
// the spare mbufs the worker keeps for tagged copies.
func (l *hostileLab) checkIdle(t *testing.T, step string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		want := l.idle
		for _, w := range l.e.workers {
			want += int(w.spares.Load())
		}
		n := testPool.InUse()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: mempool in use %d, want %d (idle %d + the worker's spares): mbufs leaked or freed twice",
				step, n, want, l.idle)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sendRaw transmits frames as they are, one single-segment mbuf each.
func (p *pod) sendRaw(t testing.TB, frames ...[]byte) {
	t.Helper()
	pkts := make([]*dpdk.Mbuf, len(frames))
	if err := hostileTxPool.AllocBulk(pkts); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if b := pkts[i].Append(len(f)); b == nil {
			dpdk.FreeBulk(pkts)
			t.Fatalf("frame of %d bytes does not fit one mbuf", len(f))
		} else {
			copy(b, f)
		}
	}
	p.txAll(t, pkts)
}

// sendChained transmits each frame as a chain of n mbufs of about equal
// length (the first holds at least the Ethernet header).
func (p *pod) sendChained(t testing.TB, n int, frames ...[]byte) {
	t.Helper()
	var pkts []*dpdk.Mbuf
	for _, f := range frames {
		pkts = append(pkts, chainOf(t, f, n))
	}
	p.txAll(t, pkts)
}

// chainOf builds f as a chain of n mbufs.
func chainOf(t testing.TB, f []byte, n int) *dpdk.Mbuf {
	t.Helper()
	segs := make([]*dpdk.Mbuf, n)
	if err := hostileTxPool.AllocBulk(segs); err != nil {
		t.Fatal(err)
	}
	per := (len(f) + n - 1) / n
	for i, s := range segs {
		part := f[min(i*per, len(f)):min((i+1)*per, len(f))]
		b := s.Append(len(part))
		if b == nil {
			dpdk.FreeBulk(segs)
			t.Fatalf("segment of %d bytes does not fit an mbuf", len(part))
		}
		copy(b, part)
	}
	for _, s := range segs[1:] {
		if err := segs[0].Chain(s); err != nil {
			t.Fatal(err)
		}
	}
	if segs[0].NumSegs() != n || segs[0].PktLen() != len(f) {
		t.Fatalf("chain: %d segments, %d bytes; want %d, %d", segs[0].NumSegs(), segs[0].PktLen(), n, len(f))
	}
	return segs[0]
}

func (p *pod) txAll(t testing.TB, pkts []*dpdk.Mbuf) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for len(pkts) > 0 {
		n := p.peer.TxBurst(0, pkts)
		pkts = pkts[n:]
		if time.Now().After(deadline) {
			dpdk.FreeBulk(pkts)
			t.Fatalf("pod %s: %d frames not sent", p.name, len(pkts))
		}
	}
}

// recvRaw collects the whole bytes (every segment) of what the pod
// receives for wait, or until want frames arrived when want > 0.
func (p *pod) recvRaw(t testing.TB, want int, wait time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	pkts := make([]*dpdk.Mbuf, 32)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && (want <= 0 || len(out) < want) {
		n := p.peer.RxBurst(0, pkts)
		for _, m := range pkts[:n] {
			b := make([]byte, m.PktLen())
			if c := m.CopyTo(b); c != len(b) {
				t.Errorf("pod %s: frame of pkt_len %d holds %d bytes", p.name, len(b), c)
			}
			out = append(out, b)
		}
		dpdk.FreeBulk(pkts[:n])
		if n == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return out
}

// eth builds an Ethernet header and appends payload.
func eth(dst, src net.HardwareAddr, typ uint16, payload ...byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:14], typ)
	return append(f, payload...)
}

// vlanTag inserts a tag (TPID, VID) after the MACs of f.
func vlanTag(f []byte, tpid, vid uint16) []byte {
	out := make([]byte, 0, len(f)+4)
	out = append(out, f[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, vid)
	return append(out, f[12:]...)
}

// untag removes the outer tag of f.
func untag(f []byte) []byte { return append(append([]byte{}, f[:12]...), f[16:]...) }

// serialize builds a frame from gopacket layers without fixing lengths or
// checksums, so that lying headers stay lies.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte{}, buf.Bytes()...)
}

func TestHostileFrames(t *testing.T) {
	l := newHostileLab(t)
	a, b, c, up := l.a, l.b, l.c, l.up
	acc := func(dst net.HardwareAddr, payload ...byte) []byte {
		return eth(dst, a.mac, 0x0800, payload...)
	}
	// The trunk's remote MAC is learned first, so unicast to it is not flooded.
	up.sendRaw(t, eth(bcast, l.remote, 0x88b5, make([]byte, 50)...))
	for _, p := range []*pod{a, b} {
		p.recvRaw(t, 1, time.Second)
	}
	l.checkIdle(t, "learn remote")

	t.Run("runts", func(t *testing.T) {
		var runts [][]byte
		for n := 0; n < 14; n++ {
			runts = append(runts, acc(b.mac)[:n])
		}
		// A zero-length frame never leaves virtio-user: send 1..13.
		l.run(t, hostileCase{name: "runts 1..13", from: a, frames: runts[1:],
			drops: map[string]uint64{"bad_header": 13}})
		exact := acc(b.mac)
		l.run(t, hostileCase{name: "14 bytes", from: a, frames: [][]byte{exact},
			want: map[*pod][][]byte{b: {exact}}})
		bc := eth(bcast, a.mac, 0x0806)
		l.run(t, hostileCase{name: "14 bytes broadcast", from: a, frames: [][]byte{bc},
			want: map[*pod][][]byte{b: {bc}, up: {bc}}})
		// On the trunk: a VLAN TPID with 0..3 bytes of tag.
		var short [][]byte
		for n := 14; n < 18; n++ {
			short = append(short, vlanTag(eth(bcast, l.remote, 0x0800, make([]byte, 50)...), 0x8100, 10)[:n])
		}
		l.run(t, hostileCase{name: "trunk: truncated VLAN tag", from: up, frames: short,
			drops: map[string]uint64{"bad_header": 4}})
	})

	t.Run("lying L3 headers", func(t *testing.T) {
		ip := func(ihl uint8, length uint16, opts []layers.IPv4Option) []byte {
			return serialize(t,
				&layers.Ethernet{SrcMAC: a.mac, DstMAC: b.mac, EthernetType: layers.EthernetTypeIPv4},
				&layers.IPv4{Version: 4, IHL: ihl, Length: length, TTL: 64, Protocol: layers.IPProtocolUDP,
					SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2), Options: opts},
				gopacket.Payload(make([]byte, 8)))
		}
		frames := [][]byte{
			ip(15, 1500, nil),   // IHL says 60 bytes, there are 28
			ip(2, 20, nil),      // IHL below the minimum
			ip(5, 65535, nil),   // total length far beyond the frame
			ip(5, 3, nil),       // total length shorter than the header
			acc(b.mac, 0x4f),    // one byte of IPv4
			acc(b.mac, 0x45, 0), // two bytes
			ip(15, 60, []layers.IPv4Option{{OptionType: 0x07, OptionLength: 39, OptionData: make([]byte, 37)}}),
		}
		// IPv6 with a long chain of hop-by-hop/destination headers, the last
		// one's length pointing past the end.
		v6 := make([]byte, 40)
		v6[0] = 0x60
		binary.BigEndian.PutUint16(v6[4:6], 65000)
		v6[6] = 0 // hop-by-hop
		v6[7] = 64
		for i := 0; i < 60; i++ {
			v6 = append(v6, 60, 0, 1, 4, 0, 0, 0, 0) // next: destination options, 8 bytes
		}
		v6 = append(v6, 60, 200, 0, 0) // claims 1608 bytes, has 4
		frames = append(frames, eth(b.mac, a.mac, 0x86dd, v6...))
		want := map[*pod][][]byte{b: frames}
		l.run(t, hostileCase{name: "lying L3 headers", from: a, frames: frames, want: want})
		// gopacket agrees these are broken or odd, so the forwarder is not
		// merely lucky: it must not look past the Ethernet header.
		if pk := gopacket.NewPacket(frames[0], layers.LayerTypeEthernet, gopacket.Default); pk.ErrorLayer() == nil {
			t.Errorf("gopacket decodes the lying IHL frame without error")
		}
	})

	t.Run("VLAN stacks", func(t *testing.T) {
		inner := eth(bcast, l.remote, 0x0800, make([]byte, 46)...)
		// On the trunk: VLAN 0 (priority tag) belongs to the untagged
		// network, stripped; 4095 is reserved: no network.
		prio := vlanTag(inner, 0x8100, 0)
		l.run(t, hostileCase{name: "trunk: VLAN 0", from: up, frames: [][]byte{prio},
			want: map[*pod][][]byte{a: {inner}, b: {inner}}})
		l.run(t, hostileCase{name: "trunk: VLAN 4095", from: up, frames: [][]byte{vlanTag(inner, 0x8100, 4095)},
			drops: map[string]uint64{"no_network": 1}})
		// PCP and DEI bits do not change the VLAN.
		pcp := vlanTag(inner, 0x8100, 0xf000|10)
		l.run(t, hostileCase{name: "trunk: VLAN 10 with PCP 7 and DEI", from: up, frames: [][]byte{pcp},
			want: map[*pod][][]byte{c: {inner}}})
		// 802.1Q stacks 3 deep: the outer tag picks the network and is
		// stripped; the inner ones are the pod's business.
		deep := vlanTag(vlanTag(vlanTag(inner, 0x8100, 30), 0x8100, 20), 0x8100, 10)
		l.run(t, hostileCase{name: "trunk: 0x8100 x3", from: up, frames: [][]byte{deep},
			want: map[*pod][][]byte{c: {untag(deep)}}})
		// An 802.1ad outer tag is not an 802.1Q tag: the frame is untagged
		// (the VLAN 0 network) and passes as it is.
		qinq := vlanTag(vlanTag(vlanTag(inner, 0x8100, 30), 0x8100, 10), 0x88a8, 10)
		l.run(t, hostileCase{name: "trunk: 0x88a8/0x8100/0x8100", from: up, frames: [][]byte{qinq},
			want: map[*pod][][]byte{a: {qinq}, b: {qinq}}})
	})

	t.Run("tagged on access", func(t *testing.T) {
		// On an access port a pod has no business tagging: a tagged frame
		// leaving the uplink untagged (VLAN 0 network) would land in the
		// VLAN of the pod's choice upstream (VLAN hopping).
		var tagged [][]byte
		for _, tpid := range []uint16{0x8100, 0x88a8, 0x9100} {
			for _, vid := range []uint16{0, 10, 4095} {
				tagged = append(tagged, vlanTag(acc(bcast, make([]byte, 46)...), tpid, vid))
			}
		}
		tagged = append(tagged, eth(bcast, a.mac, 0x8100), eth(bcast, a.mac, 0x88a8)) // a TPID and no tag at all
		l.run(t, hostileCase{name: "access: tagged frames", from: a, frames: tagged,
			drops: map[string]uint64{"tagged_on_access": uint64(len(tagged))}})
		// The same from a VLAN network's pod, and a tagged frame after an
		// untagged one with the same MACs (the run cache must not let it by).
		plain := eth(b.mac, a.mac, 0x0800, make([]byte, 46)...)
		l.run(t, hostileCase{name: "access: tagged after untagged, same MACs", from: a,
			frames: [][]byte{plain, vlanTag(plain, 0x8100, 10), plain},
			want:   map[*pod][][]byte{b: {plain, plain}}, drops: map[string]uint64{"tagged_on_access": 1}})
		ct := vlanTag(eth(bcast, c.mac, 0x0800, make([]byte, 46)...), 0x8100, 20)
		l.run(t, hostileCase{name: "access (VLAN 10): tagged", from: c, frames: [][]byte{ct},
			drops: map[string]uint64{"tagged_on_access": 1}})
	})

	t.Run("giant chained frames", func(t *testing.T) {
		big := bigFrame
		u := big(b.mac, a.mac, 9018)
		l.run(t, hostileCase{name: "unicast 9018 bytes, 5 segments", from: a, frames: [][]byte{u}, segs: 5,
			want: map[*pod][][]byte{b: {u}}})
		// Unicast to the remote MAC on the trunk: tagged in place.
		cu := big(l.remote, c.mac, 9100)
		l.run(t, hostileCase{name: "unicast 9100 bytes from VLAN 10 to the trunk", from: c, frames: [][]byte{cu}, segs: 5,
			want: map[*pod][][]byte{up: {vlanTag(cu, 0x8100, 10)}}})
		// Tagged giant from the trunk to c.
		tu := vlanTag(big(c.mac, l.remote, 9000), 0x8100, 10)
		l.run(t, hostileCase{name: "tagged 9004 bytes from the trunk", from: up, frames: [][]byte{tu}, segs: 5,
			want: map[*pod][][]byte{c: {untag(tu)}}})
	})

	t.Run("chained flood", func(t *testing.T) {
		// Two untagged outputs share the chain: every segment's reference
		// count must say so, or the first tx frees the tail under the second.
		bc := bigFrame(bcast, a.mac, 9600)
		l.run(t, hostileCase{name: "broadcast 9600 bytes, 6 segments (untagged trunk)", from: a, frames: [][]byte{bc, bc}, segs: 6,
			want: map[*pod][][]byte{b: {bc, bc}, up: {bc, bc}}})
	})

	t.Run("chained tagged copy", func(t *testing.T) {
		// The trunk gets a tagged copy of a flood from VLAN 10, chained or not.
		cb := bigFrame(bcast, c.mac, 9100)
		l.run(t, hostileCase{name: "broadcast 9100 bytes from VLAN 10 (tagged copy)", from: c, frames: [][]byte{cb}, segs: 5,
			want: map[*pod][][]byte{up: {vlanTag(cb, 0x8100, 10)}}})
	})

	t.Run("source MACs", func(t *testing.T) {
		var frames [][]byte
		for _, src := range []net.HardwareAddr{
			{1, 0, 0x5e, 0, 0, 1}, {0x33, 0x33, 0, 0, 0, 1}, bcast, {0, 0, 0, 0, 0, 0}, {0xff, 0, 0, 0, 0, 0},
		} {
			frames = append(frames, eth(b.mac, src, 0x0800, make([]byte, 46)...))
		}
		l.run(t, hostileCase{name: "bad source MACs", from: a, frames: frames,
			drops: map[string]uint64{"bad_src_mac": uint64(len(frames))}})
		var tr [][]byte
		for _, f := range frames {
			tr = append(tr, vlanTag(f, 0x8100, 10))
		}
		l.run(t, hostileCase{name: "bad source MACs on the trunk", from: up, frames: tr,
			drops: map[string]uint64{"bad_src_mac": uint64(len(tr))}})
	})

	t.Run("MAC spoofing", func(t *testing.T) {
		// b claims a's static MAC: dropped and counted, a's entry stays.
		spoof := eth(bcast, a.mac, 0x0800, make([]byte, 46)...)
		toA := eth(a.mac, a.mac, 0x0800, make([]byte, 46)...)
		l.run(t, hostileCase{name: "spoofed static MAC", from: b, frames: [][]byte{spoof, toA, spoof},
			drops: map[string]uint64{"src_mac_spoof": 3}})
		// From the trunk too: a's MAC lives behind a.
		l.run(t, hostileCase{name: "spoofed static MAC from the trunk", from: up, frames: [][]byte{spoof},
			drops: map[string]uint64{"src_mac_spoof": 1}})
		l.checkStatic(t)
		// a is still reached by unicast, and only a.
		ok := eth(a.mac, b.mac, 0x0800, make([]byte, 46)...)
		l.run(t, hostileCase{name: "unicast to a after spoofing", from: b, frames: [][]byte{ok},
			want: map[*pod][][]byte{a: {ok}}})
	})

	t.Run("MAC moves", func(t *testing.T) {
		// A learned (not static) MAC still moves, as on any switch.
		mv := net.HardwareAddr{0x02, 0xee, 0, 0, 0, 9}
		f1 := eth(bcast, mv, 0x0800, make([]byte, 46)...)
		l.run(t, hostileCase{name: "learned MAC on a", from: a, frames: [][]byte{f1}, want: map[*pod][][]byte{b: {f1}, up: {f1}}})
		l.run(t, hostileCase{name: "learned MAC moves to b", from: b, frames: [][]byte{f1}, want: map[*pod][][]byte{a: {f1}, up: {f1}}})
		to := eth(mv, a.mac, 0x0800, make([]byte, 46)...)
		l.run(t, hostileCase{name: "unicast follows the move", from: a, frames: [][]byte{to}, want: map[*pod][][]byte{b: {to}}})
	})

	// Every frame above: the worker is still forwarding.
	ok := eth(b.mac, a.mac, 0x0800, make([]byte, 46)...)
	l.run(t, hostileCase{name: "still alive", from: a, frames: [][]byte{ok}, want: map[*pod][][]byte{b: {ok}}})
}

// checkStatic fails unless a's MAC is a static entry on a.
func (l *hostileLab) checkStatic(t *testing.T) {
	t.Helper()
	macs, err := l.e.MACs("acc")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range macs {
		if m.MAC == l.a.mac.String() {
			if m.Port != "a" || !m.Static {
				t.Fatalf("a's static entry now %+v", m)
			}
			return
		}
	}
	t.Fatalf("a's static entry is gone: %+v", macs)
}

// bigFrame is a frame of n bytes with a patterned payload.
func bigFrame(dst, src net.HardwareAddr, n int) []byte {
	p := make([]byte, n-14)
	for i := range p {
		p[i] = byte(i * 7)
	}
	return eth(dst, src, 0x88b5, p...)
}

// TestStaticMACNotTakenOver: a second port may not claim a MAC that is
// another port's static entry in the same network (its removal would
// also remove the first port's entry).
func TestStaticMACNotTakenOver(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	a := attach(t, e, "a", "n", true)
	probe := func(name, nw string) error {
		n := seq.Add(1)
		ports, err := dpdk.Probe(fmt.Sprintf("net_null%d", 300+n))
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = e.RemovePort(ctx, name)
			_ = ports[0].Remove()
		}()
		return e.AddPort(ctx, PortSpec{Name: name, Port: ports[0], Kind: KindVhostUser, Network: nw, MAC: a.mac})
	}
	if err := probe("thief", "n"); err == nil {
		t.Fatal("a second port took a's static MAC in the same network")
	}
	if err := probe("other", "m"); err != nil {
		t.Fatalf("the same MAC in another network: %v", err)
	}
	macs, _ := e.MACs("n")
	found := false
	for _, m := range macs {
		if m.MAC == a.mac.String() {
			found = m.Port == "a" && m.Static
		}
	}
	if !found {
		t.Fatalf("a's static entry is gone or moved: %+v", macs)
	}
}
