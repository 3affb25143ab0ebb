package dpdk

/*
#include "unmapguard.h"
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// DPDK 22.11's memif PMD tears a connection down on EAL's interrupt thread
// (a peer's DISCONNECT message or hang-up): it clears the port's connected
// flag, then unmaps the peer's shared memory. A worker that read the flag
// just before is still copying into that memory: the process dies with
// SIGSEGV. A pod that quits cleanly does exactly this.
//
// The guard closes that window. A worker marks its loop body as a datapath
// section (DatapathEnter, DatapathLeave: one atomic add each). This package
// puts a munmap in front of libc's for the whole process; on the interrupt
// thread it waits until every lcore inside a section has left it once (a
// grace period) before unmapping. A worker that enters after the flag was
// cleared sees it clear and does not touch the memory. Other threads unmap
// as before.

var dpStates = unsafe.Slice((*C.struct_pw_dp_state)(unsafe.Pointer(&C.pw_dp_states[0])), C.RTE_MAX_LCORE)

func dpSeq(lcore uint) *uint64 { return (*uint64)(unsafe.Pointer(&dpStates[lcore].seq)) }

// DatapathEnter marks the calling lcore as inside its datapath section:
// until DatapathLeave, an unmap on EAL's interrupt thread waits for it.
// lcore must be the caller's own lcore id; sections do not nest.
func DatapathEnter(lcore uint) { atomic.AddUint64(dpSeq(lcore), 1) }

// DatapathLeave ends the section DatapathEnter began.
func DatapathLeave(lcore uint) { atomic.AddUint64(dpSeq(lcore), 1) }

// UnmapGuardStats returns how many unmaps on the interrupt thread waited
// for a worker, and how many of those waits timed out (100 ms).
func UnmapGuardStats() (waits, timeouts uint64) {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&C.pw_unmap_waits))),
		atomic.LoadUint64((*uint64)(unsafe.Pointer(&C.pw_unmap_timeouts)))
}
