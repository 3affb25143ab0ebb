package forwarder

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

var bcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func TestMACTable(t *testing.T) {
	tb := newMACTable(64)
	if tb.lookup(0x020000000001) != -1 {
		t.Fatal("empty table found a MAC")
	}
	tb.learn(0x020000000001, 3, 10)
	if got := tb.lookup(0x020000000001); got != 3 {
		t.Fatalf("lookup = %d, want 3", got)
	}
	tb.learn(0x020000000001, 4, 11) // move
	if got := tb.lookup(0x020000000001); got != 4 || tb.moves.Load() != 1 {
		t.Fatalf("after move: port %d, moves %d", got, tb.moves.Load())
	}
	if !tb.setStatic(0x020000000002, 7) {
		t.Fatal("setStatic")
	}
	tb.learn(0x020000000002, 1, 12) // a static MAC does not move
	if got := tb.lookup(0x020000000002); got != 7 {
		t.Fatalf("static entry moved to %d", got)
	}
	if n := tb.age(400, 300); n != 1 || tb.lookup(0x020000000001) != -1 || tb.lookup(0x020000000002) != 7 {
		t.Fatalf("age removed %d; learned entry %d, static %d", n, tb.lookup(0x020000000001), tb.lookup(0x020000000002))
	}
	// Fill one bucket: the ninth MAC with the same bucket is refused and counted.
	small := newMACTable(8)
	var same []uint64
	for mac := uint64(0x020000000100); len(same) < slotsPerBucket+1; mac++ {
		if small.bucket(mac) == small.bucket(0x020000000100) {
			same = append(same, mac)
		}
	}
	for i, mac := range same {
		ok := small.learn(mac, 1, 1) != learnFull
		if ok != (i < slotsPerBucket) {
			t.Fatalf("learn #%d: %v", i, ok)
		}
	}
	if small.full.Load() != 1 || small.lookup(same[slotsPerBucket]) != -1 {
		t.Fatalf("full %d", small.full.Load())
	}
	if n := small.flushPort(1); n != slotsPerBucket || len(small.entries()) != 0 {
		t.Fatalf("flushPort removed %d, %d left", n, len(small.entries()))
	}
}

// TestSwitching checks L2 forwarding between real vhost-user ports with
// gopacket-decoded frames: flooding stays in the network and never goes
// back out of the ingress port, learned unicast goes to one port only, and
// nothing is duplicated.
func TestSwitching(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	for _, n := range []string{"red", "blue"} {
		if err := e.AddNetwork(ctx, NetworkSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	a := attach(t, e, "a", "red", false)
	b := attach(t, e, "b", "red", false)
	c := attach(t, e, "c", "red", false)
	d := attach(t, e, "d", "blue", false)
	all := []*pod{a, b, c, d}
	expect := func(step string, want map[*pod][]uint32) {
		t.Helper()
		for _, p := range all {
			got := p.recv(t, len(want[p]), 300*time.Millisecond)
			if len(want[p]) > 0 {
				// wait a little more to catch duplicates
				got = append(got, p.recv(t, 0, 50*time.Millisecond)...)
			}
			if len(got) != len(want[p]) {
				t.Fatalf("%s: pod %s got %d frames %v, want %v", step, p.name, len(got), got, want[p])
			}
			for i, f := range got {
				if f.seq != want[p][i] {
					t.Fatalf("%s: pod %s frame %d has seq %d, want %d", step, p.name, i, f.seq, want[p][i])
				}
			}
		}
	}
	// Broadcast from a: b and c, not a, not d (other network).
	a.send(t, frame(t, a.mac, bcast, 1, 64), frame(t, a.mac, bcast, 2, 64))
	expect("broadcast", map[*pod][]uint32{b: {1, 2}, c: {1, 2}})
	// b answers a: a's MAC was learned, so only a gets it.
	b.send(t, frame(t, b.mac, a.mac, 3, 64))
	expect("learned unicast", map[*pod][]uint32{a: {3}})
	// Unknown unicast floods within red only.
	a.send(t, frame(t, a.mac, net.HardwareAddr{2, 9, 9, 9, 9, 9}, 4, 128))
	expect("unknown unicast", map[*pod][]uint32{b: {4}, c: {4}})
	// d is alone in blue: its broadcast goes nowhere (counted).
	d.send(t, frame(t, d.mac, bcast, 5, 64))
	expect("alone in network", nil)
	// Both ways, large frames.
	a.send(t, frame(t, a.mac, b.mac, 6, 1514))
	b.send(t, frame(t, b.mac, a.mac, 7, 1514))
	expect("large", map[*pod][]uint32{a: {7}, b: {6}})

	macs, err := e.MACs("red")
	if err != nil {
		t.Fatal(err)
	}
	learned := map[string]string{}
	for _, m := range macs {
		learned[m.MAC] = m.Port
	}
	if learned[a.mac.String()] != "a" || learned[b.mac.String()] != "b" {
		t.Fatalf("MAC table %v", macs)
	}
	pa, _ := e.Port("a")
	if pa.Counters.RxPackets != 4 || pa.Counters.TxPackets != 2 {
		t.Fatalf("port a counters %+v", pa.Counters)
	}
	pd, _ := e.Port("d")
	if pd.Counters.Drops["same_port"] != 1 {
		t.Fatalf("port d drops %v", pd.Counters.Drops)
	}
}

// TestStaticMACAndDrops checks static MACs and that every malformed frame is
// counted under its reason.
func TestStaticMACAndDrops(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "green"}); err != nil {
		t.Fatal(err)
	}
	a := attach(t, e, "a", "green", true)
	b := attach(t, e, "b", "green", true)
	// b's MAC is static: a reaches it before b ever sent anything.
	a.send(t, frame(t, a.mac, b.mac, 1, 64))
	if got := b.recv(t, 1, time.Second); len(got) != 1 || got[0].seq != 1 {
		t.Fatalf("b got %v", got)
	}
	if got := a.recv(t, 0, 50*time.Millisecond); len(got) != 0 {
		t.Fatalf("a got its own frame back: %v", got)
	}
	// Runt, multicast source, zero source, hairpin to itself.
	runt := make([]byte, 10)
	mcastSrc := frame(t, net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, b.mac, 2, 64)
	zeroSrc := frame(t, net.HardwareAddr{0, 0, 0, 0, 0, 0}, b.mac, 3, 64)
	hairpin := frame(t, a.mac, a.mac, 4, 64)
	a.send(t, runt, mcastSrc, zeroSrc, hairpin)
	if got := b.recv(t, 0, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("bad frames were forwarded: %v", got)
	}
	deadline := time.Now().Add(time.Second)
	for {
		pa, _ := e.Port("a")
		dr := pa.Counters.Drops
		if dr["bad_header"] == 1 && dr["bad_src_mac"] == 2 && dr["same_port"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drops on a: %v", dr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHotplugNoLoss adds and removes ports while a and b exchange frames in
// lockstep: not one frame between a and b may be lost or duplicated.
func TestHotplugNoLoss(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "net"}); err != nil {
		t.Fatal(err)
	}
	a := attach(t, e, "a", "net", true)
	b := attach(t, e, "b", "net", true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	churn := 0
	var mu sync.Mutex
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := attach(t, e, "x", "net", true)
			p.detach(t, e)
			mu.Lock()
			churn++
			mu.Unlock()
		}
	}()
	sent := uint32(0)
	deadline := time.Now().Add(30 * time.Second)
	for r := 0; ; r++ {
		if r >= 200 && (churnDone(&mu, &churn) >= 3 || time.Now().After(deadline)) {
			break
		}
		var frames [][]byte
		for range 16 {
			sent++
			frames = append(frames, frame(t, a.mac, b.mac, sent, 64))
		}
		a.send(t, frames...)
		got := b.recv(t, 16, 2*time.Second)
		if len(got) != 16 {
			close(stop)
			wg.Wait()
			t.Fatalf("round %d: b got %d of 16 frames", r, len(got))
		}
		for i, f := range got {
			if f.seq != sent-15+uint32(i) {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: frame %d seq %d", r, i, f.seq)
			}
		}
	}
	close(stop)
	wg.Wait()
	if churn < 3 {
		t.Fatal("no port was added and removed during the traffic")
	}
	t.Logf("%d frames in lockstep, %d ports added and removed meanwhile", sent, churn)
	if extra := b.recv(t, 0, 50*time.Millisecond); len(extra) != 0 {
		t.Fatalf("duplicates: %v", extra)
	}
}

func churnDone(mu *sync.Mutex, n *int) int {
	mu.Lock()
	defer mu.Unlock()
	return *n
}

// TestVLANTrunk: networks map to VLANs on a trunk port. Frames from an
// access port leave the trunk tagged with their network's VLAN (untagged
// for VLAN 0); tagged frames from the trunk reach only their network's
// access ports, untagged; an unknown VLAN is dropped and counted.
func TestVLANTrunk(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	for _, n := range []NetworkSpec{{Name: "v10", VLAN: 10}, {Name: "v20", VLAN: 20}, {Name: "plain"}} {
		if err := e.AddNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "dup", VLAN: 10}); err == nil {
		t.Fatal("two networks on VLAN 10 accepted")
	}
	up := attach(t, e, "uplink", "", false)
	a := attach(t, e, "a", "v10", false)
	b := attach(t, e, "b", "v20", false)
	c := attach(t, e, "c", "plain", false)
	remote := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}

	// Broadcast from a (VLAN 10): the uplink gets it tagged 10, nobody else.
	a.send(t, frame(t, a.mac, bcast, 1, 64))
	got := up.recv(t, 1, time.Second)
	if len(got) != 1 || got[0].vlan != 10 || got[0].seq != 1 {
		t.Fatalf("uplink got %+v, want seq 1 tagged 10", got)
	}
	for _, p := range []*pod{b, c} {
		if g := p.recv(t, 0, 50*time.Millisecond); len(g) != 0 {
			t.Fatalf("%s got a frame of another network: %+v", p.name, g)
		}
	}
	// Tagged 20 from the uplink to b's MAC (unknown yet: flooded in v20).
	up.send(t, tagged(t, remote, b.mac, 20, 2, 100))
	if g := b.recv(t, 1, time.Second); len(g) != 1 || g[0].vlan != -1 || g[0].seq != 2 {
		t.Fatalf("b got %+v, want seq 2 untagged", g)
	}
	// b answers: unicast to the learned remote MAC, tagged 20 on the uplink.
	b.send(t, frame(t, b.mac, remote, 3, 64))
	if g := up.recv(t, 1, time.Second); len(g) != 1 || g[0].vlan != 20 || g[0].seq != 3 {
		t.Fatalf("uplink got %+v, want seq 3 tagged 20", g)
	}
	// Untagged from the uplink belongs to the VLAN 0 network.
	up.send(t, frame(t, remote, bcast, 4, 64))
	if g := c.recv(t, 1, time.Second); len(g) != 1 || g[0].seq != 4 {
		t.Fatalf("c got %+v", g)
	}
	c.send(t, frame(t, c.mac, remote, 5, 64))
	if g := up.recv(t, 1, time.Second); len(g) != 1 || g[0].vlan != -1 || g[0].seq != 5 {
		t.Fatalf("uplink got %+v, want seq 5 untagged", g)
	}
	// A VLAN no network uses, and a truncated tag.
	up.send(t, tagged(t, remote, bcast, 99, 6, 64), tagged(t, remote, bcast, 10, 7, 64)[:16])
	time.Sleep(100 * time.Millisecond)
	pu, _ := e.Port("uplink")
	if pu.Counters.Drops["no_network"] != 1 || pu.Counters.Drops["bad_header"] != 1 {
		t.Fatalf("uplink drops %v", pu.Counters.Drops)
	}
	for _, p := range []*pod{a, b, c} {
		if g := p.recv(t, 0, 50*time.Millisecond); len(g) != 0 {
			t.Fatalf("%s got %+v", p.name, g)
		}
	}
}

// TestTwoWorkersRebalance runs two workers (sharing cpu 1): rx queues are
// spread over both, moved when ports leave, and workers share the single
// tx queue of each vhost-user port under its lock, without loss.
func TestTwoWorkersRebalance(t *testing.T) {
	e := newEngineN(t, 2)
	ctx := context.Background()
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	a := attach(t, e, "a", "n", true)
	b := attach(t, e, "b", "n", true)
	c := attach(t, e, "c", "n", true)
	d := attach(t, e, "d", "n", true)
	load := func() []int {
		var l []int
		for _, w := range e.Workers() {
			l = append(l, len(w.RxQueues))
		}
		return l
	}
	if l := load(); l[0] != 2 || l[1] != 2 {
		t.Fatalf("queues per worker %v, want [2 2]", l)
	}
	for _, p := range []*pod{a, b, c, d} {
		if st, _ := e.Port(p.name); !st.SharedTx || st.TxQueues != 1 {
			t.Fatalf("port %s: tx queues %d shared %v, want 1 shared", p.name, st.TxQueues, st.SharedTx)
		}
	}
	// Remove both ports of one worker: the other worker's extra queue moves.
	var gone []*pod
	w0 := e.Workers()[0].RxQueues
	for _, q := range w0 {
		for _, p := range []*pod{a, b, c, d} {
			if p.name == q.Port {
				gone = append(gone, p)
			}
		}
	}
	for _, p := range gone {
		p.detach(t, e)
	}
	if l := load(); l[0] != 1 || l[1] != 1 {
		t.Fatalf("after removing worker 0's ports: queues per worker %v, want [1 1]", l)
	}
	var left []*pod
	for _, p := range []*pod{a, b, c, d} {
		if p.port.Valid() {
			left = append(left, p)
		}
	}
	// Both directions at once: each worker sends into the other's port
	// through the shared tx queues.
	x, y := left[0], left[1]
	for r := range 50 {
		var fx, fy [][]byte
		for i := range 16 {
			fx = append(fx, frame(t, x.mac, y.mac, uint32(r*100+i), 64))
			fy = append(fy, frame(t, y.mac, x.mac, uint32(r*100+50+i), 64))
		}
		x.send(t, fx...)
		y.send(t, fy...)
		gy := y.recv(t, 16, 2*time.Second)
		gx := x.recv(t, 16, 2*time.Second)
		if len(gx) != 16 || len(gy) != 16 {
			t.Fatalf("round %d: got %d and %d of 16", r, len(gx), len(gy))
		}
		for i := range 16 {
			if gy[i].seq != uint32(r*100+i) || gx[i].seq != uint32(r*100+50+i) {
				t.Fatalf("round %d: order broken: %v %v", r, gx, gy)
			}
		}
	}
}

// TestMultiQueueVhost: vhost-user ports with two queue pairs; each rx queue
// goes to a worker, each worker has its own tx queue per port (no lock),
// and frames sent on either queue arrive, none lost or doubled.
func TestMultiQueueVhost(t *testing.T) {
	e := newEngineN(t, 2)
	ctx := context.Background()
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "mq"}); err != nil {
		t.Fatal(err)
	}
	a := attachPortQ(t, e, "a", "mq", true, 2)
	t.Cleanup(func() { a.detach(t, e) })
	b := attachPortQ(t, e, "b", "mq", true, 2)
	t.Cleanup(func() { b.detach(t, e) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		sa, _ := e.Port("a")
		sb, _ := e.Port("b")
		if sa.Up && sb.Up {
			if sa.RxQueues != 2 || sa.TxQueues != 2 || sa.SharedTx {
				t.Fatalf("port a: %d rx, %d tx queues, shared %v; want 2, 2, false", sa.RxQueues, sa.TxQueues, sa.SharedTx)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("links not up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range e.Workers() {
		if len(w.RxQueues) != 2 {
			t.Fatalf("worker %d polls %v, want 2 queues", w.ID, w.RxQueues)
		}
	}
	seen := map[uint32]int{}
	for r := range 20 {
		var q0, q1 [][]byte
		for i := range 8 {
			q0 = append(q0, frame(t, a.mac, b.mac, uint32(r*100+i), 64))
			q1 = append(q1, frame(t, a.mac, b.mac, uint32(r*100+50+i), 64))
		}
		a.sendQ(t, 0, q0...)
		a.sendQ(t, 1, q1...)
		for _, f := range b.recv(t, 16, 2*time.Second) {
			seen[f.seq]++
		}
	}
	if len(seen) != 20*16 {
		t.Fatalf("b got %d distinct frames, want %d", len(seen), 20*16)
	}
	for s, n := range seen {
		if n != 1 {
			t.Fatalf("frame %d arrived %d times", s, n)
		}
	}
}
