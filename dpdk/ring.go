package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Ring is a lockless FIFO of pointers in DPDK memory (struct rte_ring),
// used here to pass mbufs between lcores. The creator frees it with Free
// once it is empty and no lcore uses it; mbufs on the ring belong to the
// ring until dequeued.
type Ring C.struct_rte_ring

// RingFlags select producer and consumer modes (RING_F_*).
type RingFlags uint

const (
	RingSingleProducer RingFlags = C.RING_F_SP_ENQ   // one enqueuing thread
	RingSingleConsumer RingFlags = C.RING_F_SC_DEQ   // one dequeuing thread
	RingExactSize      RingFlags = C.RING_F_EXACT_SZ // capacity is count, not count-1
)

// NewRing creates a ring of count slots (rte_ring_create); count must be a
// power of two unless RingExactSize is given. The name must be unique.
func NewRing(name string, count uint32, socket int, flags RingFlags) (*Ring, error) {
	if !Initialized() {
		return nil, ErrNotInitialized
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.int
	r := C.pw_ring_create(cname, C.uint(count), C.int(socket), C.uint(flags), &cerr)
	if r == nil {
		return nil, newError(fmt.Sprintf("rte_ring_create %s (%d slots)", name, count), int(cerr))
	}
	return (*Ring)(r), nil
}

// LookupRing finds a ring by name (rte_ring_lookup).
func LookupRing(name string) (*Ring, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.int
	r := C.pw_ring_lookup(cname, &cerr)
	if r == nil {
		return nil, newError("rte_ring_lookup "+name, int(cerr))
	}
	return (*Ring)(r), nil
}

func (r *Ring) c() *C.struct_rte_ring { return (*C.struct_rte_ring)(r) }

// Free releases the ring (rte_ring_free).
func (r *Ring) Free() { C.rte_ring_free(r.c()) }

// Name returns the ring's name.
func (r *Ring) Name() string { return C.GoString(C.pw_ring_name(r.c())) }

// Count is the number of entries on the ring (rte_ring_count).
func (r *Ring) Count() int { return int(C.pw_ring_count(r.c())) }

// FreeCount is the number of free slots (rte_ring_free_count).
func (r *Ring) FreeCount() int { return int(C.pw_ring_free_count(r.c())) }

// Capacity is the number of entries the ring can hold (rte_ring_get_capacity).
func (r *Ring) Capacity() int { return int(C.pw_ring_capacity(r.c())) }

// Enqueue puts as many of pkts on the ring as fit (rte_ring_enqueue_burst)
// and returns how many; the ring owns those, the caller keeps pkts[n:].
func (r *Ring) Enqueue(pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.pw_ring_enqueue_burst(r.c(), (*unsafe.Pointer)(unsafe.Pointer(&pkts[0])), C.uint(len(pkts))))
}

// Dequeue takes up to len(pkts) mbufs off the ring (rte_ring_dequeue_burst)
// and returns how many; the caller owns them.
func (r *Ring) Dequeue(pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.pw_ring_dequeue_burst(r.c(), (*unsafe.Pointer)(unsafe.Pointer(&pkts[0])), C.uint(len(pkts))))
}
