package iofwd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
)

func TestPollZeroAllocs(t *testing.T) {
	f := testForwarder(t)
	allocs := testing.AllocsPerRun(1000, f.poll)
	if allocs != 0 {
		t.Errorf("%v allocations per iteration, want 0", allocs)
	}
}

func TestForwarderTrial(t *testing.T) {
	f := testForwarder(t)
	// On a machine shared with other busy pollers the loop's thread can be
	// parked for a whole short window (see doc.go), so a few trials get the
	// chance to forward; each must be well-formed and drop nothing.
	var forwarded bool
	for try := 0; try < 3 && !forwarded; try++ {
		m, dropped, err := f.Trial(context.Background(), 50*time.Millisecond, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if m.Seconds < 0.29 || m.Seconds > 1 || (m.Packets == 0) != (m.Mpps == 0) {
			t.Errorf("trial %d: %+v", try, m)
		}
		if dropped != 0 {
			t.Errorf("net_null refused %d packets", dropped)
		}
		if m.FwdCPUShare < 0 || m.FwdCPUShare > 1.05 {
			t.Errorf("trial %d: cpu share of the loop's thread %v", try, m.FwdCPUShare)
		}
		forwarded = m.Packets > 0
		if !forwarded {
			t.Logf("trial %d forwarded nothing: is another process busy on cpu %d?", try, FwdLcore)
		}
	}
	if !forwarded {
		t.Error("the loop forwarded nothing in 3 trials")
	}
}

func TestForwarderTrialCancel(t *testing.T) {
	f := testForwarder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := f.Trial(ctx, time.Hour, time.Second); err == nil {
		t.Fatal("cancelled trial succeeded")
	}
	if f.running {
		t.Fatal("loop still running after a cancelled trial")
	}
}

// The benchmarks below take apart the cost of the forward loop. Run them with
//
//	go test -run '^$' -bench . -count 5 ./bench/iofwd/
//
// and with GODEBUG=cgocheck=0 to see what cgo's pointer checks cost. Each runs
// its loop on cpu 1 in one of three ways:
//   - lcore: on EAL lcore 1 through dpdk.Launch, as the benchmark does (the
//     Go code runs in a cgo callback on an EAL-created thread);
//   - thread: on a Go-created OS thread pinned to cpu 1 and registered with
//     rte_thread_register (dpdk.StartThread);
//   - goroutine: on the benchmark's goroutine, not pinned, not an lcore (so
//     no mempool cache): for reference only.

func runOn(b *testing.B, where string, fn func(n int)) {
	b.Helper()
	switch where {
	case "lcore":
		if err := dpdk.Launch(FwdLcore, func() error { fn(b.N); return nil }); err != nil {
			b.Fatal(err)
		}
		if err := dpdk.Wait(FwdLcore); err != nil {
			b.Fatal(err)
		}
	case "thread":
		th, err := dpdk.StartThread(FwdLcore, func(uint) { fn(b.N) })
		if err != nil {
			b.Fatal(err)
		}
		th.Wait()
	default:
		fn(b.N)
	}
}

var wheres = []string{"lcore", "thread", "goroutine"}

// BenchmarkCgoCall is the cost of one trivial cgo call (rte_lcore_id).
func BenchmarkCgoCall(b *testing.B) {
	testForwarder(b)
	for _, where := range wheres {
		b.Run(where, func(b *testing.B) {
			var sink uint
			runOn(b, where, func(n int) {
				for range n {
					sink += dpdk.LcoreID()
				}
			})
			_ = sink
		})
	}
}

// BenchmarkPoll is one iteration of the forward loop: rx 32 from each port
// and tx them to the other, 64 packets and four cgo calls. Bursts go
// through C arrays (dpdk.MbufArray, as the Forwarder does) or Go slices.
func BenchmarkPoll(b *testing.B) {
	f := testForwarder(b)
	goAB, goBA := make([]*dpdk.Mbuf, f.setup.Burst), make([]*dpdk.Mbuf, f.setup.Burst)
	for _, bursts := range []string{"c-array", "go-slice"} {
		ab, ba := f.ab.Pkts, f.ba.Pkts
		if bursts == "go-slice" {
			ab, ba = goAB, goBA
		}
		for _, where := range wheres {
			b.Run(fmt.Sprintf("%s/%s", bursts, where), func(b *testing.B) {
				n0, err := f.RxPackets()
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				runOn(b, where, func(n int) {
					for range n {
						f.forward(f.a, f.b, ab)
						f.forward(f.b, f.a, ba)
					}
				})
				b.StopTimer()
				n1, err := f.RxPackets()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n1-n0)/b.Elapsed().Seconds(), "pkts/s")
			})
		}
	}
}

// BenchmarkRxTx is one rx burst and one tx burst (one direction, 32
// packets, two cgo calls), and one rx burst alone freed in bulk (two cgo
// calls as well): with BenchmarkCgoCall it splits an iteration into DPDK's
// work and cgo's.
func BenchmarkRxTx(b *testing.B) {
	f := testForwarder(b)
	pkts := f.ab.Pkts
	b.Run("rx-tx/lcore", func(b *testing.B) {
		runOn(b, "lcore", func(n int) {
			for range n {
				f.forward(f.a, f.b, pkts)
			}
		})
	})
	b.Run("rx-freebulk/lcore", func(b *testing.B) {
		runOn(b, "lcore", func(n int) {
			for range n {
				k := f.a.RxBurst(0, pkts)
				dpdk.FreeBulk(pkts[:k])
			}
		})
	})
}

// BenchmarkPollExtraCgo adds trivial cgo calls (rte_lcore_id) to each
// iteration of the loop on lcore 1: the growth of ns/op over the extra
// calls is what one cgo call costs inside the loop, and extrapolating to
// zero calls gives the loop's cost without cgo, which compares with
// testpmd's time per 64 packets.
func BenchmarkPollExtraCgo(b *testing.B) {
	f := testForwarder(b)
	for _, extra := range []int{0, 4, 12} {
		b.Run(fmt.Sprintf("calls=%d", 4+extra), func(b *testing.B) {
			var sink uint
			runOn(b, "lcore", func(n int) {
				for range n {
					f.forward(f.a, f.b, f.ab.Pkts)
					for range extra / 2 {
						sink += dpdk.LcoreID()
					}
					f.forward(f.b, f.a, f.ba.Pkts)
					for range extra / 2 {
						sink += dpdk.LcoreID()
					}
				}
			})
			_ = sink
		})
	}
}
