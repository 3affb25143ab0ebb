package dpdk

/*
#cgo noescape pw_rx_multi
#cgo nocallback pw_rx_multi
#cgo noescape pw_tx_multi
#cgo nocallback pw_tx_multi
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// RxBatch polls many rx queues in one cgo call: a poll loop that serves
// several queues crosses into C once for all of them instead of once per
// queue. Its queue list and packet slots live in C memory. An RxBatch
// belongs to one lcore; Free releases it.
type RxBatch struct {
	qs    []C.struct_pw_rxq
	pkts  *MbufArray
	burst int
	n     int // queues in use
}

// NewRxBatch makes a batch of up to maxQueues queues with burst packet
// slots each.
func NewRxBatch(maxQueues, burst int) (*RxBatch, error) {
	if maxQueues < 1 || maxQueues > 1<<15 || burst < 1 || burst > 1<<15 {
		return nil, fmt.Errorf("rx batch: %d queues of burst %d out of range", maxQueues, burst)
	}
	ptr := C.calloc(C.size_t(maxQueues), C.size_t(unsafe.Sizeof(C.struct_pw_rxq{})))
	return &RxBatch{
		qs:    unsafe.Slice((*C.struct_pw_rxq)(ptr), maxQueues),
		pkts:  NewMbufArray(maxQueues * burst),
		burst: burst,
	}, nil
}

// MaxQueues is how many queues the batch holds.
func (b *RxBatch) MaxQueues() int { return len(b.qs) }

// Reset empties the queue list.
func (b *RxBatch) Reset() { b.n = 0 }

// Add appends queue q of port p; ifUp makes Poll read the link state
// first and skip the queue while the link is down (see RxBurstIfUp). It
// returns the queue's index in the batch.
func (b *RxBatch) Add(p Port, q uint16, ifUp bool) int {
	if b.n == len(b.qs) {
		panic("dpdk: RxBatch full")
	}
	up := C.uint16_t(0)
	if ifUp {
		up = 1
	}
	b.qs[b.n] = C.struct_pw_rxq{port: C.uint16_t(p), queue: C.uint16_t(q), if_up: up}
	b.n++
	return b.n - 1
}

// Len is the number of queues in the batch.
func (b *RxBatch) Len() int { return b.n }

// Poll receives up to the batch's burst from every queue
// (rte_eth_rx_burst each) and returns the total. The caller owns the
// packets, which Pkts returns per queue, until the next Poll.
func (b *RxBatch) Poll() int {
	if b.n == 0 {
		return 0
	}
	return int(C.pw_rx_multi(&b.qs[0], C.uint16_t(b.n), (**C.struct_rte_mbuf)(b.pkts.ptr), C.uint16_t(b.burst)))
}

// Pkts returns the packets the last Poll received from queue i.
func (b *RxBatch) Pkts(i int) []*Mbuf {
	off := i * b.burst
	return b.pkts.Pkts[off : off+int(b.qs[i].n)]
}

// Free releases the batch (not the packets it received).
func (b *RxBatch) Free() {
	if b.qs != nil {
		C.free(unsafe.Pointer(&b.qs[0]))
		b.qs = nil
		b.pkts.Free()
	}
}

// TxBatch sends bursts on many tx queues in one cgo call. The packet
// arrays it sends from must be in C memory (MbufArray). A TxBatch belongs
// to one lcore; Free releases it.
type TxBatch struct {
	qs []C.struct_pw_txq
	n  int
}

// NewTxBatch makes a batch of up to max bursts.
func NewTxBatch(max int) (*TxBatch, error) {
	if max < 1 || max > 1<<15 {
		return nil, fmt.Errorf("tx batch: %d bursts out of range", max)
	}
	ptr := C.calloc(C.size_t(max), C.size_t(unsafe.Sizeof(C.struct_pw_txq{})))
	return &TxBatch{qs: unsafe.Slice((*C.struct_pw_txq)(ptr), max)}, nil
}

// Add appends a burst of pkts (in C memory, at most 65535) for queue q of
// port p and returns its index.
func (b *TxBatch) Add(p Port, q uint16, pkts []*Mbuf) int {
	if b.n == len(b.qs) {
		panic("dpdk: TxBatch full")
	}
	var ptr **C.struct_rte_mbuf
	if len(pkts) > 0 {
		ptr = (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0]))
	}
	b.qs[b.n] = C.struct_pw_txq{pkts: ptr, port: C.uint16_t(p), queue: C.uint16_t(q), n: C.uint16_t(len(pkts))}
	b.n++
	return b.n - 1
}

// Full reports whether the batch has no room for another burst.
func (b *TxBatch) Full() bool { return b.n == len(b.qs) }

// Len is the number of bursts in the batch.
func (b *TxBatch) Len() int { return b.n }

// Send sends every burst (rte_eth_tx_burst each). Afterwards Sent(i) says
// how many packets of burst i the port took; the caller still owns the
// rest. Reset empties the batch for the next round.
func (b *TxBatch) Send() {
	if b.n > 0 {
		C.pw_tx_multi(&b.qs[0], C.uint16_t(b.n))
	}
}

// Sent is how many packets of burst i the last Send handed to the port.
func (b *TxBatch) Sent(i int) int { return int(b.qs[i].sent) }

// Reset empties the batch.
func (b *TxBatch) Reset() { b.n = 0 }

// Free releases the batch (not the packets).
func (b *TxBatch) Free() {
	if b.qs != nil {
		C.free(unsafe.Pointer(&b.qs[0]))
		b.qs = nil
	}
}
