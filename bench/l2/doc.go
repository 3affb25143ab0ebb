// Package l2 benchmarks podwired's L2 switching against dpdk-testpmd
// --forward-mode=mac in podwired's place, between the two ports of one
// pod, over vhost-user and over memif (issue 3, "Benchmarks").
//
// # Model
//
// The pod is one dpdk-testpmd forwarding on cpu 0 (lcores 0,1, main 1)
// with two ports, MACs PodMACs[0] and [1]: two net_virtio_user clients
// (Vhost) or two net_memif clients (Memif). It loops in io mode after
// "start tx_first N": each port sends N bursts addressed to the other
// port's MAC (--eth-peer), and from then on forwards what one port
// receives out of the other, unchanged. Frames therefore always enter the
// switch on the port that owns their source MAC, go to the other pod
// port, and circulate; nothing is ever flooded.
//
// The forwarder runs on cpu 1, its control plane on cpu 0:
//
//   - podwired (-lcores 0,1, worker on lcore 1, -idle-sleep 0) with two
//     attachments in network "default", each with the pod port's MAC as a
//     static MAC. vhost-user attachments use vhostMode "server" (podwired
//     creates the socket, the pod connects with path=), memif ones make
//     podwired the server. Its figure comes from the API's port counters.
//   - testpmd -l 0,1 --main-lcore 0 with two net_vhost (or net_memif
//     server) ports, --forward-mode=mac, --eth-peer of each port = the pod
//     port behind it: it rewrites both MACs of every frame, as a switch
//     that knows where each MAC lives would have to look up. Its figure
//     comes from two "show port stats all".
//
// Both get podwired's burst, descriptor counts and mbuf pool (Setup). The
// figure is the forwarder's total RX packets per second of both ports over
// a window after a warm-up. Each round runs one trial of each side, the
// side that goes first alternating; Run reports, per scenario, median, min
// and max of each side and median(podwired)/median(testpmd) against the
// scenario's Target. Each trial starts fresh processes, the forwarder first.
//
// # Noise
//
// Both loops are latency-bound (the pod's rx polls are mostly empty), so
// the figures follow how the hypervisor places the two vCPUs, and other
// processes on cpu 0 and 1 take whole time slices from the busy pollers.
// Every trial records its forwarding threads' cpu shares (iofwd.CPUShare),
// the steal time of both cpus, and how busy the cpus were just before it;
// Trial.Contended flags the noisy ones. Before each trial Run waits (up to
// Config.QuietWait) for a lull in other processes' load; a trial that
// forwards nothing is repeated (MaxTries).
//
// # Threads and ownership
//
// Everything runs on the caller's goroutine, one trial at a time. A trial
// owns every process it starts (podwired, testpmd forwarder, pod) and
// stops each by its PID before it returns, on errors and cancellation too
// (they also get SIGKILL if this process dies): the pod stops forwarding
// first, the forwarder (memif or vhost-user server) goes next, the pod
// last, because a DPDK 22.11 memif server can crash when its client
// disconnects while it polls. Each trial uses its own temporary directory
// for sockets, config and state, and its own EAL file prefixes, and removes
// them.
package l2
