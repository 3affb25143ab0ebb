// Command podwire-demo shows podwire doing its main job on one machine, in
// about ten seconds: `make demo`, or bin/podwire-demo as root after
// `make build`.
//
// It starts podwired (the binary next to its own executable, bin/podwired)
// on its embedded default config, with private temporary directories for the
// API socket, the state and the pods' sockets, its own EAL file prefix and
// -idle-sleep 0 (busy polling). It then attaches two DPDK pods through the
// podwire CNI plugin (bin/podwire), run by libcni exactly as a container
// runtime runs it: two network config lists (spec 1.1.0, type podwire, one
// per kind, podwiredSocket the demo's podwired, capability "mac") written
// to <tmp>/net.d and loaded from there, CNI_PATH the directory of the
// demo's executable (-cni-path), a private libcni cache directory, STATUS
// first, then ADD per pod with its netns path, container ID, ifname net1
// and MAC:
//
//	pod A  kind vhostuser (vhostMode client): the pod is the vhost-user
//	       server, net_virtio_user0,path=<socket>,server=1; podwired connects
//	pod B  kind memif: podwired is the memif server, the pod the client,
//	       net_memif0,role=client,socket=<socket>,socket-abstract=no
//
// The socket comes from socketPath in the 1.1.0 result; the pod's devargs
// are built from the device-info.json next to it (its vhost-user mode or
// memif role, and a path that must be the same socket), as docs/cni.md
// tells pods to. Once both pods' ports are up, CHECK runs for each.
//
// Each pod is a network namespace running dpdk-testpmd (internal/testpmd)
// with a static MAC that ADD gives podwired (capability "mac"), so both
// MACs are static entries in the MAC table of the network "default". Both
// testpmds run in "mac" forwarding mode with --eth-peer set to the other
// pod's MAC, and pod A starts with `start tx_first 32`: 1024 packets go round
// A -> podwired -> B -> podwired -> A, each pod rewriting the Ethernet
// addresses (source: its own MAC, destination: the peer's). Every packet is
// received and sent again, so traffic flows both ways at once, nothing is
// dropped by design, and podwired switches every packet by its destination
// MAC. (txonly would not do: it never polls its rx queue, so the other
// direction would end as podwired's tx_full drops.)
//
// The progress line each second and the summary come from podwired's own
// counters (GET /v1/counters): A -> B is what podwired sent out of pod B's
// port, B -> A what it sent out of pod A's port. The summary adds the drops
// by reason, a podwirectl-like port table next to the pods' own counts
// (testpmd's forward statistics), the MAC table and the workers.
//
// CPUs: podwired forwards on lcore 1 (CPU 1; its main lcore, 0, only serves
// the API); both pods forward on CPU 0 (testpmd -l 0,1 --main-lcore 1), so
// they share one core and the numbers are modest by construction.
//
// Ownership: the demo owns everything it creates and removes it on every
// exit path, Ctrl-C and SIGTERM included: it stops forwarding in the pods
// (testpmd "stop"), detaches them (CNI DEL through libcni, which removes
// their ports; a socket directory that still holds the pod's own
// vhost-user socket is left, inside the temporary directory), quits the
// testpmds (stop and quit on their stdin, SIGKILL by PID after a
// timeout), stops podwired (SIGTERM by PID and wait, SIGKILL after a
// timeout) and removes the network namespaces, the EAL runtime directories
// under /var/run/dpdk named by its file prefixes (which hold the demo's
// PID) and the temporary directory (API socket, state, socket
// directories, network configs, libcni cache). Detaching before the pods
// quit matters: podwired has crashed (SIGSEGV in rte_eth_rx_burst on the
// memif port) when the memif pod went away while the port was still
// polled. podwired and the testpmds run in their own process groups, so a
// Ctrl-C on the terminal reaches the demo alone, which then stops them in
// order; if the demo itself is killed, they get SIGTERM (podwired) and
// SIGKILL (testpmd) from the kernel.
//
// Flags: -seconds (default 5) sets how long traffic runs; -v shows
// podwired's log as it runs and the pods' output at the end; -podwired
// names another podwired binary, -cni-path other directories for the
// plugin. The demo needs root, dpdk-testpmd and ip on PATH, podwired and
// podwire built, two CPUs and free 2 MiB hugepages on a hugetlbfs mount
// (`make setup` prepares them).
package main
