// Command kernelport measures the candidates for podwire's kernel ports: a
// netdev in an ordinary pod's network namespace whose other end podwired
// drives with DPDK. Results and the recommendation are in
// docs/kernel-ports.md.
//
//	go build -o /tmp/kernelport ./bench/kernelport && sudo /tmp/kernelport [-rounds 9] [-duration 1s] [-json out.json] [-v]
//
// # Candidates
//
//   - tap: net_tap whose interface the PMD creates inside the pod's netns
//     (probe and queue setup from a thread that entered it).
//   - af_packet: a veth pair, one end in the pod's netns, net_af_packet on
//     the other end in a "node" netns standing in for the host.
//   - af_xdp: the same veth pair with net_af_xdp (start_queue=0,queue_count=1).
//   - af_packet_qb (only when asked for with -candidates): af_packet with
//     qdisc_bypass=1.
//   - vhost-net: net_virtio_user on /dev/vhost-net (the exception path); it
//     is probed twice and its errors recorded.
//
// # Method
//
// Each round sets up every candidate at once, each in its own pair of
// namespaces with its own mbuf pool, then measures each mode on all of them
// back to back (order alternating between rounds and modes), so the
// candidates of one mode see nearly the same background load, and tears
// them down. Frames are 60 bytes (64 with FCS) with ethertype 0x88b5.
//
//   - kernel->dpdk: a generator in the pod's netns (AF_PACKET, sendmmsg of 64
//     frames, PACKET_QDISC_BYPASS, pinned to CPU 0) sends as fast as the
//     kernel takes frames; DPDK receives and frees on EAL lcore 1 (CPU 1).
//     Reported: what DPDK received, and what the generator sent.
//   - dpdk->kernel: DPDK sends copies of a frame addressed to the pod's
//     netdev as fast as the PMD takes them; the pod netdev's rx_packets
//     (from /proc/thread-self/net/dev in the pod's netns) is what the
//     kernel received. The stack then drops them (unknown ethertype, counted
//     as rx drops): the figure is the netdev's delivery rate, not an app's.
//   - reflect: the generator sends, DPDK swaps the MACs and sends every
//     frame back; reported: DPDK rx and the pod netdev's rx.
//
// Rates are over the window after a warm-up. The summary gives median
// (min-max) per candidate and, per round and mode, the ratio to af_packet
// measured in the same round. After each round the program records
// whether the pod's netdev outlives the DPDK port (a podwired restart must
// not take the pod's interface and addresses away) and how many mbufs
// removing the port failed to give back to its pool; the pool is freed
// regardless.
//
// # Threads and ownership
//
// The EAL runs in this process (lcores 0 and 1, --in-memory, --no-pci). The
// DPDK loop runs on lcore 1 through dpdk.Launch and allocates nothing. Work
// inside a namespace runs on an nsThread: an OS thread locked to a
// goroutine that entered the namespace with setns and never returns to
// Go's pool. The program owns every namespace (named pwkp<pid>_<n>pod and
// ..node), interface, port and pool it makes, and removes them at the end
// of each round, on errors too; namespaces of a killed earlier run with the
// same pid are deleted before reuse.
//
// # Caveats built in
//
// DPDK 22.11's tap PMD installs its rx-trigger signal handler without
// SA_ONSTACK, which corrupts goroutine stacks in a Go process; the tap
// candidate adds SA_ONSTACK after probing (fixSignalStacks) until package
// dpdk does it. The machine is shared: the load average is printed with
// every sample.
package main
