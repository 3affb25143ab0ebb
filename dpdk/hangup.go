package dpdk

/*
#include <stdint.h>
extern uint64_t pw_hangup_sends;
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// DPDK 22.11's memif server, when it accepts a connection, registers an
// interrupt callback for it and sends its hello. If the peer already hung
// up, the send fails with EPIPE and the PMD closes the socket and frees the
// callback's argument without unregistering the callback: the next time
// EAL's interrupt thread rebuilds its epoll set it panics ("Error adding fd
// N epoll_ctl, Bad file descriptor"). Anyone who may connect to a memif
// socket (a pod whose app crashes during the handshake, say) could stop
// podwired that way.
//
// This package puts a sendmsg in front of libc's for the whole process
// that, on the interrupt thread only, reports a send to a peer that is
// gone as done. The PMD keeps the connection registered, sees the hang-up
// as the socket's next event and tears the connection down the regular
// way.

// HangupSends returns how many sends on EAL's interrupt thread found the
// peer gone and were reported as done.
func HangupSends() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&C.pw_hangup_sends)))
}
