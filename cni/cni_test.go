package cni_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/cni"
)

var specVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// resultJSON is the result as the plugin printed it, decoded generically so
// that absent keys can be asserted.
func resultJSON(t testing.TB, r types.Result) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := r.PrintTo(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVersion(t *testing.T) {
	out, stderr, code := runPlugin(t, map[string]string{"CNI_COMMAND": "VERSION"}, `{"cniVersion":"1.1.0"}`)
	if code != 0 {
		t.Fatalf("VERSION exit %d: %s %s", code, out, stderr)
	}
	var v struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.SupportedVersions, ",") != strings.Join(specVersions, ",") {
		t.Fatalf("supportedVersions %v, want %v", v.SupportedVersions, specVersions)
	}
	// libcni's view of the same.
	rt := newRuntime(t)
	pi, err := rt.GetVersionInfo(ctxT(t), "podwire")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pi.SupportedVersions(), ","); got != strings.Join(specVersions, ",") {
		t.Fatalf("libcni sees %s", got)
	}
}

// TestSocketKinds runs ADD, CHECK, DEL twice and STATUS for vhostuser (both
// modes) and memif in each spec version, through libcni.
func TestSocketKinds(t *testing.T) {
	pw := sharedPodwired(t)
	kinds := []struct {
		name         string
		conf         map[string]any
		podwiredMade bool   // podwired creates the socket file
		devMode      string // device-info vhost-user mode or memif role
	}{
		{"vhostuser", map[string]any{"kind": "vhostuser"}, false, "server"},
		{"vhostuser-server", map[string]any{"kind": "vhostuser", "vhostMode": "server", "socketMode": "0666", "queues": 2}, true, "client"},
		{"memif", map[string]any{"kind": "memif", "socketOwner": "1000:1000", "mtu": 9000}, true, "slave"},
	}
	for _, ver := range specVersions {
		for _, k := range kinds {
			t.Run(ver+"/"+k.name, func(t *testing.T) {
				rt := newRuntime(t)
				netns := newNS(t)
				devinfo := filepath.Join(t.TempDir(), "devinfo", "podwire-net1.json")
				plugin := map[string]any{"podwiredSocket": pw.socket, "capabilities": map[string]bool{"CNIDeviceInfoFile": true, "mac": true}}
				for k, v := range k.conf {
					plugin[k] = v
				}
				list := conflist(t, ver, "pwtest", plugin)
				cid := "sock-" + strings.ReplaceAll(ver, ".", "") + "-" + k.name
				rc := &libcni.RuntimeConf{ContainerID: cid, NetNS: netns.Path(), IfName: "net1",
					CapabilityArgs: map[string]any{"CNIDeviceInfoFile": devinfo, "mac": "02:00:00:00:10:01"}}
				r, err := rt.AddNetworkList(ctxT(t), list, rc)
				if err != nil {
					t.Fatalf("ADD: %v", err)
				}
				if r.Version() != ver {
					t.Fatalf("result version %s, want %s", r.Version(), ver)
				}
				att, err := pw.client.Attachment(ctxT(t), cid, "net1")
				if err != nil {
					t.Fatalf("podwired has no attachment after ADD: %v", err)
				}
				if att.Netns != netns.Path() || att.Kind != k.conf["kind"] || att.MAC != "02:00:00:00:10:01" {
					t.Fatalf("podwired attachment %+v", att)
				}
				m := resultJSON(t, r)
				if m["cniVersion"] != ver {
					t.Fatalf("printed cniVersion %v", m["cniVersion"])
				}
				ifs := m["interfaces"].([]any)
				if len(ifs) != 1 {
					t.Fatalf("interfaces %v", ifs)
				}
				in := ifs[0].(map[string]any)
				if in["name"] != "net1" || in["sandbox"] != netns.Path() || in["mac"] != "02:00:00:00:10:01" {
					t.Fatalf("interface %v", in)
				}
				if ver == "1.1.0" {
					if in["socketPath"] != att.SocketPath || att.SocketPath == "" {
						t.Fatalf("1.1 result socketPath %v, podwired %q", in["socketPath"], att.SocketPath)
					}
					if mtu, ok := k.conf["mtu"]; ok && in["mtu"] != float64(mtu.(int)) {
						t.Fatalf("1.1 result mtu %v, want %v", in["mtu"], mtu)
					}
				} else if _, ok := in["socketPath"]; ok {
					t.Fatalf("%s result has socketPath: %v", ver, in)
				} else if _, ok := in["mtu"]; ok {
					t.Fatalf("%s result has mtu: %v", ver, in)
				}
				if fi, err := os.Stat(att.SocketPath); k.podwiredMade && (err != nil || fi.Mode().Type() != os.ModeSocket) {
					t.Fatalf("socket %s: %v", att.SocketPath, err)
				}
				// Device-info: podwired's next to the socket, the same in the
				// file Multus names.
				own, err := os.ReadFile(filepath.Join(filepath.Dir(att.SocketPath), cni.DeviceInfoFile))
				if err != nil {
					t.Fatalf("podwired's device-info: %v", err)
				}
				got, err := os.ReadFile(devinfo)
				if err != nil {
					t.Fatalf("CNIDeviceInfoFile: %v", err)
				}
				if !bytes.Equal(own, got) {
					t.Fatalf("CNIDeviceInfoFile differs from podwired's:\n%s\n%s", got, own)
				}
				var di cni.DeviceInfo
				if err := json.Unmarshal(got, &di); err != nil {
					t.Fatal(err)
				}
				switch {
				case di.Version != "1.1.0":
					t.Fatalf("device-info version %q", di.Version)
				case k.conf["kind"] == "memif" && (di.Type != "memif" || di.Memif == nil || di.Memif.Role != k.devMode || di.Memif.Path != att.SocketPath || di.Memif.Mode != "ethernet"):
					t.Fatalf("memif device-info %s", got)
				case k.conf["kind"] == "vhostuser" && (di.Type != "vhost-user" || di.VhostUser == nil || di.VhostUser.Mode != k.devMode || di.VhostUser.Path != att.SocketPath):
					t.Fatalf("vhost-user device-info %s", got)
				}

				err = rt.CheckNetworkList(ctxT(t), list, rc)
				if ver == "0.3.1" {
					if err == nil {
						t.Fatal("libcni ran CHECK for 0.3.1")
					}
				} else if err != nil {
					t.Fatalf("CHECK: %v", err)
				}
				if err := rt.GetStatusNetworkList(ctxT(t), list); err != nil {
					t.Fatalf("STATUS: %v", err)
				}
				// ADD again: same attachment, same socket.
				if ver == "1.1.0" {
					if _, err := rt.AddNetworkList(ctxT(t), list, rc); err != nil {
						t.Fatalf("repeated ADD: %v", err)
					}
					if again, _ := pw.client.Attachment(ctxT(t), cid, "net1"); again.SocketPath != att.SocketPath {
						t.Fatalf("repeated ADD moved the socket: %s -> %s", att.SocketPath, again.SocketPath)
					}
				}
				for i := range 2 {
					if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
						t.Fatalf("DEL %d: %v", i+1, err)
					}
				}
				if _, err := pw.client.Attachment(ctxT(t), cid, "net1"); !errors.Is(err, api.ErrNotFound) {
					t.Fatalf("attachment after DEL: %v", err)
				}
				if _, err := os.Stat(filepath.Dir(att.SocketPath)); !os.IsNotExist(err) {
					t.Fatalf("socket directory after DEL: %v", err)
				}
				if _, err := os.Stat(devinfo); !os.IsNotExist(err) {
					t.Fatalf("CNIDeviceInfoFile after DEL: %v", err)
				}
			})
		}
	}
	if l := pw.attachments(t); len(l) != 0 {
		t.Fatalf("attachments left: %+v", l)
	}
}

// kernelIPAM is a host-local IPAM config on its own subnet and data dir.
func kernelIPAM(dataDir string, n int) map[string]any {
	return map[string]any{
		"type":    "host-local",
		"ranges":  [][]map[string]string{{{"subnet": fmt.Sprintf("10.250.%d.0/24", n)}}},
		"routes":  []map[string]string{{"dst": "10.251.0.0/16"}},
		"dataDir": dataDir,
	}
}

// podLink looks up ifName in the namespace.
func podLink(t testing.TB, n ns.NetNS, ifName string) (netlink.Link, []netlink.Addr, []netlink.Route, error) {
	t.Helper()
	var (
		link   netlink.Link
		addrs  []netlink.Addr
		routes []netlink.Route
	)
	err := n.Do(func(ns.NetNS) error {
		var err error
		if link, err = netlink.LinkByName(ifName); err != nil {
			return err
		}
		if addrs, err = netlink.AddrList(link, netlink.FAMILY_V4); err != nil {
			return err
		}
		routes, err = netlink.RouteList(link, netlink.FAMILY_V4)
		return err
	})
	return link, addrs, routes, err
}

// leases lists host-local's allocation files (IP-named) in dataDir.
func leases(t testing.TB, dataDir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "10.") {
			out = append(out, d.Name())
		}
		return nil
	})
	return out
}

// TestKernel runs kind kernel with host-local IPAM in each spec version:
// the netdev podwired creates gets the address, route and MTU; CHECK sees
// a removed address; DEL twice releases the lease and the interface.
func TestKernel(t *testing.T) {
	pw := sharedPodwired(t)
	for i, ver := range specVersions {
		t.Run(ver, func(t *testing.T) {
			rt := newRuntime(t)
			netns := newNS(t)
			dataDir := t.TempDir()
			list := conflist(t, ver, "pwkernel", map[string]any{"kind": "kernel", "podwiredSocket": pw.socket, "mtu": 1400,
				"ipam": kernelIPAM(dataDir, i), "capabilities": map[string]bool{"mac": true}})
			cid := "kern-" + strings.ReplaceAll(ver, ".", "")
			mac := fmt.Sprintf("02:00:00:00:20:%02x", i)
			rc := &libcni.RuntimeConf{ContainerID: cid, NetNS: netns.Path(), IfName: "eth0", CapabilityArgs: map[string]any{"mac": mac}}
			r, err := rt.AddNetworkList(ctxT(t), list, rc)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			m := resultJSON(t, r)
			if m["cniVersion"] != ver {
				t.Fatalf("cniVersion %v", m["cniVersion"])
			}
			link, addrs, routes, err := podLink(t, netns, "eth0")
			if err != nil {
				t.Fatalf("eth0 in the pod: %v", err)
			}
			in := m["interfaces"].([]any)[0].(map[string]any)
			if in["name"] != "eth0" || in["sandbox"] != netns.Path() || in["mac"] != mac || link.Attrs().HardwareAddr.String() != mac {
				t.Fatalf("interface %v, link mac %s", in, link.Attrs().HardwareAddr)
			}
			if _, ok := in["socketPath"]; ok {
				t.Fatalf("kernel interface with socketPath: %v", in)
			}
			if (ver == "1.1.0") != (in["mtu"] == float64(1400)) {
				t.Fatalf("%s: interface mtu %v", ver, in["mtu"])
			}
			ips := m["ips"].([]any)
			if len(ips) != 1 {
				t.Fatalf("ips %v", ips)
			}
			ip0 := ips[0].(map[string]any)
			want := fmt.Sprintf("10.250.%d.2/24", i)
			if ip0["address"] != want || ip0["interface"] != float64(0) {
				t.Fatalf("ips[0] %v, want %s on interface 0", ip0, want)
			}
			if v, ok := ip0["version"]; (ver == "0.3.1" || ver == "0.4.0") != ok || (ok && v != "4") {
				t.Fatalf("%s: ips[0].version %v", ver, v)
			}
			if link.Attrs().MTU != 1400 || link.Attrs().Flags&net.FlagUp == 0 {
				t.Fatalf("eth0 mtu %d flags %v", link.Attrs().MTU, link.Attrs().Flags)
			}
			if len(addrs) != 1 || addrs[0].IPNet.String() != want {
				t.Fatalf("eth0 addresses %v", addrs)
			}
			found := false
			for _, r := range routes {
				if r.Dst != nil && r.Dst.String() == "10.251.0.0/16" {
					found = true
				}
			}
			if !found {
				t.Fatalf("route 10.251.0.0/16 missing: %v", routes)
			}
			if l := leases(t, dataDir); len(l) != 1 {
				t.Fatalf("host-local leases %v", l)
			}
			if ver != "0.3.1" {
				if err := rt.CheckNetworkList(ctxT(t), list, rc); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
			}
			if ver == "1.1.0" {
				if err := rt.GetStatusNetworkList(ctxT(t), list); err != nil {
					t.Fatalf("STATUS: %v", err)
				}
				// CHECK notices an address taken away.
				err := netns.Do(func(ns.NetNS) error { return netlink.AddrDel(link, &addrs[0]) })
				if err != nil {
					t.Fatal(err)
				}
				err = rt.CheckNetworkList(ctxT(t), list, rc)
				if err == nil || cniErr(t, err).Code != cni.ErrCodeCheck {
					t.Fatalf("CHECK after removing the address: %v", err)
				}
			}
			for i := range 2 {
				if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
					t.Fatalf("DEL %d: %v", i+1, err)
				}
			}
			if _, _, _, err := podLink(t, netns, "eth0"); err == nil {
				t.Fatal("eth0 still in the pod after DEL")
			}
			if l := leases(t, dataDir); len(l) != 0 {
				t.Fatalf("host-local leases after DEL: %v", l)
			}
			if _, err := pw.client.Attachment(ctxT(t), cid, "eth0"); !errors.Is(err, api.ErrNotFound) {
				t.Fatalf("attachment after DEL: %v", err)
			}
		})
	}
	t.Run("netns gone", func(t *testing.T) {
		rt := newRuntime(t)
		netns := newNS(t)
		dataDir := t.TempDir()
		list := conflist(t, "1.1.0", "pwkernel", map[string]any{"kind": "kernel", "podwiredSocket": pw.socket, "ipam": kernelIPAM(dataDir, 9)})
		rc := &libcni.RuntimeConf{ContainerID: "kern-gone", NetNS: netns.Path(), IfName: "eth0"}
		if _, err := rt.AddNetworkList(ctxT(t), list, rc); err != nil {
			t.Fatalf("ADD: %v", err)
		}
		removeNS(netns)
		for i := range 2 {
			if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
				t.Fatalf("DEL %d with the netns gone: %v", i+1, err)
			}
		}
		if _, err := pw.client.Attachment(ctxT(t), "kern-gone", "eth0"); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("attachment after DEL: %v", err)
		}
		if l := leases(t, dataDir); len(l) != 0 {
			t.Fatalf("host-local leases after DEL: %v", l)
		}
	})
	t.Run("0.3.1 DEL without cache", func(t *testing.T) {
		// 0.3.1 DEL never gets prevResult; with an empty cache neither do
		// later versions: podwired's state is enough.
		netns := newNS(t)
		dataDir := t.TempDir()
		list := conflist(t, "0.3.1", "pwkernel", map[string]any{"kind": "kernel", "podwiredSocket": pw.socket, "ipam": kernelIPAM(dataDir, 10)})
		rc := &libcni.RuntimeConf{ContainerID: "kern-nocache", NetNS: netns.Path(), IfName: "eth1"}
		if _, err := newRuntime(t).AddNetworkList(ctxT(t), list, rc); err != nil {
			t.Fatalf("ADD: %v", err)
		}
		if err := newRuntime(t).DelNetworkList(ctxT(t), list, rc); err != nil {
			t.Fatalf("DEL from a runtime without the cached result: %v", err)
		}
		if _, _, _, err := podLink(t, netns, "eth1"); err == nil {
			t.Fatal("eth1 still in the pod after DEL")
		}
		if l := leases(t, dataDir); len(l) != 0 {
			t.Fatalf("leases after DEL: %v", l)
		}
	})
	if l := pw.attachments(t); len(l) != 0 {
		t.Fatalf("attachments left: %+v", l)
	}
}

// TestGC: GC keeps the attachments of valid containers, those on other
// podwired networks and those without a netns (not made by the plugin),
// and removes the rest, whether libcni still had them cached or not.
func TestGC(t *testing.T) {
	pw := sharedPodwired(t)
	rt := newRuntime(t)
	netns := newNS(t)
	list := conflist(t, "1.1.0", "pwgc", map[string]any{"kind": "memif", "podwiredSocket": pw.socket})
	for _, cid := range []string{"gc-c1", "gc-c2"} {
		rc := &libcni.RuntimeConf{ContainerID: cid, NetNS: netns.Path(), IfName: "net1"}
		if _, err := rt.AddNetworkList(ctxT(t), list, rc); err != nil {
			t.Fatalf("ADD %s: %v", cid, err)
		}
	}
	// Attachments the runtime has no cache entry for.
	for _, a := range []api.Attachment{
		{ContainerID: "gc-c3", IfName: "net1", Network: "default", Kind: "memif", Netns: netns.Path()},
		{ContainerID: "gc-c1", IfName: "net2", Network: "default", Kind: "memif", Netns: netns.Path()},
		{ContainerID: "gc-other", IfName: "net1", Network: "other", Kind: "memif", Netns: netns.Path()},
		{ContainerID: "gc-static", IfName: "net1", Network: "default", Kind: "memif"},
	} {
		if _, err := pw.client.PutAttachment(ctxT(t), a); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() string {
		var k []string
		for _, a := range pw.attachments(t) {
			k = append(k, a.Key())
		}
		return strings.Join(k, " ")
	}
	err := rt.GCNetworkList(ctxT(t), list, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "gc-c1", IfName: "net1"}}})
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got, want := keys(), "gc-c1/net1 gc-c1/net2 gc-other/net1 gc-static/net1"; got != want {
		t.Fatalf("after GC with gc-c1 valid: %s, want %s", got, want)
	}
	if err := rt.GCNetworkList(ctxT(t), list, &libcni.GCArgs{}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got, want := keys(), "gc-other/net1 gc-static/net1"; got != want {
		t.Fatalf("after GC with nothing valid: %s, want %s", got, want)
	}

	// A kernel attachment with a host-local lease, ADDed by a runtime
	// whose cache is gone: GC removes the attachment and, forwarded to
	// host-local, the lease.
	dataDir := t.TempDir()
	kl := conflist(t, "1.1.0", "pwgck", map[string]any{"kind": "kernel", "podwiredSocket": pw.socket, "ipam": kernelIPAM(dataDir, 30)})
	if _, err := newRuntime(t).AddNetworkList(ctxT(t), kl, &libcni.RuntimeConf{ContainerID: "gc-k1", NetNS: netns.Path(), IfName: "eth0"}); err != nil {
		t.Fatalf("ADD kernel: %v", err)
	}
	if l := leases(t, dataDir); len(l) != 1 {
		t.Fatalf("leases %v", l)
	}
	if err := newRuntime(t).GCNetworkList(ctxT(t), kl, &libcni.GCArgs{}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got, want := keys(), "gc-other/net1 gc-static/net1"; got != want {
		t.Fatalf("after GC of the kernel network: %s, want %s", got, want)
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("leases after GC: %v", l)
	}
	if _, _, _, err := podLink(t, netns, "eth0"); err == nil {
		t.Fatal("eth0 still in the pod after GC")
	}
	for _, k := range []string{"gc-other", "gc-static"} {
		if err := pw.client.DeleteAttachment(ctxT(t), k, "net1"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPodwiredDown: with podwired not running (no socket; a socket nobody
// listens on, after SIGKILL), ADD fails fast with code 11 naming the
// socket, DEL succeeds, STATUS is code 50.
func TestPodwiredDown(t *testing.T) {
	pw := startPodwired(t)
	pw.signal(syscall.SIGKILL)
	if fi, err := os.Stat(pw.socket); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("a killed podwired leaves its socket: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nothing-here.sock")
	for _, sock := range []string{missing, pw.socket} {
		t.Run(filepath.Base(sock), func(t *testing.T) {
			t0 := time.Now()
			defer func() {
				if d := time.Since(t0); d > 5*time.Second {
					t.Errorf("took %v: should fail fast", d)
				}
			}()
			rt := newRuntime(t)
			netns := newNS(t)
			for _, kind := range []string{"vhostuser", "kernel"} {
				list := conflist(t, "1.1.0", "pwdown", map[string]any{"kind": kind, "podwiredSocket": sock})
				rc := &libcni.RuntimeConf{ContainerID: "down-" + kind, NetNS: netns.Path(), IfName: "net1"}
				_, err := rt.AddNetworkList(ctxT(t), list, rc)
				if err == nil {
					t.Fatal("ADD succeeded without podwired")
				}
				if e := cniErr(t, err); e.Code != types.ErrTryAgainLater || !strings.Contains(e.Msg, sock) {
					t.Fatalf("ADD: code %d %q, want 11 naming %s", e.Code, e.Msg, sock)
				}
				if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
					t.Fatalf("DEL without podwired: %v", err)
				}
				err = rt.GetStatusNetworkList(ctxT(t), list)
				if e := cniErr(t, err); e.Code != types.ErrPluginNotAvailable || !strings.Contains(e.Msg, sock) {
					t.Fatalf("STATUS: code %d %q, want 50 naming %s", e.Code, e.Msg, sock)
				}
			}
		})
	}
}

// TestStatusUnknownNetwork: a network podwired does not have makes STATUS
// say the plugin is not available.
func TestStatusUnknownNetwork(t *testing.T) {
	pw := sharedPodwired(t)
	rt := newRuntime(t)
	err := rt.GetStatusNetworkList(ctxT(t), conflist(t, "1.1.0", "pwst", map[string]any{"kind": "memif", "network": "nope", "podwiredSocket": pw.socket}))
	if e := cniErr(t, err); e.Code != types.ErrPluginNotAvailable || !strings.Contains(e.Msg, `"nope"`) {
		t.Fatalf("STATUS: %d %q", e.Code, e.Msg)
	}
}

// TestChained: with a prevResult from an earlier plugin on ADD, podwire
// appends its interface and re-indexes its IPs.
func TestChained(t *testing.T) {
	pw := sharedPodwired(t)
	netns := newNS(t)
	dataDir := t.TempDir()
	prev := &current.Result{CNIVersion: "1.1.0", Interfaces: []*current.Interface{{Name: "lo0", Sandbox: netns.Path()}}}
	conf := map[string]any{"cniVersion": "1.1.0", "name": "pwchain", "type": "podwire", "kind": "vhostuser",
		"podwiredSocket": pw.socket, "ipam": kernelIPAM(dataDir, 20), "prevResult": prev}
	env := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "chain1", "CNI_NETNS": netns.Path(), "CNI_IFNAME": "net1"}
	out, stderr, code := runPlugin(t, env, mustJSON(t, conf))
	if code != 0 {
		t.Fatalf("ADD: %s %s", out, stderr)
	}
	r, err := current.NewResult(out)
	if err != nil {
		t.Fatal(err)
	}
	res := r.(*current.Result)
	if len(res.Interfaces) != 2 || res.Interfaces[0].Name != "lo0" || res.Interfaces[1].Name != "net1" || res.Interfaces[1].SocketPath == "" {
		t.Fatalf("interfaces %v", res.Interfaces)
	}
	if len(res.IPs) != 1 || *res.IPs[0].Interface != 1 {
		t.Fatalf("ips %v", res.IPs)
	}
	env["CNI_COMMAND"] = "DEL"
	if out, stderr, code := runPlugin(t, env, mustJSON(t, conf)); code != 0 {
		t.Fatalf("DEL: %s %s", out, stderr)
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("leases after DEL: %v", l)
	}
}

// TestConcurrent: ADD, CHECK and DEL of 16 pods at once get 16 distinct
// sockets and leave nothing behind.
func TestConcurrent(t *testing.T) {
	pw := sharedPodwired(t)
	rt := newRuntime(t)
	netns := newNS(t)
	list := conflist(t, "1.1.0", "pwconc", map[string]any{"kind": "vhostuser", "vhostMode": "server", "podwiredSocket": pw.socket})
	const n = 16
	t0 := time.Now()
	socks := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			rc := &libcni.RuntimeConf{ContainerID: fmt.Sprintf("conc-%02d", i), NetNS: netns.Path(), IfName: "net1"}
			r, err := rt.AddNetworkList(ctxT(t), list, rc)
			if err != nil {
				errs <- fmt.Errorf("ADD %s: %w", rc.ContainerID, err)
				return
			}
			res, err := current.NewResultFromResult(r)
			if err != nil {
				errs <- err
				return
			}
			socks[i] = res.Interfaces[0].SocketPath
			if err := rt.CheckNetworkList(ctxT(t), list, rc); err != nil {
				errs <- fmt.Errorf("CHECK %s: %w", rc.ContainerID, err)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, s := range socks {
		if s == "" || seen[s] {
			t.Fatalf("socket paths not distinct: %v", socks)
		}
		seen[s] = true
	}
	if l := pw.attachments(t); len(l) != n {
		t.Fatalf("%d attachments, want %d", len(l), n)
	}
	t.Logf("%d ADD+CHECK in %v", n, time.Since(t0))
	t0 = time.Now()
	for i := range n {
		go func() {
			errs <- rt.DelNetworkList(ctxT(t), list, &libcni.RuntimeConf{ContainerID: fmt.Sprintf("conc-%02d", i), NetNS: netns.Path(), IfName: "net1"})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d DEL in %v", n, time.Since(t0))
	if l := pw.attachments(t); len(l) != 0 {
		t.Fatalf("attachments left: %d", len(l))
	}
	if ents, _ := os.ReadDir(filepath.Join(pw.dir, "s")); len(ents) != 0 {
		t.Fatalf("socket directories left: %v", ents)
	}
}
