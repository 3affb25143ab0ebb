package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// devinfoDir is where Multus puts the CNIDeviceInfoFile it passes to a
// delegate (device-info spec, section 5): a fixed host path.
const devinfoDir = "/var/run/k8s.cni.cncf.io/devinfo/cni"

// multusEnv is the environment a runtime gives Multus for pod n: the
// Kubernetes CNI_ARGS (Multus has no kubeconfig here, so it runs its
// static delegates in order) and, with deviceID, the deviceID capability
// that makes Multus hand each delegate a CNIDeviceInfoFile.
func multusEnv(t testing.TB, n *netns, deviceID string) []string {
	t.Helper()
	e := []string{n.podArgs()}
	if deviceID != "" {
		e = append(e, fmt.Sprintf(`CAP_ARGS={"deviceID":%q}`, deviceID))
	}
	t.Cleanup(func() {
		// device-info files of a test that failed before Multus' DEL.
		l, _ := filepath.Glob(filepath.Join(devinfoDir, "*-"+n.cid+"_*"))
		for _, f := range l {
			os.Remove(f)
		}
	})
	return e
}

// multusPod is one pod under a Multus config: the NETCONFPATH with the
// config, its network name, the pod's namespace and Multus' environment.
type multusPod struct {
	nd  *netDir
	net string
	n   *netns
	env []string
}

// newMultusPod starts the test's podwired if needed, installs Multus
// config m and makes the pod's namespace; with deviceID, Multus gets the
// deviceID capability.
func newMultusPod(t testing.TB, m map[string]any, deviceID string) *multusPod {
	t.Helper()
	env(t)
	p := &multusPod{nd: newNetDir(t)}
	p.net = p.nd.install(t, m)
	p.n = newNetns(t)
	p.env = multusEnv(t, p.n, deviceID)
	return p
}

// cnitool runs cnitool cmd for the pod's eth0 with Multus' environment.
func (p *multusPod) cnitool(t testing.TB, cmd string) call {
	t.Helper()
	return p.nd.cnitool(t, cmd, p.net, p.n, "eth0", p.env...)
}

// delegate is what a test expects of one Multus delegate.
type delegate struct {
	ifName  string
	kind    string
	network string // podwired network
	mode     string // device-info pod side, socket kinds
	podMount string // socket kinds: the config's podMount
	name    string // delegate network name (device-info file name)
	addr    string // kernel: an address prefix the netdev must have
}

// checkMultusAdded checks podwired's attachments, the pod's netdevs and,
// with devinfo, Multus' device-info files after a Multus ADD.
func checkMultusAdded(t testing.TB, n *netns, want []delegate, devinfo bool) {
	t.Helper()
	got := podwired.attachments(t, n.cid)
	if len(got) != len(want) {
		t.Fatalf("podwired has %d attachments for %s, want %d: %+v", len(got), n.cid, len(want), got)
	}
	for _, d := range want {
		a, ok := got[d.ifName]
		if !ok || a.Kind != d.kind || a.Network != d.network || a.Netns != n.path {
			t.Fatalf("podwired attachment %s: %+v (found %v), want kind %s on network %s", d.ifName, a, ok, d.kind, d.network)
		}
		if d.kind == api.KindKernel {
			if out := n.ip(t, "-4", "addr", "show", "dev", d.ifName); !strings.Contains(out, " "+d.addr) {
				t.Fatalf("%s in the pod has no address %s*:\n%s", d.ifName, d.addr, out)
			}
			continue
		}
		checkSocket(t, n, a, d.podMount, d.mode)
		if devinfo {
			checkDeviceInfo(t, filepath.Join(devinfoDir, d.name+"-"+n.cid+"_"+d.ifName), a, d.mode)
		}
	}
}

// checkPodGone checks that a DEL (or a failed Multus ADD) left nothing:
// no attachment, netdev, lease, device-info file or libcni cache, and, if
// afterDel, no Multus scratch file (Multus writes it before the first
// delegate's ADD and removes it on DEL, also after a failed ADD).
func checkPodGone(t testing.TB, nd *netDir, n *netns, want []delegate, afterDel bool) {
	t.Helper()
	if l := podwired.attachments(t, n.cid); len(l) != 0 {
		t.Fatalf("podwired still has %+v", l)
	}
	for _, d := range want {
		if n.hasLink(d.ifName) {
			t.Fatalf("%s left in the pod", d.ifName)
		}
	}
	if l := leases(nd.ipamDir); len(l) != 0 {
		t.Fatalf("host-local leases left: %v", l)
	}
	if l, _ := filepath.Glob(filepath.Join(devinfoDir, "*-"+n.cid+"_*")); len(l) != 0 {
		t.Fatalf("device-info files left: %v", l)
	}
	if d := filepath.Join(podwired.socketDir, "pods", n.uid); exists(d) {
		t.Fatalf("the pod's socket directory %s left", d)
	}
	if f := filepath.Join(nd.multusDir, n.cid); afterDel && exists(f) {
		t.Fatalf("Multus scratch file %s left", f)
	}
	if l, _ := filepath.Glob(filepath.Join(nd.multusDir, "results", "*")); len(l) != 0 {
		t.Fatalf("Multus' libcni cache left: %v", l)
	}
}

// staticDelegates is what multus/multus-static.conf attaches.
var staticDelegates = []delegate{
	{ifName: "eth0", kind: api.KindKernel, network: "default", addr: "10.244.1."},
	{ifName: "net1", kind: api.KindVhostUser, network: "dpdk", mode: "server", name: "podwire-vhostuser", podMount: "/run/podwire"},
	{ifName: "net2", kind: api.KindMemif, network: "dpdk", mode: "slave", name: "podwire-memif", podMount: "/run/podwire"},
	{ifName: "net3", kind: api.KindKernel, network: "dpdk", addr: "192.168.50.10/24"},
}

// TestMultusStatic runs the real Multus thin plugin with
// multus/multus-static.conf under cnitool: podwire is the master (eth0
// with an IP) and the delegates net1 (vhost-user), net2 (memif) and net3
// (kernel); the deviceID capability makes Multus pass CNIDeviceInfoFile.
func TestMultusStatic(t *testing.T) {
	p := newMultusPod(t, obj(t, readExample(t, "multus/multus-static.conf")), "0000:00:00.0")
	nd, n := p.nd, p.n

	r := parseResult(t, p.cnitool(t, "add").ok(t, "Multus ADD").stdout)
	// Multus returns the master's result, in its version: eth0 and its IP.
	if r.CNIVersion != "1.1.0" || len(r.Interfaces) != 1 || r.Interfaces[0].Name != "eth0" || r.Interfaces[0].Sandbox != n.path ||
		len(r.IPs) != 1 || !strings.HasPrefix(r.IPs[0].Address, "10.244.1.") {
		t.Fatalf("Multus result is not the master's eth0 with an IP: %+v", r)
	}
	checkMultusAdded(t, n, staticDelegates, true)
	if f := filepath.Join(nd.multusDir, n.cid); !exists(f) {
		t.Fatalf("no Multus scratch file %s", f)
	}
	for _, d := range []string{"podwire", "podwire-vhostuser", "podwire-memif", "podwire-kernel"} {
		ifName := staticDelegates[map[string]int{"podwire": 0, "podwire-vhostuser": 1, "podwire-memif": 2, "podwire-kernel": 3}[d]].ifName
		if f := filepath.Join(nd.multusDir, "results", d+"-"+n.cid+"-"+ifName); !exists(f) {
			t.Fatalf("no libcni result cache %s from Multus", f)
		}
	}

	p.cnitool(t, "check").ok(t, "Multus CHECK")
	// STATUS: Multus asks its master, podwire, which asks podwired.
	p.cnitool(t, "status").ok(t, "Multus STATUS")
	// CHECK reaches the delegates too: with net2 gone from podwired,
	// podwire's CHECK of it fails (code 101) and so does Multus'.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := podwired.Client.DeleteAttachment(ctx, n.cid, "net2"); err != nil {
		t.Fatal(err)
	}
	if c := p.cnitool(t, "check"); c.err == nil || !strings.Contains(c.stdout+c.stderr, "no attachment "+n.cid+"/net2") {
		t.Fatalf("Multus CHECK with net2 gone: %v\nstdout: %s\nstderr: %s", c.err, c.stdout, c.stderr)
	}
	p.cnitool(t, "del").ok(t, "Multus DEL")
	checkPodGone(t, nd, n, staticDelegates, true)
	// Multus answers a second DEL itself (no scratch file): 0.
	p.cnitool(t, "del").ok(t, "second Multus DEL")
}

// TestMultusRollback: when a delegate's ADD fails (here memif on a network
// podwired does not have), Multus DELs the delegates it added before, and
// nothing of them is left in podwired, the pod or IPAM.
func TestMultusRollback(t *testing.T) {
	m := obj(t, readExample(t, "multus/multus-static.conf"))
	bad := m["delegates"].([]any)[2].(map[string]any)
	if bad["kind"] != api.KindMemif {
		t.Fatalf("multus-static.conf's third delegate is %v, want memif", bad)
	}
	bad["network"] = "no-such-network"
	p := newMultusPod(t, m, "0000:00:00.0")
	nd, n := p.nd, p.n

	c := p.cnitool(t, "add")
	if c.err == nil {
		t.Fatalf("Multus ADD with a failing delegate succeeded: %s", c.stdout)
	}
	if !strings.Contains(c.stdout+c.stderr, `no network "no-such-network"`) {
		t.Fatalf("Multus ADD failed without podwire's reason:\nstdout: %s\nstderr: %s", c.stdout, c.stderr)
	}
	checkPodGone(t, nd, n, staticDelegates, false)
	// A runtime DELs after a failed ADD.
	p.cnitool(t, "del").ok(t, "Multus DEL after the failed ADD")
	checkPodGone(t, nd, n, staticDelegates, true)
}

// nadDelegates returns every NAD's spec.config, as Multus delegates after
// a master, and what each should attach (net1, net2, ...).
func nadDelegates(t testing.TB) ([]any, []delegate) {
	t.Helper()
	var (
		confs []any
		want  []delegate
	)
	for _, e := range examples {
		if !e.nad {
			continue
		}
		conf := e.load(t)
		confs = append(confs, conf)
		pc := podwirePlugin(t, conf)
		podMount, _ := pc["podMount"].(string)
		want = append(want, delegate{ifName: fmt.Sprintf("net%d", len(confs)), kind: e.kind,
			network: fmt.Sprint(pc["network"]), mode: e.mode, podMount: podMount, addr: "10.246.0."})
	}
	return confs, want
}

// TestMultusClusterNetwork checks multus/00-multus.conf against the
// primary conflist and runs it: podwire as Multus' clusterNetwork (eth0),
// and every NAD's spec.config as a delegate, net1..net4. Without an API
// server Multus cannot look up a clusterNetwork or NADs, so the test puts
// the conflist and the NAD configs into Multus' static delegates, which
// Multus loads with the same function (LoadDelegateNetConf).
func TestMultusClusterNetwork(t *testing.T) {
	env(t)
	m := obj(t, readExample(t, "multus/00-multus.conf"))
	primary := obj(t, readExample(t, "net.d/10-podwire.conflist"))
	switch {
	case m["type"] != "multus":
		t.Fatalf("00-multus.conf type %v", m["type"])
	case m["clusterNetwork"] != primary["name"]:
		t.Fatalf("00-multus.conf clusterNetwork %v, but the primary conflist is named %v", m["clusterNetwork"], primary["name"])
	case m["confDir"] != "/etc/cni/net.d":
		t.Fatalf("00-multus.conf confDir %v: Multus finds clusterNetwork by name there, where net.d/10-podwire.conflist is installed", m["confDir"])
	}
	delete(m, "clusterNetwork")
	nads, want := nadDelegates(t)
	m["delegates"] = append([]any{primary}, nads...)
	want = append([]delegate{{ifName: "eth0", kind: api.KindKernel, network: "default", addr: "10.244.1."}}, want...)
	p := newMultusPod(t, m, "")
	nd, n := p.nd, p.n

	r := parseResult(t, p.cnitool(t, "add").ok(t, "Multus ADD").stdout)
	if len(r.Interfaces) != 1 || r.Interfaces[0].Name != "eth0" || len(r.IPs) != 1 || !strings.HasPrefix(r.IPs[0].Address, "10.244.1.") {
		t.Fatalf("Multus result is not the master's eth0 with an IP: %+v", r)
	}
	checkMultusAdded(t, n, want, false)
	// tuning, chained after podwire in nad/kernel.yaml, ran in the pod.
	if out, err := execOut("ip", "netns", "exec", n.name, "cat", "/proc/sys/net/core/somaxconn"); err != nil || strings.TrimSpace(out) != "512" {
		t.Fatalf("tuning's sysctl in the pod: %q %v", out, err)
	}
	p.cnitool(t, "check").ok(t, "Multus CHECK")
	p.cnitool(t, "del").ok(t, "Multus DEL")
	checkPodGone(t, nd, n, want, true)
	p.cnitool(t, "del").ok(t, "second Multus DEL")
}

// TestMultusGC: Multus forwards GC only to its master, and with its own
// list of valid attachments (one per file in its cniDir/results), not the
// runtime's. So a GC removes nothing of a pod Multus still has results for;
// once those are gone (here: removed, with cnitool's cache, as a wiped
// /var/lib/cni would), it removes the master's eth0 and its lease, and the
// delegates' attachments stay for DEL or podwired's reconciler.
func TestMultusGC(t *testing.T) {
	p := newMultusPod(t, obj(t, readExample(t, "multus/multus-static.conf")), "")
	nd, n := p.nd, p.n

	p.cnitool(t, "add").ok(t, "Multus ADD")
	checkMultusAdded(t, n, staticDelegates, false)
	cache := fmt.Sprintf("/var/lib/cni/results/%s-%s-eth0", p.net, n.cid)
	if err := os.Remove(cache); err != nil {
		t.Fatalf("cnitool's cache: %v", err)
	}
	p.cnitool(t, "gc").ok(t, "Multus GC")
	if got := podwired.attachments(t, n.cid); len(got) != len(staticDelegates) {
		t.Fatalf("GC through Multus removed attachments Multus has results for: %v left", got)
	}
	results, _ := filepath.Glob(filepath.Join(nd.multusDir, "results", "*-"+n.cid+"-*"))
	if len(results) != len(staticDelegates) {
		t.Fatalf("Multus' results %v, want one per delegate", results)
	}
	for _, f := range results {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	p.cnitool(t, "gc").ok(t, "Multus GC without Multus' results")
	got := podwired.attachments(t, n.cid)
	if _, ok := got["eth0"]; ok || len(got) != len(staticDelegates)-1 {
		t.Fatalf("after GC through Multus podwired has %v, want all but eth0", got)
	}
	if l := leases(nd.ipamDir); len(l) != 0 {
		t.Fatalf("eth0's host-local lease left after GC: %v", l)
	}
	// Multus' scratch file still lists the delegates: DEL removes them.
	p.cnitool(t, "del").ok(t, "Multus DEL")
	checkPodGone(t, nd, n, staticDelegates, true)
}

// TestMultusSecondary: podwire only as Multus' delegates, from the NADs,
// under another primary CNI: 00-multus.conf with its clusterNetwork
// replaced by the standard bridge plugin (host-local IPAM, a bridge of the
// test's own) as the master, the NADs as net1..net4.
func TestMultusSecondary(t *testing.T) {
	env(t)
	_, err := os.Stat(filepath.Join(toolDir, "bridge"))
	need(t, err == nil, "no bridge plugin in "+toolDir+" (make tools)")
	m := obj(t, readExample(t, "multus/00-multus.conf"))
	delete(m, "clusterNetwork")
	br := unique("pwbr")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	bridge := map[string]any{"cniVersion": "1.0.0", "name": "cluster", "plugins": []any{map[string]any{
		"type": "bridge", "bridge": br,
		"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": "10.99.0.0/24"}}}},
	}}}
	nads, want := nadDelegates(t)
	m["delegates"] = append([]any{bridge}, nads...)
	p := newMultusPod(t, m, "")
	nd, n := p.nd, p.n

	r := parseResult(t, p.cnitool(t, "add").ok(t, "Multus ADD").stdout)
	if len(r.IPs) != 1 || !strings.HasPrefix(r.IPs[0].Address, "10.99.0.") {
		t.Fatalf("Multus result is not the bridge master's: %+v", r)
	}
	if out := n.ip(t, "-4", "addr", "show", "dev", "eth0"); !strings.Contains(out, " 10.99.0.") {
		t.Fatalf("eth0 from bridge has no address:\n%s", out)
	}
	checkMultusAdded(t, n, want, false)
	p.cnitool(t, "check").ok(t, "Multus CHECK")
	p.cnitool(t, "del").ok(t, "Multus DEL")
	checkPodGone(t, nd, n, append(want, delegate{ifName: "eth0"}), true)
	p.cnitool(t, "del").ok(t, "second Multus DEL")
}
