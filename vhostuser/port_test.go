package vhostuser_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/podwire/podwire/vhostuser"
)

// nobody is the non-root pod user: uid nobody, gid nogroup.
var nobody = &podUser{uid: 65534, gid: 65534}

// TestPodTraffic attaches a real DPDK pod (dpdk-testpmd in io mode, in its
// own netns, running as nobody) in each mode, passes frames podwired -> pod
// -> podwired, and checks that Close leaves nothing behind.
func TestPodTraffic(t *testing.T) {
	for _, tc := range []struct {
		mode vhostuser.Mode
		// podVdev is the pod's device on the socket at sock.
		podVdev func(sock string) string
	}{
		{vhostuser.VhostServer, func(sock string) string {
			return "net_virtio_user0,path=" + sock + ",queues=1,queue_size=1024"
		}},
		{vhostuser.VhostClient, func(sock string) string {
			return "net_virtio_user0,path=" + sock + ",server=1,queues=1,queue_size=1024"
		}},
		{vhostuser.Memif, func(sock string) string {
			return "net_memif0,role=client,id=0,socket=" + sock + ",socket-abstract=no"
		}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			checkPool(t)
			// The pod's group may use the directory and the socket; others not.
			m := newManager(t, vhostuser.Perms{UID: -1, GID: nobody.gid})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := create(t, m, vhostuser.Spec{ContainerID: "traffic" + string(tc.mode), IfName: "net1", Mode: tc.mode})
			eth := p.Ethdev()
			startPort(t, eth)
			if err := p.ApplySocketPerms(ctx); err != nil {
				t.Fatal(err)
			}
			mode, _, gid := statOf(t, p.Dir())
			wantDir := vhostuser.DefaultDirMode
			if tc.mode != vhostuser.VhostServer {
				// The pod creates its socket here (vhost-client); DPDK's
				// memif client wants to write here too.
				wantDir = vhostuser.DefaultWritableDirMode
			}
			if mode.Perm() != wantDir || gid != uint32(nobody.gid) {
				t.Fatalf("directory: mode %v gid %d, want %v gid %d", mode, gid, wantDir, nobody.gid)
			}
			if tc.mode != vhostuser.VhostClient {
				mode, _, gid := statOf(t, p.SocketPath())
				if mode.Type() != os.ModeSocket || mode.Perm() != vhostuser.DefaultSocketMode || gid != uint32(nobody.gid) {
					t.Fatalf("socket: mode %v gid %d, want socket %v gid %d", mode, gid, vhostuser.DefaultSocketMode, nobody.gid)
				}
			}

			pd := startPod(t, tc.podVdev(p.SocketPath()), nobody)
			// In VhostClient mode the pod's EAL init waits for podwired's
			// client to connect (it retries about once a second).
			waitLinkUp(t, eth, 20*time.Second, pd)
			pd.send("start")
			pd.waitFor(t, "packet forwarding - ports=1", 0, 20*time.Second)

			const n = 64
			for round := range 3 {
				seq0 := uint32(round * 1000)
				sendFrames(t, eth, n, 64+round*700, seq0)
				receiveFrames(t, eth, n, seq0, 5*time.Second, pd)
			}
			rx, tx := pd.stopForwarding(t)
			if rx < 3*n || tx < 3*n {
				t.Fatalf("pod forwarded rx %d tx %d, want >= %d each way", rx, tx, 3*n)
			}
			// The pod goes first: nothing polls the port while its peer
			// leaves (the memif teardown race of 22.11).
			pd.stop(t)
			closePort(t, p)
			if es := entries(t, m.BaseDir()); len(es) != 0 {
				t.Fatalf("base directory not empty after Close: %v", es)
			}
		})
	}
}

// TestClosePodConnected: Close works while the pod is still attached, and
// in VhostClient mode leaves alone the socket a live pod listens on.
func TestClosePodConnected(t *testing.T) {
	checkPool(t)
	m := newManager(t, vhostuser.Perms{})
	p := create(t, m, vhostuser.Spec{ContainerID: "connected", IfName: "net1", Mode: vhostuser.VhostClient})
	startPort(t, p.Ethdev())
	pd := startPod(t, "net_virtio_user0,path="+p.SocketPath()+",server=1,queues=1,queue_size=1024", nil)
	waitLinkUp(t, p.Ethdev(), 20*time.Second, pd)
	pd.waitFor(t, "testpmd>", 0, 10*time.Second)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.SocketPath()); err != nil {
		t.Fatalf("the live pod's socket was removed: %v", err)
	}
	// The pod is deleted (SIGKILL, as the kubelet would after its grace
	// period: a virtio_user server whose vhost client went away does not
	// always quit cleanly).
	pd.kill()
	// The pod is gone; a Create for the same attachment leaves its socket
	// (Create never probes the pod's socket), and the next Close finds it
	// dead and removes it with the directory.
	p2 := create(t, m, vhostuser.Spec{ContainerID: "connected", IfName: "net1", Mode: vhostuser.VhostClient})
	if _, err := os.Lstat(p2.SocketPath()); err != nil {
		t.Fatalf("dead pod socket removed by Create: %v", err)
	}
	closePort(t, p2)
	if _, err := os.Lstat(p2.SocketPath()); !os.IsNotExist(err) {
		t.Fatalf("dead pod socket still there after Close: %v", err)
	}
}

// TestMemifCloseReleasesListener: DPDK 22.11's memif PMD leaves its
// listening socket open when the device is removed; Close closes it, so
// creating and closing memif ports (at the same path and at new ones)
// leaves this process with the descriptors it had.
func TestMemifCloseReleasesListener(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	// A first port warms up what the PMD keeps for the process (its
	// socket hash table).
	closePort(t, create(t, m, vhostuser.Spec{ContainerID: "warm", IfName: "net1", Mode: vhostuser.Memif}))
	before := fds()
	for i := range 10 {
		closePort(t, create(t, m, vhostuser.Spec{ContainerID: "same", IfName: "net1", Mode: vhostuser.Memif}))
		closePort(t, create(t, m, vhostuser.Spec{ContainerID: fmt.Sprintf("new%d", i), IfName: "net1", Mode: vhostuser.Memif}))
	}
	if after := fds(); after != before {
		t.Fatalf("%d open descriptors after 20 memif ports were created and closed, %d before", after, before)
	}
}
