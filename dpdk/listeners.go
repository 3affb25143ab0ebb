package dpdk

/*
#include <stdlib.h>
#include "listeners.h"
*/
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"
)

// DPDK 22.11's memif PMD, as a server, listens on a unix socket and
// registers a callback for it with EAL's interrupt thread. Removing the
// device removes the socket file and frees the PMD's socket state, but
// neither unregisters the callback nor closes the descriptor: every removed
// memif port leaked one open file (and an epoll registration whose callback
// argument is freed memory).
//
// This package puts an rte_intr_callback_register in front of EAL's for the
// whole process (the executable's symbol comes first, also for PMDs loaded
// later) that passes every call on and remembers the callbacks registered
// on listening unix sockets. After the device is removed, its owner hands
// the descriptor to ReleasePMDListener, which unregisters the callback and
// closes it.

// PMDListener returns the descriptor of the newest listening unix socket
// bound to path on which a PMD registered an interrupt callback, or -1.
// Call it right after probing the device that listens there.
func PMDListener(path string) int {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	return int(C.pw_pmd_listener(cs))
}

// ReleasePMDListener unregisters the interrupt callback on fd, a listener
// that PMDListener returned for path, and closes fd. Call it only after the
// device that listened there is removed. It reports false, and closes
// nothing, when fd is no longer that listener or no callback is left on it
// (a PMD that cleans up after itself).
func ReleasePMDListener(fd int, path string) (bool, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	ret := C.pw_release_pmd_listener(C.int(fd), cs)
	if ret < 0 {
		return false, fmt.Errorf("release listener fd %d (%s): %w", fd, path, syscall.Errno(-ret))
	}
	return ret == 1, nil
}
