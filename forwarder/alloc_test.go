package forwarder

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// TestZeroAllocsPerBurst drives one worker's poll by hand (the engine is
// not started) over real vhost-user ports: a burst that learns, floods and
// switches unicast must not allocate.
func TestZeroAllocsPerBurst(t *testing.T) {
	before := testPool.InUse()
	e, err := New(Config{Pool: testPool, RxDesc: 256, TxDesc: 256, Lcores: dpdk.WorkerLcores()[:1],
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if n := testPool.InUse(); n != before {
			t.Errorf("mempool in use: %d after, %d before", n, before)
		}
	}()
	ctx := context.Background()
	if err := e.AddNetwork(ctx, NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	pods := []*pod{attachIdle(t, e, "a", "n"), attachIdle(t, e, "b", "n"), attachIdle(t, e, "c", "n")}
	defer func() {
		for _, p := range pods {
			p.detach(t, e)
		}
	}()
	a, b := pods[0], pods[1]
	w := e.workers[0]
	s := e.snap.Load()
	if len(s.rx[0]) != 3 {
		t.Fatalf("worker polls %d queues, want 3", len(s.rx[0]))
	}
	// Frames: a broadcast and unicast a->b, prepared once.
	frames := [][]byte{frame(t, a.mac, bcast, 1, 64), frame(t, a.mac, b.mac, 2, 64), frame(t, b.mac, a.mac, 3, 64)}
	out := dpdk.NewMbufArray(32)
	defer out.Free()
	in := dpdk.NewMbufArray(len(frames))
	defer in.Free()
	round := func() {
		if testPool.AllocBulk(in.Pkts) != nil {
			t.Fatal("alloc")
		}
		for i, f := range frames {
			copy(in.Pkts[i].Append(len(f)), f)
		}
		n := a.peer.TxBurst(0, in.Pkts)
		dpdk.FreeBulk(in.Pkts[n:])
		w.pollAll(s, 1)
		for _, p := range pods {
			n := p.peer.RxBurst(0, out.Pkts)
			dpdk.FreeBulk(out.Pkts[:n])
		}
	}
	round()
	if allocs := testing.AllocsPerRun(500, round); allocs != 0 {
		t.Fatalf("%v allocations per burst, want 0", allocs)
	}
	pb, _ := e.Port("b")
	if pb.Counters.TxPackets < 500 {
		t.Fatalf("b sent only %d packets: the rounds did not forward", pb.Counters.TxPackets)
	}
}

// attachIdle is attach for an engine whose workers are not running: the
// link state is refreshed by hand.
func attachIdle(t testing.TB, e *Engine, name, nw string) *pod {
	t.Helper()
	p := attachPort(t, e, name, nw, false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		_ = e.updateLinks(context.Background())
		e.mu.Unlock()
		if st, _ := e.Port(name); st.Up {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s: link not up after 5s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
