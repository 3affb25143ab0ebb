package main

import (
	"fmt"
	"sync/atomic"

	"github.com/podwire/podwire/dpdk"
)

// loopMode is what the DPDK side does on its lcore.
type loopMode int

const (
	// modeRx receives and frees: kernel -> DPDK capacity.
	modeRx loopMode = iota
	// modeTx sends copies of a frame as fast as the port takes them:
	// DPDK -> kernel capacity.
	modeTx
	// modeReflect sends every received frame back out of the port with
	// source and destination MACs swapped: the kernel pod's round trip.
	modeReflect
)

func (m loopMode) String() string {
	return [...]string{"kernel->dpdk", "dpdk->kernel", "reflect"}[m]
}

// loopCounters are written by the loop once per burst (one writer) and
// read by the controller.
type loopCounters struct {
	rx, tx, txRefused atomic.Uint64
}

// loop is the DPDK side of one measurement, run on an EAL worker lcore by
// dpdk.Launch. It allocates nothing while it runs: the burst array is C
// memory (MbufArray) and the frame template is copied into mbuf data.
type loop struct {
	port  dpdk.Port
	pool  *dpdk.Mempool
	mode  loopMode
	frame []byte // modeTx template
	stop  atomic.Bool
	c     loopCounters
}

func (l *loop) run() error {
	const burst = 32
	arr := dpdk.NewMbufArray(burst)
	defer arr.Free()
	pkts := arr.Pkts
	for !l.stop.Load() {
		switch l.mode {
		case modeRx:
			if n := l.port.RxBurst(0, pkts); n > 0 {
				dpdk.FreeBulk(pkts[:n])
				l.c.rx.Add(uint64(n))
			}
		case modeTx:
			if err := l.pool.AllocBulk(pkts); err != nil {
				continue // pool empty for a moment: the PMD still holds mbufs
			}
			for _, m := range pkts {
				copy(m.Append(len(l.frame)), l.frame)
			}
			sent := l.port.TxBurst(0, pkts)
			dpdk.FreeBulk(pkts[sent:])
			l.c.tx.Add(uint64(sent))
			l.c.txRefused.Add(uint64(burst - sent))
		case modeReflect:
			n := l.port.RxBurst(0, pkts)
			if n == 0 {
				continue
			}
			for _, m := range pkts[:n] {
				d := m.Data()
				if len(d) >= 12 {
					var mac [6]byte
					copy(mac[:], d[0:6])
					copy(d[0:6], d[6:12])
					copy(d[6:12], mac[:])
				}
			}
			sent := l.port.TxBurst(0, pkts[:n])
			dpdk.FreeBulk(pkts[sent:n])
			l.c.rx.Add(uint64(n))
			l.c.tx.Add(uint64(sent))
			l.c.txRefused.Add(uint64(n - sent))
		}
	}
	return nil
}

// startLoop launches l on the first worker lcore.
func startLoop(l *loop) (stop func() error, err error) {
	workers := dpdk.WorkerLcores()
	if len(workers) == 0 {
		return nil, fmt.Errorf("no EAL worker lcore (run with 2 lcores)")
	}
	lc := workers[0]
	if err := dpdk.Launch(lc, l.run); err != nil {
		return nil, err
	}
	return func() error {
		l.stop.Store(true)
		return dpdk.Wait(lc)
	}, nil
}
