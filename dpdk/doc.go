// Package dpdk is podwire's own Go binding to DPDK 22.11, and the only
// package in podwire that uses cgo. It links Debian's DPDK through
// `#cgo pkg-config: libdpdk`; static inline DPDK functions and macros are
// reached through one-line C wrappers in shim.h, multi-call helpers live in
// shim.c. Each exported function's doc comment names the rte_* call it wraps.
//
// # Types
//
// Go types are the C structs: *Mbuf is a struct rte_mbuf, *Mempool a struct
// rte_mempool, *Ring a struct rte_ring, Port an ethdev port id. Mbuf fields
// are read and written from Go at offsets taken from the headers at build
// time, so per-packet work never crosses cgo; Mbuf.Data is a slice over the
// mbuf's own memory, no copy.
//
// # Cost model
//
// A cgo call costs about 40-60 ns. Bursts (RxBurst, TxBurst, AllocBulk,
// FreeBulk, Ring.Enqueue/Dequeue) are one call each, never one per packet,
// and allocate nothing. Burst arrays should be reused; an MbufArray keeps
// them in C memory where cgo's pointer checks do not look.
//
// # Threads
//
// Init runs rte_eal_init on a goroutine locked to a new OS thread; EAL pins
// that thread to the main lcore and it stays for the life of the EAL, running
// what OnMain and Cleanup give it. Control calls (ethdev setup, hot-plug,
// stats, mempool creation) may be made from any goroutine.
//
// Poll loops run on lcores, in one of two ways:
//   - Launch runs a Go function on an EAL worker lcore (one of -l, main
//     excluded) through rte_eal_remote_launch; the EAL thread calls into Go and
//     stays there until the function returns. Wait collects its error.
//   - StartThread creates a new OS thread, locks it, pins it to a CPU and
//     registers it with rte_thread_register, so that it has an lcore id.
//
// Either way rte_lcore_id is set and per-lcore mempool caches work. A
// queue (rx or tx) of a port must be used by one lcore at a time. A Go poll
// loop must not allocate: a loop that never allocates is stopped only by the
// scheduler's stop-the-world phases, which other goroutines' allocations cause.
//
// # Signals and network namespaces
//
// The Go runtime handles every signal, real-time ones included, so DPDK's
// tap PMD finds no free real-time signal for its rx trigger, logs "All
// rt-signals are in use" and polls without it. That is deliberate: a DPDK
// signal handler installed without SA_ONSTACK would run on goroutine stacks
// and corrupt them. The tap PMD also opens /dev/net/tun once per queue in
// the calling thread's network namespace: to put a tap interface into a
// pod's namespace, probe and set up the port from a locked thread that has
// entered it (see tap_test.go).
//
// # Ownership
//
//   - The creator of a Mempool or Ring frees it (Free) after every port,
//     lcore and mbuf that uses it is done.
//   - An mbuf belongs to whoever holds the pointer: RxBurst, Alloc,
//     AllocBulk and Ring.Dequeue give mbufs to the caller; TxBurst and
//     Ring.Enqueue take those they accept and leave the rest with the caller,
//     who must retry or free them (FreeBulk).
//   - Ports come from EAL's --vdev, the PCI scan or Probe at runtime; Remove
//     stops and removes the device (rte_dev_remove) while other ports run.
//     No lcore may poll a port that is being stopped or removed.
//
// # Errors
//
// Failed calls return *Error, which names the call and wraps the errno
// (errors.Is(err, syscall.ENODEV)), with DPDK's text from rte_strerror.
// rte_errno is thread-local, so it is read in the same C call that failed.
package dpdk
