// Package iofwd benchmarks a Go-driven io forward loop against dpdk-testpmd's
// --forward-mode=io, on the same two net_null ports and the same core.
//
// # Model
//
// Two sides forward between net_null0 and net_null1 on lcore 1 (cpu 1),
// burst 32, one mempool of the same size with a per-lcore cache of 256:
//
//   - Forwarder is ours: an EAL in this process (lcores 0,1, main 0) and a
//     Go loop started with dpdk.Launch on lcore 1. Each iteration does
//     rx(A) -> tx(B) and rx(B) -> tx(A), one cgo call per burst, frees what
//     tx refused (dpdk.FreeBulk) and counts it.
//   - Testpmd runs dpdk-testpmd in a child process with the same EAL
//     arguments and drives it through its stdin: start, two
//     "show port stats all" a window apart, stop, quit.
//
// The figure for both is the total RX packets of the two ports per second
// over the window, from ethdev counters (Port.Stats for ours, testpmd's
// port stats for testpmd), after a warm-up. Run alternates the two sides for
// a number of rounds and reports medians and the ratio
// median(ours)/median(testpmd); absolute numbers on a shared VM swing, the
// ratio from alternating rounds is what counts.
//
// The pieces that do not depend on the forward loop are exported for the
// other benchmarks (bench/l2): Process drives any dpdk-testpmd through its
// prompt, ParsePortStats and RxDelta read its port counters, CPUShare and
// FindThread measure a thread's share of its cpu, Summarize and Compare
// make medians and ratios, Environment and WriteJSON describe the machine
// and write results.
//
// # Threads
//
// The forward loop runs on the EAL thread of lcore 1; it allocates nothing
// and checks an atomic stop flag once per iteration. Everything else (port
// setup, stats, testpmd I/O) runs on the caller's goroutine. The two sides
// never run at the same time: the loop is stopped (and the lcore idle) before
// testpmd starts, and testpmd has exited before the loop starts again.
//
// Unlike testpmd's C loop, the Go loop's thread can be parked by the Go
// scheduler: when the kernel deschedules it inside a cgo call (another busy
// thread on cpu 1), sysmon may take its P, and on return the locked goroutine
// waits for another Go thread (unpinned, on any cpu) to hand a P back. On a
// quiet machine this does not happen; on a loaded one it can stall the loop
// for tens of milliseconds, which is one reason ours is noisier than testpmd.
//
// # Ownership
//
// NewForwarder initializes the EAL (once per process: DPDK cannot be
// initialized twice) and owns the mempool, the ports and the burst arrays;
// Forwarder.Close stops and closes the ports, frees the pool and the arrays
// and cleans the EAL up. Mbufs belong to whoever holds them as the dpdk
// package describes: received ones are the loop's until tx takes them, and the
// loop frees the rest. Each Testpmd.Trial starts one testpmd process and stops
// it by its PID (quit, then SIGKILL if it does not exit) before returning,
// on errors and cancellation too. A Process belongs to its caller, who must
// Close it.
package iofwd
