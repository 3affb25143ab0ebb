package dpdk_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/podwire/podwire/dpdk"
)

// TestBatchRoundTrip polls two net_null ports with one RxBatch and sends
// each port's packets out of the other with one TxBatch; the ports' own
// counters must agree with what the batches reported. A third queue, on a
// vhost-user port with no peer (link down) polled with ifUp, gives nothing.
func TestBatchRoundTrip(t *testing.T) {
	checkPool(t)
	var nulls [2]dpdk.Port
	for i := range nulls {
		p, err := dpdk.PortByName(fmt.Sprintf("net_null%d", i))
		if err != nil {
			t.Fatal(err)
		}
		startPort(t, p)
		if err := p.ResetStats(); err != nil {
			t.Fatal(err)
		}
		nulls[i] = p
	}
	down := probe(t, uniqueName("net_vhost")+",iface="+filepath.Join(shortDir(t), "v.sock"))
	startPort(t, down)

	const burst = 16
	rx, err := dpdk.NewRxBatch(3, burst)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Free()
	tx, err := dpdk.NewTxBatch(2)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Free()
	if _, err := dpdk.NewRxBatch(0, burst); err == nil {
		t.Error("NewRxBatch(0 queues): no error")
	}
	if _, err := dpdk.NewTxBatch(0); err == nil {
		t.Error("NewTxBatch(0): no error")
	}
	rx.Add(nulls[0], 0, false)
	rx.Add(nulls[1], 0, false)
	rx.Add(down, 0, true)
	// Outputs in C memory, as TxBatch wants.
	out := [2]*dpdk.MbufArray{dpdk.NewMbufArray(burst), dpdk.NewMbufArray(burst)}
	defer out[0].Free()
	defer out[1].Free()
	var got [2]int
	var sent [2]int
	for range 50 {
		total := rx.Poll()
		if n := len(rx.Pkts(2)); n != 0 {
			t.Fatalf("a down port polled with ifUp gave %d packets", n)
		}
		tx.Reset()
		sum := 0
		for i := range 2 {
			pkts := rx.Pkts(i)
			sum += len(pkts)
			got[i] += len(pkts)
			// Port i's packets leave by the other port.
			n := copy(out[1-i].Pkts, pkts)
			tx.Add(nulls[1-i], 0, out[1-i].Pkts[:n])
		}
		if sum != total {
			t.Fatalf("Poll returned %d, queues hold %d", total, sum)
		}
		tx.Send()
		for i := range tx.Len() {
			// Burst i held port i's packets and went out of port 1-i.
			n, all := tx.Sent(i), len(rx.Pkts(i))
			sent[1-i] += n
			dpdk.FreeBulk(out[1-i].Pkts[n:all])
		}
	}
	if got[0] == 0 || got[1] == 0 {
		t.Fatalf("received %v", got)
	}
	for i, p := range nulls {
		st, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.IPackets != uint64(got[i]) || st.OPackets != uint64(sent[i]) {
			t.Errorf("port %d: stats rx %d tx %d, batches rx %d tx %d", p, st.IPackets, st.OPackets, got[i], sent[i])
		}
	}
}
