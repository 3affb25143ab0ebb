package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// SocketAny lets DPDK choose the NUMA socket (SOCKET_ID_ANY).
const SocketAny = -1

// Mempool is a DPDK mempool (struct rte_mempool). It lives in hugepage
// memory owned by DPDK; whoever creates it frees it with Free, after every
// port and mbuf that uses it is gone.
type Mempool C.struct_rte_mempool

// MbufPoolConfig configures NewMbufPool.
type MbufPoolConfig struct {
	// Mbufs is the number of mbufs; n = 2^k - 1 is optimal for the ring.
	Mbufs uint32
	// Cache is the per-lcore cache size (0 to RTE_MEMPOOL_CACHE_MAX_SIZE).
	Cache uint32
	// DataRoom is each mbuf's data room including headroom; 0 means
	// RTE_MBUF_DEFAULT_BUF_SIZE (2048 + 128).
	DataRoom uint16
	// Socket is the NUMA socket, or SocketAny.
	Socket int
}

// NewMbufPool creates a packet mbuf pool (rte_pktmbuf_pool_create).
// The name must be unique in the process.
func NewMbufPool(name string, c MbufPoolConfig) (*Mempool, error) {
	if !Initialized() {
		return nil, ErrNotInitialized
	}
	room := c.DataRoom
	if room == 0 {
		room = C.RTE_MBUF_DEFAULT_BUF_SIZE
	}
	if c.Cache > C.RTE_MEMPOOL_CACHE_MAX_SIZE {
		return nil, fmt.Errorf("mempool %s: cache %d above %d", name, c.Cache, C.RTE_MEMPOOL_CACHE_MAX_SIZE)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.int
	mp := C.pw_pktmbuf_pool_create(cname, C.uint(c.Mbufs), C.uint(c.Cache), 0, C.uint16_t(room), C.int(c.Socket), &cerr)
	if mp == nil {
		return nil, newError(fmt.Sprintf("rte_pktmbuf_pool_create %s (%d mbufs)", name, c.Mbufs), int(cerr))
	}
	return (*Mempool)(mp), nil
}

// LookupMempool finds a mempool by name (rte_mempool_lookup).
func LookupMempool(name string) (*Mempool, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.int
	mp := C.pw_mempool_lookup(cname, &cerr)
	if mp == nil {
		return nil, newError("rte_mempool_lookup "+name, int(cerr))
	}
	return (*Mempool)(mp), nil
}

func (mp *Mempool) c() *C.struct_rte_mempool { return (*C.struct_rte_mempool)(mp) }

// Free releases the pool (rte_mempool_free). No mbuf of it may be in use.
func (mp *Mempool) Free() { C.rte_mempool_free(mp.c()) }

// Name returns the pool's name.
func (mp *Mempool) Name() string { return C.GoString(C.pw_mempool_name(mp.c())) }

// Size returns the number of mbufs in the pool.
func (mp *Mempool) Size() int { return int(C.pw_mempool_size(mp.c())) }

// InUse returns the number of mbufs allocated from the pool
// (rte_mempool_in_use_count); per-lcore caches count as free.
func (mp *Mempool) InUse() int { return int(C.rte_mempool_in_use_count(mp.c())) }

// Avail returns the number of free mbufs (rte_mempool_avail_count).
func (mp *Mempool) Avail() int { return int(C.rte_mempool_avail_count(mp.c())) }

// Alloc takes one mbuf from the pool (rte_pktmbuf_alloc), or nil when the
// pool is empty. One cgo call per mbuf: use AllocBulk on fast paths. The
// caller owns the mbuf until it hands it to TxBurst or frees it.
func (mp *Mempool) Alloc() *Mbuf { return (*Mbuf)(C.pw_pktmbuf_alloc(mp.c())) }

// AllocBulk fills pkts with new mbufs, all or none (rte_pktmbuf_alloc_bulk).
// pkts may live in Go or C memory. The caller owns the mbufs.
func (mp *Mempool) AllocBulk(pkts []*Mbuf) error {
	if len(pkts) == 0 {
		return nil
	}
	if rc := C.pw_pktmbuf_alloc_bulk(mp.c(), (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint(len(pkts))); rc != 0 {
		return newError("rte_pktmbuf_alloc_bulk "+mp.Name(), int(rc))
	}
	return nil
}
