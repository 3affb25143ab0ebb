package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// LcoreAny is the lcore id of a thread DPDK does not know (LCORE_ID_ANY).
const LcoreAny = ^uint(0) >> (64 - 32) // UINT32_MAX

// LcoreID returns the calling thread's lcore id (rte_lcore_id), or LcoreAny.
// Only meaningful on a locked OS thread.
func LcoreID() uint { return uint(C.pw_lcore_id()) }

// MainLcore returns the id of the main lcore (rte_get_main_lcore).
func MainLcore() uint { return uint(C.rte_get_main_lcore()) }

// WorkerLcores returns the EAL worker lcores, main lcore excluded
// (rte_get_next_lcore).
func WorkerLcores() []uint {
	var ids []uint
	for id := C.pw_next_lcore(-1); id < C.RTE_MAX_LCORE; id = C.pw_next_lcore(id) {
		ids = append(ids, uint(id))
	}
	return ids
}

// LcoreCPU returns the CPU an lcore runs on (rte_lcore_to_cpu_id), or -1.
func LcoreCPU(lcore uint) int { return int(C.rte_lcore_to_cpu_id(C.int(lcore))) }

// LcoreCount returns the number of lcores EAL knows (rte_lcore_count).
func LcoreCount() int { return int(C.rte_lcore_count()) }

// launches maps a launch key to the Go function an EAL lcore runs.
var launches struct {
	sync.Mutex
	next uintptr
	fns  map[uintptr]*launch
	busy map[uint]*launch // by lcore
}

type launch struct {
	fn   func() error
	err  error
	done chan struct{}
}

//export goLcoreEntry
func goLcoreEntry(key C.uintptr_t) C.int {
	launches.Lock()
	l := launches.fns[uintptr(key)]
	delete(launches.fns, uintptr(key))
	launches.Unlock()
	if l == nil {
		return -C.EINVAL
	}
	defer close(l.done)
	l.err = l.fn()
	if l.err != nil {
		return -1
	}
	return 0
}

// Launch runs fn on the EAL worker lcore (rte_eal_remote_launch). fn runs on
// the lcore's own thread, which EAL created and pinned; it is locked there
// for as long as fn runs, and per-lcore state (mempool caches, rte_lcore_id)
// is that lcore's. The lcore must be idle; Wait collects fn's result.
func Launch(lcore uint, fn func() error) error {
	if !Initialized() {
		return ErrNotInitialized
	}
	launches.Lock()
	if launches.fns == nil {
		launches.fns = map[uintptr]*launch{}
		launches.busy = map[uint]*launch{}
	}
	if launches.busy[lcore] != nil {
		launches.Unlock()
		return fmt.Errorf("launch on lcore %d: %w", lcore, newError("rte_eal_remote_launch", int(C.EBUSY)))
	}
	launches.next++
	key := launches.next
	l := &launch{fn: fn, done: make(chan struct{})}
	launches.fns[key] = l
	launches.busy[lcore] = l
	launches.Unlock()

	rc := C.pw_remote_launch(C.uintptr_t(key), C.uint(lcore))
	if rc < 0 {
		launches.Lock()
		delete(launches.fns, key)
		delete(launches.busy, lcore)
		launches.Unlock()
		return rcError(fmt.Sprintf("rte_eal_remote_launch lcore %d", lcore), rc)
	}
	return nil
}

// Wait waits for the function launched on lcore to return and gives its
// error (rte_eal_wait_lcore). It blocks in Go, not in DPDK's spin loop.
func Wait(lcore uint) error {
	launches.Lock()
	l := launches.busy[lcore]
	launches.Unlock()
	if l == nil {
		return nil
	}
	<-l.done
	// The lcore leaves the RUNNING state right after fn returns.
	C.rte_eal_wait_lcore(C.uint(lcore))
	launches.Lock()
	delete(launches.busy, lcore)
	launches.Unlock()
	return l.err
}

// Thread is a Go-created OS thread that DPDK knows as an lcore.
type Thread struct {
	Lcore uint // the lcore id rte_thread_register gave it
	CPU   int
	done  chan struct{}
}

// StartThread runs fn on a new OS thread that is locked to its goroutine,
// pinned to cpu (rte_thread_set_affinity; cpu < 0 keeps the current
// affinity) and registered with DPDK as a non-EAL lcore
// (rte_thread_register), so that per-lcore mempool caches work. fn gets the
// lcore id. When fn returns the thread is unregistered
// (rte_thread_unregister) and exits.
func StartThread(cpu int, fn func(lcore uint)) (*Thread, error) {
	if !Initialized() {
		return nil, ErrNotInitialized
	}
	t := &Thread{CPU: cpu, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the affinity changes, so the thread exits with
		// the goroutine instead of going back to Go's pool.
		runtime.LockOSThread()
		defer close(t.done)
		rc := C.pw_thread_pin_register(C.int(cpu))
		if rc < 0 {
			errc <- newError(fmt.Sprintf("rte_thread_register on cpu %d", cpu), int(rc))
			return
		}
		t.Lcore = uint(rc)
		tid := unix.Gettid()
		pinned.Store(tid, struct{}{})
		defer pinned.Delete(tid)
		errc <- nil
		defer C.rte_thread_unregister()
		fn(t.Lcore)
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// Wait blocks until the thread's function has returned.
func (t *Thread) Wait() { <-t.done }
