package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/testpmd"
)

// This file: faults on the pod's side, with podwired running. After each,
// podwired is alive, holds no more descriptors and mbufs than at idle, and
// leaves nothing in the socket directory.

// faultRig is a podwired with a kernel pod that pings the DPDK pods the
// test adds, and podwired's idle level taken before any DPDK pod.
type faultRig struct {
	t    *testing.T
	in   *instance
	ctx  context.Context
	ping *pinger
	idle idleLevel
	n    int
}

func newFaultRig(t *testing.T, extraYAML string) *faultRig {
	t.Helper()
	needTools(t, "ping", "dpdk-testpmd")
	in := newInstance(t, extraYAML)
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	k, _, _ := attachKernelPod(t, in, "f", 1)
	r := &faultRig{t: t, in: in, ctx: ctx, ping: &pinger{kernelPod: k}}
	// One port of each kind created and removed first: DPDK sets up what
	// it keeps for the process (vhost's event thread and its pipes) with
	// the first port.
	for i, a := range []api.Attachment{
		{ContainerID: "warm-vc", IfName: "net1", Network: "default", Kind: api.KindVhostUser},
		{ContainerID: "warm-vs", IfName: "net1", Network: "default", Kind: api.KindVhostUser, VhostMode: api.VhostServer},
		{ContainerID: "warm-mif", IfName: "net1", Network: "default", Kind: api.KindMemif},
	} {
		if _, err := in.client.PutAttachment(ctx, a); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
		if err := in.client.DeleteAttachment(ctx, a.ContainerID, a.IfName); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	r.idle = in.idle(t)
	t.Logf("idle: %d descriptors, %d mbufs in use", r.idle.fds, r.idle.mbufs)
	return r
}

// addPod attaches a DPDK pod (kind and mode from a), starts its app and
// pings it.
func (r *faultRig) addPod(label string, a api.Attachment) *dpdkPod {
	r.t.Helper()
	r.n++
	p := newDPDKPod(r.t, r.in, label, a, 20+r.n)
	p.run(r.t)
	r.ping.neighbor(r.t, p.ip, p.mac)
	r.ping.startPings(r.t, p.ip)
	return p
}

// flowing waits until the pod's port has received n more replies than
// now, and returns how long that took.
// addModePods adds a DPDK pod in each of threeModes.
func (r *faultRig) addModePods() []*dpdkPod {
	var pods []*dpdkPod
	for _, m := range threeModes() {
		pods = append(pods, r.addPod(m.label, m.a))
	}
	return pods
}

func (r *faultRig) flowing(p *dpdkPod, what string, timeout time.Duration) time.Duration {
	r.t.Helper()
	base, err := r.in.portRx(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	t0 := time.Now()
	got := r.in.waitFlowing(r.ctx, map[string]string{p.label: p.att.PortName}, base, 5, t0, timeout)
	if _, ok := got[p.label]; !ok {
		rx, _ := r.in.portRx(r.ctx)
		a, _ := r.in.client.Attachment(r.ctx, p.att.ContainerID, p.att.IfName)
		r.t.Fatalf("%s: %s: no traffic in %v: rx %v, attachment %s (%s)\n%s%s", what, p.label, timeout, rx, a.State, a.Reason,
			r.in.log, outputs([]*dpdkPod{p}))
	}
	return got[p.label]
}

// linkUp is the podwired port's link state.
func (r *faultRig) linkUp(p *dpdkPod) bool {
	r.t.Helper()
	l, err := r.in.client.Ports(r.ctx)
	if err != nil {
		r.t.Fatalf("podwired: %v\n%s", err, r.in.log)
	}
	for _, port := range l {
		if port.Name == p.att.PortName {
			return port.Link.Up
		}
	}
	r.t.Fatalf("no port %s", p.att.PortName)
	return false
}

// waitLink waits until the podwired port's link is up (or down).
func (r *faultRig) waitLink(p *dpdkPod, up bool, what string) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for r.linkUp(p) != up {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: %s: link not up=%v in 15s\n%s", what, p.label, up, r.in.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// teardown stops the pods' apps and pings, deletes their attachments, and
// checks podwired is back at its idle level with an empty socket
// directory.
func (r *faultRig) teardown(what string, pods ...*dpdkPod) {
	r.t.Helper()
	r.ping.stopPings()
	for _, p := range pods {
		p.pod.Stop(5 * time.Second)
		if err := r.in.client.DeleteAttachment(r.ctx, p.att.ContainerID, p.att.IfName); err != nil {
			r.t.Fatalf("%s: DELETE %s: %v", what, p.label, err)
		}
	}
	r.in.backToIdle(r.t, what, r.idle)
}

func threeModes() []struct {
	label string
	a     api.Attachment
} {
	return []struct {
		label string
		a     api.Attachment
	}{
		{"vhost-client", api.Attachment{ContainerID: "pf-vc", Network: "default", Kind: api.KindVhostUser}},
		{"vhost-server", api.Attachment{ContainerID: "pf-vs", Network: "default", Kind: api.KindVhostUser, VhostMode: api.VhostServer}},
		{"memif", api.Attachment{ContainerID: "pf-mif", Network: "default", Kind: api.KindMemif}},
	}
}

// TestPodAppRestarts: a DPDK pod's app is killed (SIGKILL) mid-traffic and
// started again on the same socket, in each mode, three times: podwired
// stays up, its port goes down and comes back with traffic, with no
// action on podwired's side. In vhostMode client podwired reconnects to
// the pod's new server socket (rte_vhost retries once a second); the pod
// must remove the socket its killed app left (a net_virtio_user server
// fails with "Address already in use" otherwise, checked once).
func TestPodAppRestarts(t *testing.T) {
	r := newFaultRig(t, "")
	pods := r.addModePods()
	for _, p := range pods {
		r.flowing(p, "before", 20*time.Second)
	}
	for _, p := range pods {
		var took []time.Duration
		for i := range 3 {
			what := fmt.Sprintf("app restart %d", i+1)
			p.pod.Kill()
			r.waitLink(p, false, what)
			r.in.alive(t, what)
			if p.reconnects {
				// The pod is the vhost-user server: its killed app left its
				// socket, and a net_virtio_user server (DPDK 22.11) does not
				// bind over it. podwired leaves the pod's socket alone, so
				// the pod removes it before its app starts again.
				if i == 0 {
					pod, err := testpmd.Start(testpmd.Options{Netns: p.ns, Vdevs: []string{p.vdev}})
					if err != nil {
						t.Fatal(err)
					}
					err = pod.WaitFor("Address already in use", 30*time.Second)
					pod.Kill()
					if err != nil {
						t.Fatalf("%s: an app started over the leftover socket: %v", what, err)
					}
				}
				if err := os.Remove(p.att.SocketPath); err != nil {
					t.Fatalf("%s: the pod's leftover socket: %v", what, err)
				}
			}
			t0 := time.Now()
			if _, err := p.start(); err != nil {
				t.Fatalf("%s: %s: %v", what, p.label, err)
			}
			r.flowing(p, what, 20*time.Second)
			took = append(took, time.Since(t0))
		}
		t.Logf("%s: app start to 5 replies: %v", p.label, roundList(took))
		if a, err := r.in.client.Attachment(r.ctx, p.att.ContainerID, p.att.IfName); err != nil || a.State != api.StateUp || a.SocketPath != p.att.SocketPath {
			t.Fatalf("%s after app restarts: %+v %v", p.label, a, err)
		}
	}
	r.teardown("after app restarts", pods...)
}

// TestPodConnectsTwice: a second app (another testpmd, another MAC) on the
// socket of a pod whose app is connected and passing traffic. What
// podwire promises: the first app keeps its connection and its traffic,
// the second gets no working link; after the second has gone the first
// still works. Per mode (DPDK 22.11):
//   - vhostMode client (the pod is the vhost-user server): the second
//     app's server cannot bind the path the first listens on ("Address
//     already in use"), so it starts with no port;
//   - vhostMode server: rte_vhost's server accepts every connection and
//     the vhost PMD gave the port to the newest (the first app's traffic
//     stopped); podwired's socket guard (vhostuser/single.go) now swaps a
//     dead placeholder in at the socket's path while a client is
//     connected, so the second app's connect is refused and its
//     net_virtio_user device does not probe;
//   - memif: podwired's memif server refuses a second client of the same
//     interface id (the second app's link stays down).
func TestPodConnectsTwice(t *testing.T) {
	r := newFaultRig(t, "")
	pods := r.addModePods()
	for _, p := range pods {
		r.flowing(p, "before", 20*time.Second)
	}
	for _, p := range pods {
		what := p.label + ": second app on the socket"
		second := strings.Replace(p.vdev, "mac="+p.mac, "mac=02:00:00:0e:00:01", 1)
		pod2, err := testpmd.Start(testpmd.Options{Netns: p.ns, Vdevs: []string{second},
			Args: []string{"--forward-mode=icmpecho", "--total-num-mbufs=2048", "--rxd=256", "--txd=256"}})
		if err != nil {
			t.Fatal(err)
		}
		started := pod2.WaitFor("testpmd>", 30*time.Second) == nil
		if started {
			pod2.Send("start")
		}
		time.Sleep(2 * time.Second)
		r.in.alive(t, what)
		// The first app still gets the pings and answers them.
		before, err := p.pod.RxPackets(10 * time.Second)
		if err != nil || len(before) != 1 {
			t.Fatalf("%s: first app: %v %v", what, before, err)
		}
		r.flowing(p, what, 10*time.Second)
		after, err := p.pod.RxPackets(10 * time.Second)
		if err != nil || len(after) != 1 || after[0] < before[0]+5 {
			t.Fatalf("%s: the first app's rx went from %v to %v (%v)\n%s%s", what, before, after, err, r.in.log, outputs(pods))
		}
		var up2 bool
		var rx2 []uint64
		if started && !pod2.Exited() {
			up2, _ = pod2.LinkUp(0, 10*time.Second)
			rx2, _ = pod2.RxPackets(10 * time.Second)
		}
		t.Logf("%s: second app started %v, exited %v (%v), link up %v, rx %v; first app rx %d -> %d", what, started,
			pod2.Exited(), pod2.Err(), up2, rx2, before[0], after[0])
		if up2 {
			t.Errorf("%s: the second app has a link up\n%s", what, tail(pod2.Output(), 30))
		}
		pod2.Kill()
		// The first app goes on after the second has gone.
		time.Sleep(500 * time.Millisecond)
		r.flowing(p, what+", after it left", 15*time.Second)
		if a, err := r.in.client.Attachment(r.ctx, p.att.ContainerID, p.att.IfName); err != nil || a.State != api.StateUp {
			t.Fatalf("%s: attachment %+v %v", what, a, err)
		}
	}
	r.teardown("after second apps", pods...)
}

// TestPodNeverConnects: attachments whose pod never connects stay, in
// state waiting with a reason; podwired holds no more descriptors over
// time (vhostMode client retries its connect once a second) and DELETE
// removes them with nothing left behind.
func TestPodNeverConnects(t *testing.T) {
	r := newFaultRig(t, "")
	ns := newKernelPod(t, "nc")
	var keys []string
	for _, m := range threeModes() {
		a := m.a
		a.IfName, a.Netns = "net1", ns.path
		if _, err := r.in.client.PutAttachment(r.ctx, a); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key())
	}
	r.in.waitState(t, r.ctx, api.StateWaiting, keys...)
	time.Sleep(1500 * time.Millisecond)
	fds := r.in.fdCount(t)
	time.Sleep(4 * time.Second)
	if n := r.in.fdCount(t); n > fds {
		t.Fatalf("podwired holds %d descriptors after 4 s of pods not connecting, %d before", n, fds)
	}
	got := r.in.waitState(t, r.ctx, api.StateWaiting, keys...)
	for _, k := range keys {
		t.Logf("%s: %s (%s)", k, got[k].State, got[k].Reason)
		if got[k].Reason == "" {
			t.Errorf("%s: waiting without a reason", k)
		}
	}
	for _, m := range threeModes() {
		if err := r.in.client.DeleteAttachment(r.ctx, m.a.ContainerID, "net1"); err != nil {
			t.Fatal(err)
		}
	}
	r.in.backToIdle(t, "after DELETE of pods that never connected", r.idle)
}

// TestNetnsDeletedWithoutDEL: pods whose network namespace is deleted with
// no CNI DEL (the pod's app gone, or still running in the namespace) are
// removed by the reconciler (reconcileInterval 300ms here): attachment,
// port and socket directory; a socket directory where an app still
// listens goes once the app exits. podwired ends at its idle level.
func TestNetnsDeletedWithoutDEL(t *testing.T) {
	r := newFaultRig(t, "reconcileInterval: 300ms\n")
	pods := r.addModePods()
	// A second pod in vhostMode client whose app still runs (and listens
	// on its socket) when its namespace goes.
	still := r.addPod("vhost-client-running", api.Attachment{ContainerID: "pf-vc2", Network: "default", Kind: api.KindVhostUser})
	kpod, ka, _ := attachKernelPod(t, r.in, "g", 2)
	for _, p := range append(pods, still) {
		r.flowing(p, "before", 20*time.Second)
	}
	r.ping.stopPings()
	for _, p := range pods {
		p.pod.Kill()
	}
	for _, ns := range []string{pods[0].ns, pods[1].ns, pods[2].ns, still.ns, kpod.ns} {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns del %s: %v %s", ns, err, out)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := r.in.client.Attachments(r.ctx)
		if err != nil {
			t.Fatalf("podwired: %v\n%s", err, r.in.log)
		}
		if len(l) == 1 && l[0].Kind == api.KindKernel && l[0].Key() != ka.Key() {
			break // only the pinging kernel pod is left
		}
		if time.Now().After(deadline) {
			t.Fatalf("attachments 15 s after their netns went: %+v\n%s", l, r.in.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if hostHasLink(hostEnd(ka.ContainerID, ka.IfName)) {
		t.Fatalf("veth of the gone kernel pod left")
	}
	// The app that still runs keeps its socket directory until it exits.
	if _, err := os.Stat(still.att.SocketPath); err != nil {
		t.Fatalf("socket of the app still running in the deleted netns: %v", err)
	}
	still.pod.Kill()
	r.in.backToIdle(t, "after the reconciler removed the pods", r.idle)
}
