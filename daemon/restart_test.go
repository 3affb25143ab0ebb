package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/testpmd"
)

// This file: podwired restarts with pods of every kind attached and passing
// traffic (TestRestartAllModes), and the helpers that podfaults_test.go
// shares: DPDK pods that answer pings (testpmd icmpecho in their own
// netns), a kernel pod that pings them, and the idle-level checks.

// needTools fails under CI=true, and skips otherwise, when a command the
// test runs is missing.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if inCI() {
				t.Fatalf("%s not installed (scripts/setup-node.sh installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// dpdkPod is a DPDK pod: testpmd in its own netns on one podwired
// attachment, in icmpecho mode (it answers ARP and ICMP echo requests, so
// a ping from a kernel pod through podwired is traffic both ways, and the
// pod's replies are what its port receives).
type dpdkPod struct {
	label string
	att   api.Attachment // as podwired returned it
	mac   string
	ip    string
	ns    string
	vdev  string
	// reconnects: the pod's DPDK 22.11 PMD reconnects by itself after
	// podwired restarts (net_virtio_user server, podwired's vhostMode
	// client); otherwise the pod must restart its port.
	reconnects bool
	pod        *testpmd.Pod
	// crashes are how the pod's app ended when it died by itself.
	crashes []string
}

// newDPDKPod makes the pod's netns and attachment (kind and vhostMode from
// a); the caller runs it with run.
func newDPDKPod(t *testing.T, in *instance, label string, a api.Attachment, n int) *dpdkPod {
	t.Helper()
	ctx := ctxT(t)
	p := &dpdkPod{label: label, mac: fmt.Sprintf("02:00:00:0c:00:%02x", n), ip: fmt.Sprintf("10.250.12.%d", 10+n),
		ns: fmt.Sprintf("pwr%d_%s", os.Getpid(), label)}
	if out, err := exec.Command("ip", "netns", "add", p.ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.ns).Run() })
	a.MAC, a.Netns = p.mac, "/var/run/netns/"+p.ns
	if a.IfName == "" {
		a.IfName = "net1"
	}
	got, err := in.client.PutAttachment(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	p.att = got
	switch {
	case a.Kind == api.KindMemif:
		p.vdev = fmt.Sprintf("net_memif0,role=client,id=0,socket=%s,socket-abstract=no,mac=%s", got.SocketPath, p.mac)
	case a.VhostMode == api.VhostServer:
		p.vdev = fmt.Sprintf("net_virtio_user0,path=%s,queues=1,queue_size=1024,mac=%s", got.SocketPath, p.mac)
	default:
		p.vdev = fmt.Sprintf("net_virtio_user0,path=%s,server=1,queues=1,queue_size=1024,mac=%s", got.SocketPath, p.mac)
		p.reconnects = true
	}
	return p
}

// run starts the pod's app and its forwarding; it fails the test if the
// app does not come up.
func (p *dpdkPod) run(t *testing.T) *testpmd.Pod {
	t.Helper()
	pod, err := p.start()
	if err != nil {
		t.Fatalf("%s: %v", p.label, err)
	}
	t.Cleanup(func() { p.pod.Stop(5 * time.Second) }) // the app running then
	return pod
}

// start starts the pod's app (a new testpmd on the same socket) and, once
// it is up, its forwarding.
func (p *dpdkPod) start() (*testpmd.Pod, error) {
	pod, err := testpmd.Start(testpmd.Options{
		Netns: p.ns,
		Vdevs: []string{p.vdev},
		Args:  []string{"--forward-mode=icmpecho", "--total-num-mbufs=2048", "--rxd=256", "--txd=256"},
	})
	if err != nil {
		return nil, err
	}
	if err := pod.WaitFor("testpmd>", 30*time.Second); err != nil {
		pod.Kill()
		return nil, err
	}
	pod.Send("start")
	p.pod = pod
	return pod, nil
}

// restartPort is what a pod whose PMD does not reconnect must do after
// podwired restarts. A memif client connects again when its port starts:
// testpmd stop, port stop 0, port start 0, start. A net_virtio_user
// client connects only when its device is probed, and testpmd's port
// close hangs on the dead connection, so the pod's app restarts (killed,
// and started again on the same socket); so does an app that has died.
// It returns at once; the channel gets the app restart's error, if any.
func (p *dpdkPod) restartPort() <-chan error {
	done := make(chan error, 1)
	if p.pod.Exited() {
		// DPDK 22.11's memif client crashes now and then when podwired
		// goes away (SIGSEGV in the pod): the pod's app restarts, as
		// kubelet would restart its container.
		p.crashes = append(p.crashes, fmt.Sprint(p.pod.Err()))
	}
	if p.att.Kind == api.KindVhostUser || p.pod.Exited() {
		old := p.pod
		go func() {
			old.Kill()
			_, err := p.start()
			done <- err
		}()
		return done
	}
	p.pod.Send("stop")
	p.pod.Send("port stop 0")
	p.pod.Send("port start 0")
	p.pod.Send("start")
	done <- nil
	return done
}

// recoverPods restarts the port of every pod that does not reconnect by
// itself, all at once; the returned func waits for them.
func recoverPods(t *testing.T, pods []*dpdkPod) func() {
	var chans []<-chan error
	for _, p := range pods {
		if !p.reconnects {
			chans = append(chans, p.restartPort())
		}
	}
	return func() {
		t.Helper()
		for _, c := range chans {
			if err := <-c; err != nil {
				t.Fatalf("pod restart: %v", err)
			}
		}
	}
}

// outputs is the end of every pod's output, for failure messages.
func outputs(pods []*dpdkPod) string {
	var s string
	for _, p := range pods {
		if p.pod != nil {
			s += fmt.Sprintf("\n--- %s pod (exited %v %v):\n%s", p.label, p.pod.Exited(), p.pod.Err(), tail(p.pod.Output(), 40))
		}
	}
	return s
}

// pinger is a kernel pod (netns with a veth from podwired) that pings
// targets every 10 ms, one ping process each.
type pinger struct {
	kernelPod
	procs []*exec.Cmd
}

// disableIPv6 keeps a kernel pod quiet: no router solicitations or DAD
// frames through podwired besides the test's own traffic.
func disableIPv6(t testing.TB, p kernelPod) {
	t.Helper()
	for _, k := range []string{"all", "default"} {
		p.in(t, "sysctl", "-q", "-w", "net.ipv6.conf."+k+".disable_ipv6=1")
	}
}

// attachKernelPod makes a kernel pod on network default with address
// 10.250.12.<n>/24 on eth0.
func attachKernelPod(t *testing.T, in *instance, suffix string, n int) (kernelPod, api.Attachment, string) {
	t.Helper()
	p := newKernelPod(t, suffix)
	disableIPv6(t, p)
	a, err := in.client.PutAttachment(ctxT(t), api.Attachment{ContainerID: "c-" + p.ns, IfName: "eth0", Network: "default",
		Kind: api.KindKernel, Netns: p.path, MAC: fmt.Sprintf("02:00:00:0d:00:%02x", n)})
	if err != nil {
		t.Fatal(err)
	}
	ip := fmt.Sprintf("10.250.12.%d", n)
	p.in(t, "ip", "addr", "add", ip+"/24", "dev", "eth0")
	return p, a, ip
}

// neighbor gives the kernel pod a permanent neighbor entry for a DPDK
// pod: icmpecho answers every ARP request, whichever address it asks for.
func (k kernelPod) neighbor(t testing.TB, ip, mac string) {
	t.Helper()
	k.in(t, "ip", "neigh", "replace", ip, "lladdr", mac, "dev", "eth0", "nud", "permanent")
}

// startPings pings every target every 10 ms until stopPings.
func (k *pinger) startPings(t testing.TB, targets ...string) {
	t.Helper()
	for _, ip := range targets {
		c := exec.Command("ip", "netns", "exec", k.ns, "ping", "-n", "-q", "-i", "0.01", "-W", "1", ip)
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		k.procs = append(k.procs, c)
	}
	t.Cleanup(k.stopPings)
}

func (k *pinger) stopPings() {
	for _, c := range k.procs {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	k.procs = nil
}

// portRx is every port's RxPackets, by port name.
func (in *instance) portRx(ctx context.Context) (map[string]uint64, error) {
	l, err := in.client.Ports(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for _, p := range l {
		m[p.Name] = p.Counters.RxPackets
	}
	return m, nil
}

// waitFlowing polls podwired's ports every 10 ms until each port in
// ports (label -> port name) has received at least base[port]+n packets,
// and returns when each got there, measured from t0. Ports that do not
// get there within timeout are missing from the result.
func (in *instance) waitFlowing(ctx context.Context, ports map[string]string, base map[string]uint64, n uint64, t0 time.Time, timeout time.Duration) map[string]time.Duration {
	got := map[string]time.Duration{}
	deadline := time.Now().Add(timeout)
	for len(got) < len(ports) && time.Now().Before(deadline) {
		rx, err := in.portRx(ctx)
		now := time.Since(t0)
		if err == nil {
			for label, name := range ports {
				if _, ok := got[label]; !ok && rx[name] >= base[name]+n {
					got[label] = now
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return got
}

// linkInfo is a kernel pod interface's identity: ifindex and MAC.
func linkInfo(t testing.TB, k kernelPod, ifName string) string {
	t.Helper()
	idx := strings.TrimSpace(k.in(t, "cat", "/sys/class/net/"+ifName+"/ifindex"))
	mac := strings.TrimSpace(k.in(t, "cat", "/sys/class/net/"+ifName+"/address"))
	return "ifindex " + idx + " mac " + mac
}

// fdCount is how many descriptors podwired holds.
func (in *instance) fdCount(t testing.TB) int {
	t.Helper()
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", in.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("podwired's descriptors: %v\n%s", err, in.log)
	}
	return len(es)
}

// alive fails the test if podwired has exited or does not answer.
func (in *instance) alive(t testing.TB, what string) api.Status {
	t.Helper()
	select {
	case <-in.done:
		t.Fatalf("%s: podwired died: %v\n%s", what, in.cmd.ProcessState, in.log)
	default:
	}
	st, err := in.client.Status(ctxT(t))
	if err != nil {
		t.Fatalf("%s: podwired not answering: %v\n%s", what, err, in.log)
	}
	return st
}

// idleLevel is what an idle podwired holds: descriptors and mbufs.
type idleLevel struct{ fds, mbufs int }

func (in *instance) idle(t testing.TB) idleLevel {
	t.Helper()
	return idleLevel{fds: in.fdCount(t), mbufs: in.alive(t, "idle level").MbufsInUse}
}

// socketDirFiles lists everything under the socket directory.
func (in *instance) socketDirFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	root := filepath.Join(in.dir, "s")
	_ = filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err == nil && path != root {
			files = append(files, strings.TrimPrefix(path, root+"/"))
		}
		return nil
	})
	return files
}

// backToIdle waits (generously) until podwired holds no more descriptors
// and mbufs than at idle, and checks that it is alive and that nothing is
// left in the socket directory but the files of the attachments in keep
// (host socket paths).
func (in *instance) backToIdle(t testing.TB, what string, idle idleLevel, keep ...string) {
	t.Helper()
	allowed := map[string]bool{}
	root := filepath.Join(in.dir, "s")
	for _, s := range keep {
		rel := strings.TrimPrefix(s, root+"/")
		allowed[rel] = true
		allowed[filepath.Dir(rel)] = true
		allowed[filepath.Join(filepath.Dir(rel), "device-info.json")] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := in.alive(t, what)
		fds := in.fdCount(t)
		var extra []string
		for _, f := range in.socketDirFiles(t) {
			if !allowed[f] {
				extra = append(extra, f)
			}
		}
		if fds <= idle.fds && st.MbufsInUse <= idle.mbufs && len(extra) == 0 {
			t.Logf("%s: %d descriptors (idle %d), %d mbufs in use (idle %d)", what, fds, idle.fds, st.MbufsInUse, idle.mbufs)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d descriptors (idle %d), %d mbufs in use (idle %d), left in the socket directory: %v\n%s",
				what, fds, idle.fds, st.MbufsInUse, idle.mbufs, extra, in.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func median(v []time.Duration) (med, lo, hi time.Duration) {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

// TestRestartAllModes: a vhost-user pod that is the vhost server (podwired's
// vhostMode client), a vhost-user pod that is the client (vhostMode
// server), a memif pod and two kernel pods, all attached and passing
// traffic (a kernel pod pings the other and every DPDK pod every 10 ms).
// podwired is stopped with SIGTERM and SIGKILL in turn and started again
// seven times. After each start every attachment is back at its socket
// path with its device-info, and the kernel pods have the same interfaces
// (ifindex, MAC). The net_virtio_user server and the kernel pods carry
// traffic again with no action on the pod. A net_virtio_user client and a
// memif client (DPDK 22.11) stay down: the first two restarts check that
// for 3 s, then the pods recover (restartPort: the memif pod restarts its
// port, the virtio-user client pod its app); the other five restarts
// recover them as soon as the API answers. The outage, podwired's start
// to 5 replies on each port, is logged per mode (median, min, max of five)
// with the part after the API answered, which must be under 5 s (EAL
// start-up alone takes seconds on a busy machine). Last, a restart with a
// changed config (a network added, idleSleep 100us -> 10ms) applies both
// and keeps every attachment.
func TestRestartAllModes(t *testing.T) {
	needTools(t, "ping", "dpdk-testpmd")
	in := newInstance(t, "")
	in.start()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	pods := []*dpdkPod{
		newDPDKPod(t, in, "vhost-client", api.Attachment{ContainerID: "ra-vc", Network: "default", Kind: api.KindVhostUser}, 1),
		newDPDKPod(t, in, "vhost-server", api.Attachment{ContainerID: "ra-vs", Network: "default", Kind: api.KindVhostUser, VhostMode: api.VhostServer}, 2),
		newDPDKPod(t, in, "memif", api.Attachment{ContainerID: "ra-mif", Network: "default", Kind: api.KindMemif}, 3),
	}
	for _, p := range pods {
		p.run(t)
	}
	k1, k1a, _ := attachKernelPod(t, in, "r1", 1)
	k2, k2a, k2ip := attachKernelPod(t, in, "r2", 2)
	ping := &pinger{kernelPod: k1}
	targets := []string{k2ip}
	for _, p := range pods {
		k1.neighbor(t, p.ip, p.mac)
		targets = append(targets, p.ip)
	}
	// Each label's port receives the replies to k1's pings.
	labels := map[string]string{"kernel": k2a.PortName}
	for _, p := range pods {
		labels[p.label] = p.att.PortName
	}
	sockets := map[string]string{}
	atts, _ := in.client.Attachments(ctx)
	for _, a := range atts {
		sockets[a.Key()] = a.SocketPath
	}
	kinfo := map[string]string{"k1": linkInfo(t, k1, "eth0"), "k2": linkInfo(t, k2, "eth0")}
	in.waitState(t, ctx, api.StateUp, k1a.Key(), k2a.Key())
	for _, p := range pods {
		in.waitState(t, ctx, api.StateUp, p.att.Key())
	}
	ping.startPings(t, targets...)
	if got := in.waitFlowing(ctx, labels, nil, 20, time.Now(), 20*time.Second); len(got) != len(labels) {
		rx, _ := in.portRx(ctx)
		t.Fatalf("no traffic before the restarts: flowing %v, rx %v\n%s", got, rx, in.log)
	}

	// check is what every restart must keep: attachments, socket paths,
	// the kernel pods' interfaces.
	check := func(what string) {
		t.Helper()
		l, err := in.client.Attachments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != len(sockets) {
			t.Fatalf("%s: %d attachments, want %d: %+v", what, len(l), len(sockets), l)
		}
		for _, a := range l {
			if a.SocketPath != sockets[a.Key()] || a.PortID == nil {
				t.Fatalf("%s: %s at %q (port %v), want %q", what, a.Key(), a.SocketPath, a.PortID, sockets[a.Key()])
			}
			if a.Kind == api.KindMemif || a.VhostMode == api.VhostServer {
				if _, err := os.Stat(a.SocketPath); err != nil {
					t.Fatalf("%s: socket of %s: %v", what, a.Key(), err)
				}
			}
			if a.Kind != api.KindKernel {
				if _, err := os.Stat(filepath.Join(filepath.Dir(a.SocketPath), "device-info.json")); err != nil {
					t.Fatalf("%s: device-info of %s: %v", what, a.Key(), err)
				}
			}
		}
		for name, k := range map[string]kernelPod{"k1": k1, "k2": k2} {
			if got := linkInfo(t, k, "eth0"); got != kinfo[name] {
				t.Fatalf("%s: kernel pod %s eth0: %s, was %s", what, name, got, kinfo[name])
			}
		}
	}

	// outage: podwired's start to 5 replies on the port; afterAPI: the
	// same from when the API answered (EAL start-up excluded, which a busy
	// machine stretches).
	outage, afterAPI := map[string][]time.Duration{}, map[string][]time.Duration{}
	var apiUp []time.Duration
	sigs := []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM}
	for i, sig := range sigs {
		what := fmt.Sprintf("restart %d after %v", i+1, sig)
		in.stop(sig)
		t0 := time.Now()
		apiUp = append(apiUp, in.start())
		check(what)
		probe := i < 2 // the first SIGTERM and SIGKILL: show what the pods do alone
		recovered := func() {}
		if !probe {
			recovered = recoverPods(t, pods)
		}
		wait := labels
		if probe {
			wait = map[string]string{}
			for label, port := range labels {
				if label == "kernel" || label == "vhost-client" {
					wait[label] = port
				}
			}
		}
		got := in.waitFlowing(ctx, wait, nil, 5, t0, 15*time.Second)
		if probe {
			// The pods that do not reconnect: nothing from them 3 s after
			// the start, and their link is down; then they restart their
			// port.
			time.Sleep(time.Until(t0.Add(3 * time.Second)))
			rx, _ := in.portRx(ctx)
			t1 := time.Now()
			for _, p := range pods {
				if p.reconnects {
					continue
				}
				if _, ok := got[p.label]; ok || rx[p.att.PortName] != 0 {
					t.Errorf("%s: %s pod reconnected by itself (rx %d); docs/podwired.md says DPDK 22.11 does not", what, p.label, rx[p.att.PortName])
				}
				if p.pod.Exited() {
					t.Logf("%s: %s pod's app died when podwired went away: %v", what, p.label, p.pod.Err())
					continue
				}
				up, err := p.pod.LinkUp(0, 20*time.Second)
				t.Logf("%s: %s pod after %v without action: link up %v (%v), port rx %d", what, p.label,
					time.Since(t0).Round(time.Millisecond), up, err, rx[p.att.PortName])
			}
			recovered = recoverPods(t, pods)
			for label, d := range in.waitFlowing(ctx, labels, nil, 5, t1, 15*time.Second) {
				if _, ok := got[label]; !ok {
					got[label] = d
					t.Logf("%s: %s: flowing %v after the pod restarted its port", what, label, d.Round(time.Millisecond))
				}
			}
		}
		recovered()
		for label := range labels {
			d, ok := got[label]
			if !ok {
				rx, _ := in.portRx(ctx)
				t.Fatalf("%s: %s: no traffic again: rx %v\n%s%s", what, label, rx, in.log, outputs(pods))
			}
			if !probe {
				outage[label] = append(outage[label], d)
				afterAPI[label] = append(afterAPI[label], d-apiUp[i])
			}
		}
		t.Logf("%s: API up %v, flowing: %v", what, apiUp[i].Round(time.Millisecond), roundAll(got))
	}
	t.Logf("API up after start: %v", roundList(apiUp))
	for _, p := range pods {
		if len(p.crashes) > 0 {
			t.Logf("%s pod's app died by itself in %d of %d restarts of podwired (restarted): %v", p.label, len(p.crashes), len(sigs)+1, p.crashes)
		}
	}
	for _, label := range []string{"vhost-client", "vhost-server", "memif", "kernel"} {
		med, lo, hi := median(outage[label])
		amed, alo, ahi := median(afterAPI[label])
		t.Logf("outage %-12s n=%d: podwired start to 5 replies: median %v min %v max %v raw %v; from API up: median %v min %v max %v",
			label, len(outage[label]), med.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond),
			roundList(outage[label]), amed.Round(time.Millisecond), alo.Round(time.Millisecond), ahi.Round(time.Millisecond))
		if amed > 5*time.Second {
			t.Errorf("outage %s: median %v after the API is up, want < 5s", label, amed)
		}
	}

	// A changed config: network "extra" added, workers.idleSleep 100us ->
	// 10ms. With no traffic, a worker's loops per second follow idleSleep.
	ping.stopPings()
	loopRate := func() float64 {
		t.Helper()
		sum := func() uint64 {
			ws, err := in.client.Workers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var n uint64
			for _, w := range ws {
				n += w.Loops
			}
			return n
		}
		time.Sleep(300 * time.Millisecond)
		a, t0 := sum(), time.Now()
		time.Sleep(1500 * time.Millisecond)
		return float64(sum()-a) / time.Since(t0).Seconds()
	}
	before := loopRate()
	in.stop(syscall.SIGTERM)
	cfg, err := os.ReadFile(in.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "workers:\n  idleSleep: 10ms\nnetworks:\n  - name: default\n  - name: extra\n"...)
	if err := os.WriteFile(in.cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	in.start()
	check("restart with a changed config")
	recoverPods(t, pods)()
	if _, err := in.client.Network(ctx, "extra"); err != nil {
		t.Fatalf("network added in the config: %v", err)
	}
	after := loopRate()
	t.Logf("idle worker loops per second: %.0f with idleSleep 100us, %.0f with 10ms", before, after)
	// A worker sleeps at least idleSleep per idle loop: at most 100 loops
	// a second, and a little over for the few frames there still are.
	if after > 150 {
		t.Errorf("idleSleep 10ms not applied: %.0f loops/s, %.0f before with 100us", after, before)
	}
	ping.startPings(t, targets...)
	if got := in.waitFlowing(ctx, labels, nil, 5, time.Now(), 15*time.Second); len(got) != len(labels) {
		rx, _ := in.portRx(ctx)
		t.Fatalf("after the config change: flowing %v, rx %v\n%s%s", got, rx, in.log, outputs(pods))
	}
}

func roundAll(m map[string]time.Duration) map[string]time.Duration {
	r := map[string]time.Duration{}
	for k, v := range m {
		r[k] = v.Round(time.Millisecond)
	}
	return r
}

func roundList(v []time.Duration) []time.Duration {
	r := make([]time.Duration, len(v))
	for i, d := range v {
		r[i] = d.Round(time.Millisecond)
	}
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
