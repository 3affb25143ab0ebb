// Command podwire-demo shows packets moving through podwire's Go data path,
// end to end, in about ten seconds: `make demo`, or bin/podwire-demo as root.
//
// It is the smallest real thing, not a stub. The demo initializes DPDK's EAL
// in this process (package dpdk, lcores 0 and 1, --in-memory) and hot-plugs a
// vhost-user server port (net_vhost0) on a socket in a short temporary
// directory. A "pod" is a network namespace running dpdk-testpmd with a
// net_virtio_user port on that socket, in io mode with `start tx_first 32`.
// That puts 1024 packets in flight. They go round pod -> podwire -> pod:
// a Go loop on EAL lcore 1 receives a burst, swaps the Ethernet source and
// destination MACs in place in the mbufs and sends the burst back out of the
// same port.
//
// Threads and CPUs: the forwarding loop runs on lcore 1 (CPU 1), and
// testpmd's forwarding lcore on CPU 0. The EAL main thread (CPU 0) and
// testpmd's CLI thread (CPU 1) sit idle. The loop writes its counters (one
// writer) and publishes them with atomic stores once per burst; the main
// goroutine reads them once a second for the progress line.
//
// Ownership: the loop owns the mbufs it receives until TxBurst takes them,
// and frees (and counts as tx drops) those that TxBurst refuses. The demo
// owns everything it creates, and removes it on every exit path, Ctrl-C and
// SIGTERM included: the loop (stopped, then Wait), testpmd (stop and quit
// on its stdin, then SIGKILL by PID after a timeout), the vhost port, the
// mbuf pool, the network namespace, the socket directory, the EAL, and the
// EAL runtime directories under /var/run/dpdk of both processes.
//
// Flags: -seconds (default 5) sets how long traffic runs; -v shows the EAL
// and testpmd logs. The demo needs root, dpdk-testpmd and ip on PATH, 2 CPUs
// and free 2 MiB hugepages on a hugetlbfs mount (`make setup` prepares them).
package main
