package cni_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/testpmd"
)

// TestDPDKPodTraffic: two DPDK pods (dpdk-testpmd as a user that is not
// root, each in its own network namespace) ADDed through libcni, connect
// to the sockets the plugin handed over (also through a per-pod directory
// mounted into the pod) and bounce packets between each other through
// podwired; DEL removes socket and port and takes the pods' links down.
func TestDPDKPodTraffic(t *testing.T) {
	pw := podPodwired(t)
	idle, err := pw.client.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	owner := fmt.Sprintf("%d:%d", podUID, podGID)
	type podKind struct {
		name string
		conf map[string]any
	}
	vhost := podKind{"vhostuser", map[string]any{"kind": "vhostuser"}} // default: the pod is the vhost-user server
	vhostServer := podKind{"vhostuser-server", map[string]any{"kind": "vhostuser", "vhostMode": "server"}}
	memif := podKind{"memif", map[string]any{"kind": "memif"}}
	for _, tc := range []struct {
		name string
		pair [2]podKind
		// podDirs: the runtime passes the pod's UID, so the socket is in
		// the per-pod directory, which the pod mounts at podMount, as
		// docs/cni.md tells pods to; the pod cannot reach podwired's
		// socket directory otherwise.
		podDirs bool
	}{
		{"vhostuser+memif", [2]podKind{vhost, memif}, false},
		{"vhostuser-server+vhostuser", [2]podKind{vhostServer, vhost}, false},
		{"pod-dirs/vhostuser+memif", [2]podKind{vhost, memif}, true},
	} {
		pair := tc.pair
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t)
			macs := [2]string{"02:00:00:00:30:01", "02:00:00:00:30:02"}
			var (
				atts [2]*attachment
				pods [2]*testpmd.Pod
				ids  [2]string
			)
			if tc.podDirs {
				if err := os.Chmod(pw.dir, 0o700); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = os.Chmod(pw.dir, 0o755) })
			}
			for i, k := range pair {
				netns := newNS(t)
				conf := map[string]any{"podwiredSocket": pw.socket, "socketOwner": owner, "capabilities": map[string]bool{"mac": true}}
				for k, v := range k.conf {
					conf[k] = v
				}
				ids[i] = fmt.Sprintf("dpdk%d-%s", i, k.name)
				if !tc.podDirs {
					atts[i] = add(t, rt, netns, ids[i], "net1", conf, map[string]any{"mac": macs[i]})
					sock := atts[i].result.Interfaces[0].SocketPath
					pods[i] = startPod(t, netns, podVdev(t, atts[i].result, macs[i], sock), macs[1-i], podUID, podGID)
					continue
				}
				const podMount = "/mnt/podwire"
				conf["podMount"] = podMount
				uid := fmt.Sprintf("d0d0%04x-0000-4000-8000-%012x", os.Getpid()&0xffff, i)
				atts[i] = add(t, rt, netns, ids[i], "net1", conf, map[string]any{"mac": macs[i]},
					[2]string{"IgnoreUnknown", "1"}, [2]string{"K8S_POD_UID", uid})
				podDir := filepath.Join(pw.dir, "s", "pods", uid)
				sock := atts[i].result.Interfaces[0].SocketPath
				if filepath.Dir(sock) != filepath.Join(podDir, "net1") {
					t.Fatalf("pod %d: socketPath %s, not in %s/net1", i, sock, podDir)
				}
				inPod := filepath.Join(podMount, "net1", filepath.Base(sock))
				pods[i] = startPod(t, netns, podVdev(t, atts[i].result, macs[i], inPod), macs[1-i], podUID, podGID,
					testpmd.Mount{Host: podDir, Pod: podMount})
			}
			var ports [2]string
			for i, p := range pods {
				if err := p.WaitFor("testpmd>", 30*time.Second); err != nil {
					t.Fatalf("pod %d: %v", i, err)
				}
				ports[i] = waitUp(t, pw, ids[i], "net1", 15*time.Second, pods[:]...).PortName
			}
			// And the pods see their links up, so the first burst is not lost.
			for i, p := range pods {
				deadline := time.Now().Add(10 * time.Second)
				for {
					up, err := p.LinkUp(0, 5*time.Second)
					if err != nil {
						t.Fatalf("pod %d: %v", i, err)
					}
					if up {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("pod %d (%s): link down 10s after podwired saw it up:\n%s", i, pair[i].name, p.Output())
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			pods[1].Send("start")
			pods[0].Send("start tx_first 4") // 4 bursts of 32 packets circulate: a bounded loop

			// Both directions through podwired, counted on its ports.
			const want = 20000
			deadline := time.Now().Add(15 * time.Second)
			for {
				done := true
				var got []api.Counters
				for _, name := range ports {
					p, ok := portByName(t, pw, name)
					if !ok {
						t.Fatalf("podwired has no port %s", name)
					}
					got = append(got, p.Counters)
					done = done && p.Counters.RxPackets >= want && p.Counters.TxPackets >= want
				}
				if done {
					st, _ := pw.client.Status(ctxT(t))
					t.Logf("podwired ports: %s rx %d tx %d, %s rx %d tx %d; mbufs in use during traffic %d", ports[0], got[0].RxPackets, got[0].TxPackets,
						ports[1], got[1].RxPackets, got[1].TxPackets, st.MbufsInUse)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("podwired's counters after 15s: %s %+v, %s %+v (want >= %d each way)\npod0:\n%s\npod1:\n%s",
						ports[0], got[0], ports[1], got[1], want, pods[0].Output(), pods[1].Output())
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The pods' own counts, while the links are up (memif counters
			// reset on disconnect).
			for i, p := range pods {
				rx, tx, err := p.StopForwarding(10 * time.Second)
				if err != nil {
					t.Fatalf("pod %d: %v", i, err)
				}
				t.Logf("pod %d (%s): rx %d tx %d", i, pair[i].name, rx, tx)
				if rx < want || tx < want {
					t.Fatalf("pod %d forwarded rx %d tx %d, want >= %d each way", i, rx, tx, want)
				}
			}

			// DEL. A socket podwired made goes at DEL, while the pod still
			// runs, and the pod sees its link go down. A socket the pod
			// made (vhost-user, the pod the server) is the pod's while it
			// listens: as under Kubernetes, the pod exits first and DEL
			// then removes what it left (TestDELBeforePodServerExits has
			// the other order).
			for i, a := range atts {
				dir := filepath.Dir(a.result.Interfaces[0].SocketPath)
				p := pods[i]
				if podMadeSocket(pair[i].conf) {
					p.Stop(10 * time.Second)
				}
				a.del(t)
				if _, err := pw.client.Attachment(ctxT(t), ids[i], "net1"); !errors.Is(err, api.ErrNotFound) {
					t.Fatalf("attachment %s after DEL: %v", ids[i], err)
				}
				if _, ok := portByName(t, pw, ports[i]); ok {
					t.Fatalf("port %s still in podwired after DEL", ports[i])
				}
				if ents, err := os.ReadDir(dir); !os.IsNotExist(err) {
					t.Fatalf("pod %d (%s): socket directory %s after DEL: %v %v", i, pair[i].name, dir, dirNames(ents), err)
				}
				if !p.Exited() {
					waitLinkDown(t, p, pair[i].name)
					p.Stop(10 * time.Second)
				}
				// DPDK 22.11's virtio-user dies of SIGPIPE on quit when its
				// peer is gone; a memif client exits cleanly.
				if err := p.Err(); err != nil && pair[i].conf["kind"] == "memif" {
					t.Errorf("pod %d (%s) ended with %v:\n%s", i, pair[i].name, err, p.Output())
				}
			}
			if _, err := pw.client.Status(ctxT(t)); err != nil {
				t.Fatalf("podwired not answering after the pods left: %v", err)
			}
		})
	}
	if l := pw.attachments(t); len(l) != 0 {
		t.Fatalf("attachments left: %+v", l)
	}
	// Every mbuf the traffic took is back once the ports are gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := pw.client.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.MbufsInUse <= idle.MbufsInUse {
			t.Logf("mbufs in use: %d at idle, %d after the pods left", idle.MbufsInUse, st.MbufsInUse)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mbufs in use: %d 10s after the pods left, %d at idle", st.MbufsInUse, idle.MbufsInUse)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDELBeforePodServerExits: DEL of a vhostuser attachment in the
// default mode (the pod is the vhost-user server and made the socket)
// while the pod still runs, then the pod exits: the pod sees its link go
// down, and once it is gone and the reconciler has run nothing of the
// attachment is left in podwired's socket directory (DPDK's virtio_user
// server leaves its socket file behind).
func TestDELBeforePodServerExits(t *testing.T) {
	pw := podPodwired(t, "reconcileInterval: 200ms\n")
	rt := newRuntime(t)
	netns := newNS(t)
	const mac = "02:00:00:00:32:01"
	conf := map[string]any{"kind": "vhostuser", "podwiredSocket": pw.socket, "socketOwner": fmt.Sprintf("%d:%d", podUID, podGID)}
	a := add(t, rt, netns, "early-del", "net1", conf, nil)
	dir := filepath.Dir(a.result.Interfaces[0].SocketPath)
	p := startPod(t, netns, podVdev(t, a.result, mac, a.result.Interfaces[0].SocketPath), "02:00:00:00:32:02", podUID, podGID)
	if err := p.WaitFor("testpmd>", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitUp(t, pw, "early-del", "net1", 15*time.Second, p)
	from := len(p.Output())
	a.del(t)
	// testpmd's "show port info" hangs on a virtio-user server whose
	// client is gone: wait for its link state event instead.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output()[from:], "Port 0: link state change event") {
		if time.Now().After(deadline) {
			t.Fatalf("no link state change in the pod 10s after DEL:\n%s", p.Output()[from:])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ents, err := os.ReadDir(dir); err != nil {
		t.Fatalf("socket directory %s gone while the pod still listens: %v %v", dir, dirNames(ents), err)
	}
	p.Stop(10 * time.Second)
	deadline = time.Now().Add(5 * time.Second)
	for {
		ents, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket directory %s left 5s after DEL and pod exit: %v %v", dir, dirNames(ents), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// podMadeSocket: the pod's app creates the socket (vhost-user, podwired
// the client).
func podMadeSocket(conf map[string]any) bool {
	return conf["kind"] == "vhostuser" && conf["vhostMode"] != "server"
}

// waitLinkDown waits until testpmd reports its port 0 down.
func waitLinkDown(t testing.TB, p *testpmd.Pod, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		up, err := p.LinkUp(0, 5*time.Second)
		if err != nil {
			t.Fatalf("pod %s: %v", name, err)
		}
		if !up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: link still up 10s after DEL", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dirNames(ents []os.DirEntry) []string {
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestKernelPodsPing: two kernel pods on one podwired network, addresses
// from host-local, ping each other through podwired; DEL removes both
// ends of the veths and the leases.
func TestKernelPodsPing(t *testing.T) {
	_, err := exec.LookPath("ping")
	need(t, err == nil, "ping (iputils-ping)")
	pw := startPodwired(t)
	rt := newRuntime(t)
	dataDir := t.TempDir()
	cidPrefix := fmt.Sprintf("ping%d-", os.Getpid())
	var (
		atts  [2]*attachment
		ips   [2]net.IP
		ports [2]string
	)
	for i := range atts {
		conf := map[string]any{"kind": "kernel", "podwiredSocket": pw.socket, "ipam": kernelIPAM(dataDir, 40)}
		atts[i] = add(t, rt, newNS(t), fmt.Sprintf("%s%d", cidPrefix, i), "eth0", conf, nil)
		if len(atts[i].result.IPs) != 1 {
			t.Fatalf("pod %d: ips %+v", i, atts[i].result.IPs)
		}
		ips[i] = atts[i].result.IPs[0].Address.IP
		a, err := pw.client.Attachment(ctxT(t), atts[i].rc.ContainerID, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = a.PortName
	}
	for i := range atts {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", filepath.Base(atts[i].netns.Path()),
			"ping", "-c", "3", "-i", "0.2", "-W", "2", ips[1-i].String()).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), " 0% packet loss") {
			p0, _ := portByName(t, pw, ports[0])
			p1, _ := portByName(t, pw, ports[1])
			t.Fatalf("pod %d (%s) ping %s: %v\n%s\npodwired ports: %+v %+v", i, ips[i], ips[1-i], err, out, p0, p1)
		}
	}
	for _, name := range ports {
		p, ok := portByName(t, pw, name)
		if !ok {
			t.Fatalf("no port %s", name)
		}
		// 6 echo requests and 6 replies went through, 3 each way per port.
		if p.Counters.RxPackets < 6 || p.Counters.TxPackets < 6 {
			t.Fatalf("port %s counters %+v: the pings did not go through podwired", name, p.Counters)
		}
		t.Logf("port %s: rx %d tx %d", name, p.Counters.RxPackets, p.Counters.TxPackets)
	}
	if l := hostEnds(t, cidPrefix); len(l) != 2 {
		t.Fatalf("host ends of the pods' veths: %v, want 2", l)
	}
	for _, a := range atts {
		a.del(t)
		if l := podLinks(t, a.netns); len(l) != 0 {
			t.Fatalf("interfaces left in the pod after DEL: %v", l)
		}
	}
	if l := hostEnds(t, cidPrefix); len(l) != 0 {
		t.Fatalf("host ends left after DEL: %v", l)
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("host-local leases after DEL: %v", l)
	}
	for _, name := range ports {
		if _, ok := portByName(t, pw, name); ok {
			t.Fatalf("port %s left after DEL", name)
		}
	}
}

// TestSocketPermissions (T5): with socketOwner ":GID" and the default
// socketMode, a pod that is not root and in that group connects, one in
// another group cannot, for each socket kind and mode.
func TestSocketPermissions(t *testing.T) {
	pw := podPodwired(t)
	for i, kind := range []map[string]any{
		{"kind": "vhostuser"},
		{"kind": "vhostuser", "vhostMode": "server"},
		{"kind": "memif"},
	} {
		name := kind["kind"].(string)
		if m, ok := kind["vhostMode"]; ok {
			name += "-" + m.(string)
		}
		t.Run(name, func(t *testing.T) {
			rt := newRuntime(t)
			netns := newNS(t)
			conf := map[string]any{"podwiredSocket": pw.socket, "socketOwner": fmt.Sprintf(":%d", podGID)}
			for k, v := range kind {
				conf[k] = v
			}
			cid := "perm-" + name
			mac := fmt.Sprintf("02:00:00:00:31:%02x", i)
			a := add(t, rt, netns, cid, "net1", conf, nil)
			vdev := podVdev(t, a.result, mac, a.result.Interfaces[0].SocketPath)
			dir := filepath.Dir(a.result.Interfaces[0].SocketPath)
			if mode, _, gid := statOf(t, dir); mode.Perm()&0o007 != 0 || gid != podGID {
				t.Fatalf("socket directory %s: %v group %d, want group %d and nothing for others", dir, mode, gid, podGID)
			}
			if !podMadeSocket(kind) {
				if mode, _, gid := statOf(t, a.result.Interfaces[0].SocketPath); mode != os.ModeSocket|0o660 || gid != podGID {
					t.Fatalf("socket: %v group %d, want %v group %d", mode, gid, os.ModeSocket|0o660, podGID)
				}
			}

			// Another group: testpmd cannot reach the socket (nor, as the
			// vhost-user server, create it) and the attachment never comes up.
			stranger := startPod(t, netns, vdev, "02:00:00:00:31:ff", podUID, otherGID)
			// Its device does not probe: virtio-user cannot stat the socket
			// path ("Permission denied"), memif finds the directory not
			// writable ("Invalid socket directory").
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(stranger.Output(), "failed to initialize net_") {
				if time.Now().After(deadline) {
					t.Fatalf("a pod in group %d: its device probed, or no word in 20s:\n%s", otherGID, stranger.Output())
				}
				time.Sleep(50 * time.Millisecond)
			}
			why := firstLine(stranger.Output(), "Permission denied") + firstLine(stranger.Output(), "Invalid socket directory")
			if why == "" {
				t.Fatalf("a pod in group %d failed for another reason than permissions:\n%s", otherGID, stranger.Output())
			}
			time.Sleep(1500 * time.Millisecond) // podwired's vhost-user client retries about once a second
			if st, err := pw.client.Attachment(ctxT(t), cid, "net1"); err != nil || st.State == api.StateUp {
				t.Fatalf("attachment with a pod of the wrong group: %+v %v\n%s", st, err, stranger.Output())
			}
			stranger.Stop(10 * time.Second)
			t.Logf("group %d refused: %s", otherGID, why)

			// The socket's group: up.
			pod := startPod(t, netns, vdev, "02:00:00:00:31:ff", podUID, podGID)
			if err := pod.WaitFor("testpmd>", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			waitUp(t, pw, cid, "net1", 15*time.Second, pod)
			pod.Stop(10 * time.Second)
			a.del(t)
		})
	}
}

// firstLine is the first line of out that contains s.
func firstLine(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
