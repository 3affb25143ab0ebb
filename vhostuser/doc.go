// Package vhostuser turns a pod attachment (container ID, interface name,
// mode) into a probed DPDK device on a socket the pod can reach, and cleans
// it up again. To the forwarder the result is a dpdk.Port like any other;
// this package never imports forwarder/.
//
// # Modes
//
// Mode names podwired's side; the device-info JSON names the pod's side:
//
//	Mode         podwired vdev                       pod vdev                               device-info
//	VhostServer  net_vhostN,iface=S,queues=Q         net_virtio_user0,path=S                vhost-user mode "client"
//	VhostClient  net_vhostN,iface=S,client=1,...     net_virtio_user0,path=S,server=1       vhost-user mode "server"
//	Memif        net_memifN,role=server,id=0,        net_memif0,role=client,id=0,           memif role "slave", mode "ethernet"
//	             socket=S,socket-abstract=no         socket=S,socket-abstract=no
//
// VhostClient is the restart-safe choice: DPDK's vhost client reconnects by
// itself after either side restarts, while a pod's virtio_user client never
// reconnects to a restarted server.
//
// # Files
//
// Each attachment gets a directory <base>/<hash>/ (base defaults to
// /run/podwire/sockets; hash is 12 hex digits of SHA-256 over
// "containerID/ifName"), so that the socket path has the same short length
// whatever the container ID, and New refuses a base too long for sun_path
// (108 bytes). The directory holds the socket (vhost.sock or memif.sock) and
// device-info.json (NPWG device-info spec 1.1.0). Owner and mode of the
// directory and of the sockets podwired creates come from Perms, applied with
// fchown/fchmod on file descriptors, so the umask does not matter and a
// symlink planted in a pod-writable directory is never followed.
//
// A server role refuses to bind over a leftover socket file ("Address
// already in use"), so Create removes one first, but only when it is a socket
// (not a regular file, directory or symlink), lies in the attachment's own
// directory, and nothing listens on it (connect gives ECONNREFUSED); anything
// else is refused with ErrNotSocket or ErrSocketInUse.
//
// Socket permissions are also the only guard of podwired itself: a memif
// server of DPDK 22.11.11 aborts the whole process (PANIC in
// eal_intr_thread_main, epoll_ctl on a closed fd) when a client connects
// and hangs up before the memif handshake. Keep memif directories
// reachable by their pod alone.
//
// # Lifecycle and ownership
//
// Manager.Create validates the Spec, makes the directory, clears a stale
// socket, probes the device (dpdk.Probe) and writes device-info.json. The
// Port it returns owns the device, the socket podwired created, the
// device-info file and the directory; Port.Close removes them all (the device
// through dpdk.Port.Remove, the directory only when it is empty). Create
// neither configures nor starts the ethdev port: the forwarder does, and must
// stop polling it before Close. A vhost-user server creates its socket only
// when the port starts, so the caller applies the socket's owner and mode
// with Port.ApplySocketPerms after starting it; for memif (socket made at
// probe) Create does it. In VhostClient mode the pod owns the socket; Close
// removes it only if nothing listens on it any more.
//
// Vdev names (net_vhostN, net_memifN) come from a process-wide counter that
// skips names the EAL already has; a name is never handed out twice in one
// process, so late callbacks of a removed device cannot meet a new one of the
// same name.
//
// # Threads
//
// A Manager and its Ports are safe for concurrent use. Create and Close
// call into DPDK's hot-plug API, which may run from any goroutine; nothing
// here is on the data path.
package vhostuser
