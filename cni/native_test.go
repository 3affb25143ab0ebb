package cni_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/cni"
)

// The native multi-interface mode, the attachment owner (GC), kernel MTU
// on both veth ends and the per-pod socket directory, driven through
// libcni and the real binary against a real podwired.

// nativeNetworks makes podwired networks pwn-a and pwn-b (for the tests'
// "networks" entries) on the shared podwired.
func nativeNetworks(t testing.TB, pw *instance) {
	t.Helper()
	for _, n := range []string{"pwn-a", "pwn-b"} {
		if _, err := pw.client.PutNetwork(ctxT(t), api.Network{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
}

// nativePlugin is a native-mode plugin configuration: a kernel eth0 with
// host-local on subnet 10.250.<n>.0/24 and four requestable networks.
func nativePlugin(pw *instance, dataDir string, n int) map[string]any {
	return map[string]any{
		"kind": "kernel", "mtu": 1450, "podwiredSocket": pw.socket, "podMount": "/var/run/podwire",
		"ipam":         kernelIPAM(dataDir, n),
		"capabilities": map[string]bool{cni.PodAnnotationsCapability: true},
		"networks": map[string]any{
			"dpdk":      map[string]any{"kind": "vhostuser", "network": "pwn-a", "socketOwner": "1000:1000"},
			"team/fast": map[string]any{"kind": "memif", "network": "pwn-a"},
			"side":      map[string]any{"kind": "kernel", "network": "pwn-b", "mtu": 1400},
			"ghost":     map[string]any{"kind": "memif", "network": "pwn-no-such-network"},
		},
	}
}

// nativeRC is a runtime configuration as containerd sends it: the pod's
// identity in CNI_ARGS and its annotations as a capability argument.
func nativeRC(cid, netnsPath, uid, annotation string) *libcni.RuntimeConf {
	ann := map[string]string{"other/annotation": "x"}
	if annotation != "" {
		ann[cni.NetworksAnnotation] = annotation
	}
	return &libcni.RuntimeConf{ContainerID: cid, NetNS: netnsPath, IfName: "eth0",
		Args:           [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "team"}, {"K8S_POD_NAME", "p-" + cid}, {"K8S_POD_UID", uid}},
		CapabilityArgs: map[string]any{cni.PodAnnotationsCapability: ann}}
}

// hostEnd is podwired's name for the host end of a kernel attachment's
// veth ("pw" + 10 hex digits of SHA-256 over "containerID/ifName").
func hostEnd(containerID, ifName string) string {
	h := sha256.Sum256([]byte(containerID + "/" + ifName))
	return "pw" + hex.EncodeToString(h[:5])
}

// nothingLeft fails unless podwired has no attachment, the pod no
// interface of names, host-local no lease and the socket directory no
// entry.
func nothingLeft(t testing.TB, pw *instance, netns interface{ Path() string }, dataDir string, names ...string) {
	t.Helper()
	if l := pw.attachments(t); len(l) != 0 {
		t.Fatalf("attachments left: %+v", l)
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("IPAM leases left: %v", l)
	}
	for _, n := range names {
		if nsHasLink(t, netns.Path(), n) {
			t.Fatalf("interface %s left in the pod", n)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(pw.dir, "s")); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("socket directory entries left: %v", names)
	}
}

func nsHasLink(t testing.TB, nsPath, name string) bool {
	t.Helper()
	var found bool
	n, err := ns.GetNS(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	_ = n.Do(func(ns.NetNS) error {
		_, err := netlink.LinkByName(name)
		found = err == nil
		return nil
	})
	return found
}

// TestNativeMode: one ADD from the text and the JSON annotation forms
// makes eth0 (kernel, host-local) and every requested network, reported
// eth0 first with IPs indexed right; CHECK passes; one DEL (with and,
// for 0.3.1, without prevResult) removes them all; a second DEL is fine.
func TestNativeMode(t *testing.T) {
	pw := sharedPodwired(t)
	nativeNetworks(t, pw)
	cases := []struct {
		name, ver, annotation string
		// ifName=kind for each interface in result order after eth0
		want []string
	}{
		{"text", "1.1.0", "dpdk, team/fast@mif0, side", []string{"net1=vhostuser", "mif0=memif", "net3=kernel"}},
		{"json", "1.0.0", `[{"name":"dpdk","interface":"vhu0","mac":"02:00:00:00:60:01","ips":["10.99.0.5"]},
			{"name":"side","mac":"02:00:00:00:60:02","ips":["10.98.0.7/24"]},{"name":"fast","namespace":"team"}]`,
			[]string{"vhu0=vhostuser", "net2=kernel", "net3=memif"}},
		{"text 0.3.1 (DEL without prevResult)", "0.3.1", "side@side0,dpdk", []string{"side0=kernel", "net2=vhostuser"}},
		{"no annotation", "1.1.0", "", nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := newRuntime(t)
			netns := newNS(t)
			dataDir := t.TempDir()
			list := conflist(t, c.ver, "pwnative", nativePlugin(pw, dataDir, 60+i))
			cid := "native-" + strings.Fields(c.name)[0]
			uid := "uid-" + cid
			rc := nativeRC(cid, netns.Path(), uid, c.annotation)
			r, err := rt.AddNetworkList(ctxT(t), list, rc)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			res, err := current.NewResultFromResult(r)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, in := range res.Interfaces {
				if in.Sandbox != netns.Path() {
					t.Fatalf("interface %s has sandbox %q", in.Name, in.Sandbox)
				}
				got = append(got, in.Name)
			}
			wantNames := []string{"eth0"}
			for _, w := range c.want {
				wantNames = append(wantNames, strings.Split(w, "=")[0])
			}
			if strings.Join(got, " ") != strings.Join(wantNames, " ") {
				t.Fatalf("interfaces %v, want %v", got, wantNames)
			}
			if len(res.IPs) == 0 || *res.IPs[0].Interface != 0 || !strings.HasPrefix(res.IPs[0].Address.String(), "10.250.") {
				t.Fatalf("first IP %v, want eth0's host-local address", res.IPs)
			}
			atts := map[string]api.Attachment{}
			for _, a := range pw.attachments(t) {
				if a.ContainerID != cid || a.Owner != "pwnative" {
					t.Fatalf("attachment %s owner %q", a.Key(), a.Owner)
				}
				atts[a.IfName] = a
			}
			if len(atts) != len(wantNames) {
				t.Fatalf("podwired has %d attachments, want %d", len(atts), len(wantNames))
			}
			for j, w := range c.want {
				name, kind, _ := strings.Cut(w, "=")
				a := atts[name]
				if a.Kind != kind {
					t.Fatalf("%s: kind %q, want %s", name, a.Kind, kind)
				}
				in := res.Interfaces[j+1]
				if kind == "kernel" {
					l, _, _, err := podLink(t, netns, name)
					if err != nil || l.Attrs().MTU != 1400 {
						t.Fatalf("%s in the pod: %v, mtu %v", name, err, l)
					}
					continue
				}
				if c.ver == "1.1.0" {
					want := filepath.Join(pw.dir, "s", "pods", uid, name, map[string]string{"vhostuser": "vhost.sock", "memif": "memif.sock"}[kind])
					if in.SocketPath != want || a.SocketPath != want {
						t.Fatalf("%s socketPath %q (podwired %q), want %q", name, in.SocketPath, a.SocketPath, want)
					}
				}
				if a.PodSocketPath != filepath.Join("/var/run/podwire", name, filepath.Base(a.SocketPath)) {
					t.Fatalf("%s podSocketPath %q", name, a.PodSocketPath)
				}
			}
			if l, _, _, err := podLink(t, netns, "eth0"); err != nil || l.Attrs().MTU != 1450 {
				t.Fatalf("eth0: %v %v", err, l)
			}
			if c.name == "json" {
				// Requested MACs and addresses: on the kernel netdev, in
				// the result for both.
				l, addrs, _, err := podLink(t, netns, "net2")
				if err != nil || l.Attrs().HardwareAddr.String() != "02:00:00:00:60:02" || len(addrs) != 1 || addrs[0].IPNet.String() != "10.98.0.7/24" {
					t.Fatalf("net2: %v %v %v", err, l, addrs)
				}
				if atts["vhu0"].MAC != "02:00:00:00:60:01" || res.Interfaces[1].Mac != "02:00:00:00:60:01" {
					t.Fatalf("vhu0 mac: podwired %s, result %s", atts["vhu0"].MAC, res.Interfaces[1].Mac)
				}
				var ips []string
				for _, ipc := range res.IPs[1:] {
					ips = append(ips, ipc.Address.String()+"@"+res.Interfaces[*ipc.Interface].Name)
				}
				if want := "10.99.0.5/32@vhu0 10.98.0.7/24@net2"; strings.Join(ips, " ") != want {
					t.Fatalf("ips %v, want %s", ips, want)
				}
			}
			if c.ver != "0.3.1" {
				if err := rt.CheckNetworkList(ctxT(t), list, rc); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
			} else {
				// 0.3.1 has no prevResult on DEL: drop the runtime's cache
				// too, so nothing but podwired's own state is left.
				if err := os.RemoveAll(filepath.Join(rt.cache, "results")); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
					t.Fatalf("DEL: %v", err)
				}
			}
			nothingLeft(t, pw, netns, dataDir, wantNames...)
		})
	}
}

// TestNativeModeFailures: an unknown network, a network podwired does not
// have (after eth0 and an earlier network were made) and malformed
// annotations: each ADD fails with code 7 naming the problem and leaves
// nothing behind; DEL after a partial state removes what is there.
func TestNativeModeFailures(t *testing.T) {
	pw := sharedPodwired(t)
	nativeNetworks(t, pw)
	netns := newNS(t)
	dataDir := t.TempDir()
	plugin := nativePlugin(pw, dataDir, 70)
	cases := []struct{ name, annotation, words string }{
		{"unknown network", "dpdk, nope", `network "nope" (namespace "team") is not one of this configuration's networks`},
		{"network podwired lacks (rolled back)", "dpdk, side, ghost", `"networks.ghost.network": ADD net3: podwired: no network "pwn-no-such-network"`},
		{"upper case name", "Dpdk", "not a DNS-1123 label"},
		{"two slashes", "a/b/dpdk", "more than one '/'"},
		{"empty interface", "dpdk@", "empty interface"},
		{"clash with eth0", "dpdk@eth0", "interface eth0 is already the primary interface"},
		{"two the same", "dpdk, side@net1", "interface net1 is already"},
		{"json not a list", `{"name":"dpdk"}`, "JSON form"},
		{"json bad mac", `[{"name":"dpdk","mac":"02:00:00:00:00"}]`, "mac"},
		{"json bad ip", `[{"name":"dpdk","ips":["10.0.0.256/24"]}]`, "not a CIDR"},
		{"json kernel ip without prefix", `[{"name":"side","ips":["10.0.0.2"]}]`, "needs a prefix length"},
		{"json bad interface", `[{"name":"dpdk","interface":"has space"}]`, "whitespace"},
		{"json unsupported key", `[{"name":"dpdk","portMappings":[]}]`, `"portMappings" is not supported`},
		{"json name not a string", `[{"name":["dpdk"]}]`, `"name": want a string`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := map[string]any{"cniVersion": "1.1.0", "name": "pwnatfail", "type": "podwire",
				"runtimeConfig": map[string]any{cni.PodAnnotationsCapability: map[string]string{cni.NetworksAnnotation: c.annotation}}}
			for k, v := range plugin {
				conf[k] = v
			}
			env := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "natfail" + string(rune('a'+i)), "CNI_NETNS": netns.Path(),
				"CNI_IFNAME": "eth0", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=team;K8S_POD_UID=uid-natfail"}
			out, stderr, code := runPlugin(t, env, mustJSON(t, conf))
			if code == 0 {
				t.Fatalf("ADD succeeded: %s", out)
			}
			var ce types.Error
			if err := json.Unmarshal(out, &ce); err != nil {
				t.Fatalf("stdout is not a CNI error: %q (stderr %q)", out, stderr)
			}
			if ce.Code != types.ErrInvalidNetworkConfig || !strings.Contains(ce.Msg, c.words) {
				t.Fatalf("code %d %q, want 7 containing %q", ce.Code, ce.Msg, c.words)
			}
			t.Logf("code %d: %s", ce.Code, ce.Msg)
			nothingLeft(t, pw, netns, dataDir, "eth0", "net1", "net2", "net3")
		})
	}

	// DEL after a partial ADD: eth0's attachment gone (a crash half-way),
	// the others there; DEL without prevResult removes them.
	rt := newRuntime(t)
	list := conflist(t, "1.1.0", "pwnatfail", plugin)
	rc := nativeRC("natpartial", netns.Path(), "uid-natpartial", "dpdk, side")
	if _, err := rt.AddNetworkList(ctxT(t), list, rc); err != nil {
		t.Fatal(err)
	}
	if err := pw.client.DeleteAttachment(ctxT(t), "natpartial", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(rt.cache, "results")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	nothingLeft(t, pw, netns, dataDir, "eth0", "net1", "net2")
}

// TestGCOwner: GC of one CNI network removes its own stale attachments
// only: another CNI network's attachments on the same podwired network
// stay, and so do a valid container's native-mode extras.
func TestGCOwner(t *testing.T) {
	pw := sharedPodwired(t)
	nativeNetworks(t, pw)
	rt := newRuntime(t)
	netns := newNS(t)
	a := conflist(t, "1.1.0", "pwgca", map[string]any{"kind": "memif", "podwiredSocket": pw.socket})
	b := conflist(t, "1.1.0", "pwgcb", map[string]any{"kind": "memif", "podwiredSocket": pw.socket})
	for _, x := range []struct {
		list *libcni.NetworkConfigList
		cid  string
	}{{a, "gco-a1"}, {a, "gco-a2"}, {b, "gco-b1"}} {
		if _, err := rt.AddNetworkList(ctxT(t), x.list, &libcni.RuntimeConf{ContainerID: x.cid, NetNS: netns.Path(), IfName: "net1"}); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := t.TempDir()
	nat := conflist(t, "1.1.0", "pwgcn", nativePlugin(pw, dataDir, 71))
	nrc := nativeRC("gco-n1", netns.Path(), "uid-gco-n1", "dpdk")
	if _, err := rt.AddNetworkList(ctxT(t), nat, nrc); err != nil {
		t.Fatal(err)
	}
	keys := func() string {
		var k []string
		for _, x := range pw.attachments(t) {
			k = append(k, x.Key()+"("+x.Owner+")")
		}
		return strings.Join(k, " ")
	}
	// The runtime lists a1 valid: a2 goes, b1 (network pwgcb) and the
	// native pod (pwgcn) stay.
	if err := rt.GCNetworkList(ctxT(t), a, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "gco-a1", IfName: "net1"}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(), "gco-a1/net1(pwgca) gco-b1/net1(pwgcb) gco-n1/eth0(pwgcn) gco-n1/net1(pwgcn)"; got != want {
		t.Fatalf("after GC of pwgca: %s, want %s", got, want)
	}
	// The native network's GC with its pod valid (the runtime knows eth0
	// alone) keeps net1 too; with nothing valid both go, and the lease.
	if err := rt.GCNetworkList(ctxT(t), nat, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "gco-n1", IfName: "eth0"}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(), "gco-a1/net1(pwgca) gco-b1/net1(pwgcb) gco-n1/eth0(pwgcn) gco-n1/net1(pwgcn)"; got != want {
		t.Fatalf("after GC of pwgcn with its pod valid: %s, want %s", got, want)
	}
	if err := rt.GCNetworkList(ctxT(t), nat, &libcni.GCArgs{}); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(), "gco-a1/net1(pwgca) gco-b1/net1(pwgcb)"; got != want {
		t.Fatalf("after GC of pwgcn: %s, want %s", got, want)
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("leases after GC: %v", l)
	}
	for _, x := range []struct {
		list *libcni.NetworkConfigList
		cid  string
	}{{a, "gco-a1"}, {b, "gco-b1"}} {
		if err := rt.DelNetworkList(ctxT(t), x.list, &libcni.RuntimeConf{ContainerID: x.cid, NetNS: netns.Path(), IfName: "net1"}); err != nil {
			t.Fatal(err)
		}
	}
	nothingLeft(t, pw, netns, dataDir)
}

// TestKernelMTUBothEnds: a kernel attachment's MTU is on the pod's netdev
// and on the host end of its veth, reported in the 1.1 result and
// checked by CHECK.
func TestKernelMTUBothEnds(t *testing.T) {
	pw := sharedPodwired(t)
	rt := newRuntime(t)
	netns := newNS(t)
	dataDir := t.TempDir()
	list := conflist(t, "1.1.0", "pwmtu", map[string]any{"kind": "kernel", "podwiredSocket": pw.socket, "mtu": 1280, "ipam": kernelIPAM(dataDir, 72)})
	rc := &libcni.RuntimeConf{ContainerID: "mtu-1", NetNS: netns.Path(), IfName: "eth0"}
	r, err := rt.AddNetworkList(ctxT(t), list, rc)
	if err != nil {
		t.Fatal(err)
	}
	if m := resultJSON(t, r)["interfaces"].([]any)[0].(map[string]any)["mtu"]; m != float64(1280) {
		t.Fatalf("result mtu %v", m)
	}
	l, _, _, err := podLink(t, netns, "eth0")
	if err != nil || l.Attrs().MTU != 1280 {
		t.Fatalf("pod end: %v %v", err, l)
	}
	host, err := netlink.LinkByName(hostEnd("mtu-1", "eth0"))
	if err != nil || host.Attrs().MTU != 1280 {
		t.Fatalf("host end %s: %v %v", hostEnd("mtu-1", "eth0"), err, host)
	}
	if a, err := pw.client.Attachment(ctxT(t), "mtu-1", "eth0"); err != nil || a.MTU != 1280 || a.Owner != "pwmtu" {
		t.Fatalf("podwired: %+v %v", a, err)
	}
	if err := rt.CheckNetworkList(ctxT(t), list, rc); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	// CHECK notices an MTU changed behind podwire's back.
	if err := netns.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName("eth0")
		if err == nil {
			err = netlink.LinkSetMTU(l, 1300)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := rt.CheckNetworkList(ctxT(t), list, rc); err == nil || cniErr(t, err).Code != cni.ErrCodeCheck {
		t.Fatalf("CHECK after the MTU changed: %v", err)
	}
	if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(hostEnd("mtu-1", "eth0")); err == nil {
		t.Fatal("host end left")
	}
	nothingLeft(t, pw, netns, dataDir, "eth0")
}

// TestPodSocketDir: with the pod's UID in CNI_ARGS a socket attachment's
// directory is <socketDir>/pods/<uid>/<ifName>/ (a relative link, so it
// resolves inside the pod's mount of <socketDir>/pods/<uid>); device-info
// names the socket under podMount; another sandbox of the same pod cannot
// take the same interface name; DEL removes the pod directory. Without
// a UID the old layout is kept.
func TestPodSocketDir(t *testing.T) {
	pw := sharedPodwired(t)
	rt := newRuntime(t)
	netns := newNS(t)
	devinfo := filepath.Join(t.TempDir(), "devinfo.json")
	list := conflist(t, "1.1.0", "pwpoddir", map[string]any{"kind": "vhostuser", "vhostMode": "server", "podwiredSocket": pw.socket,
		"socketOwner": "1000:1000", "podMount": "/var/run/podwire", "capabilities": map[string]bool{"CNIDeviceInfoFile": true}})
	uid := "3f1e9a8c-1b2d-4c5e-8f70-123456789abc"
	args := [][2]string{{"IgnoreUnknown", "true"}, {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_UID", "u-dup"}, {"K8S_POD_UID", uid}}
	rc := &libcni.RuntimeConf{ContainerID: "poddir-1", NetNS: netns.Path(), IfName: "net1", Args: args,
		CapabilityArgs: map[string]any{"CNIDeviceInfoFile": devinfo}}
	r, err := rt.AddNetworkList(ctxT(t), list, rc)
	if err != nil {
		t.Fatal(err)
	}
	podDir := filepath.Join(pw.dir, "s", "pods", uid)
	sock := filepath.Join(podDir, "net1", "vhost.sock")
	if got := resultJSON(t, r)["interfaces"].([]any)[0].(map[string]any)["socketPath"]; got != sock {
		t.Fatalf("socketPath %v, want %s", got, sock)
	}
	if len(sock) > 107 {
		t.Fatalf("socket path %d bytes", len(sock))
	}
	target, err := os.Readlink(filepath.Join(podDir, "net1"))
	if err != nil || strings.Contains(target, "/") {
		t.Fatalf("pod link: %q %v, want a relative link in the pod directory", target, err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket through the link: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(podDir, target)); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("attachment directory: %v %v", fi, err)
	}
	for _, f := range []string{filepath.Join(podDir, "net1", "device-info.json"), devinfo} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var di cni.DeviceInfo
		if err := json.Unmarshal(b, &di); err != nil || di.VhostUser == nil || di.VhostUser.Path != "/var/run/podwire/net1/vhost.sock" || di.VhostUser.Mode != "client" {
			t.Fatalf("%s: %s", f, b)
		}
	}
	if err := rt.CheckNetworkList(ctxT(t), list, rc); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	// A second sandbox of the same pod while the first holds net1.
	rc2 := *rc
	rc2.ContainerID, rc2.CapabilityArgs = "poddir-2", nil
	_, err = rt.AddNetworkList(ctxT(t), list, &rc2)
	if err == nil || cniErr(t, err).Code != cni.ErrCodePodwired || !strings.Contains(err.Error(), "already has interface net1") {
		t.Fatalf("second sandbox: %v", err)
	}
	if l := pw.attachments(t); len(l) != 1 {
		t.Fatalf("attachments after the refused ADD: %d", len(l))
	}
	// A bad UID is code 4 naming CNI_ARGS.
	rc3 := *rc
	rc3.ContainerID, rc3.Args, rc3.CapabilityArgs = "poddir-3", [][2]string{{"K8S_POD_UID", "../etc"}}, nil
	if _, err := rt.AddNetworkList(ctxT(t), list, &rc3); err == nil || cniErr(t, err).Code != types.ErrInvalidEnvironmentVariables || !strings.Contains(err.Error(), "CNI_ARGS: K8S_POD_UID") {
		t.Fatalf("bad uid: %v", err)
	}
	if err := rt.DelNetworkList(ctxT(t), list, &rc2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(podDir, "net1")); err != nil {
		t.Fatalf("DEL of the refused sandbox touched the first's link: %v", err)
	}
	if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(podDir); !os.IsNotExist(err) {
		t.Fatalf("pod directory after DEL: %v", err)
	}
	if _, err := os.Lstat(devinfo); !os.IsNotExist(err) {
		t.Fatalf("device-info file after DEL: %v", err)
	}
	// Without a UID: <socketDir>/<hash>/, as before.
	rc4 := &libcni.RuntimeConf{ContainerID: "poddir-4", NetNS: netns.Path(), IfName: "net1"}
	r, err = rt.AddNetworkList(ctxT(t), list, rc4)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultJSON(t, r)["interfaces"].([]any)[0].(map[string]any)["socketPath"].(string); filepath.Dir(filepath.Dir(got)) != filepath.Join(pw.dir, "s") {
		t.Fatalf("socketPath without a pod UID: %s", got)
	}
	if err := rt.DelNetworkList(ctxT(t), list, rc4); err != nil {
		t.Fatal(err)
	}
	nothingLeft(t, pw, netns, t.TempDir())
}
