package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podwire/podwire/api"
)

// example is one CNI configuration under deploy/ run through cnitool.
type example struct {
	file   string // under deploy/
	nad    bool   // a NetworkAttachmentDefinition: run its spec.config
	kind   string // podwire's kind
	ifName string
	mode   string // device-info: vhost-user mode or memif role (the pod's side)
}

var examples = []example{
	{file: "net.d/10-podwire.conflist", kind: api.KindKernel, ifName: "eth0"},
	{file: "nad/vhostuser.yaml", nad: true, kind: api.KindVhostUser, ifName: "net1", mode: "server"},
	{file: "nad/vhostuser-server.yaml", nad: true, kind: api.KindVhostUser, ifName: "net1", mode: "client"},
	{file: "nad/memif.yaml", nad: true, kind: api.KindMemif, ifName: "net1", mode: "slave"},
	{file: "nad/kernel.yaml", nad: true, kind: api.KindKernel, ifName: "net1"},
}

// load returns an example's CNI config.
func (e example) load(t testing.TB) map[string]any {
	t.Helper()
	if e.nad {
		name, conf := nadConfig(t, e.file)
		m := obj(t, conf)
		if m["name"] != name {
			t.Fatalf("%s: config name %v, NAD name %s: keep them equal (Multus names the network by the NAD)", e.file, m["name"], name)
		}
		return m
	}
	return obj(t, readExample(t, e.file))
}

// podwirePlugin returns the podwire plugin object of a config.
func podwirePlugin(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	if m["type"] == "podwire" {
		return m
	}
	l, _ := m["plugins"].([]any)
	for _, p := range l {
		if pm, ok := p.(map[string]any); ok && pm["type"] == "podwire" {
			return pm
		}
	}
	t.Fatalf("no podwire plugin in %v", m)
	return nil
}

// result is the part of a CNI result the tests look at.
type result struct {
	CNIVersion string `json:"cniVersion"`
	Interfaces []struct {
		Name       string `json:"name"`
		MAC        string `json:"mac"`
		Sandbox    string `json:"sandbox"`
		SocketPath string `json:"socketPath"`
	} `json:"interfaces"`
	IPs []struct {
		Address   string `json:"address"`
		Interface *int   `json:"interface"`
	} `json:"ips"`
}

func parseResult(t testing.TB, out string) result {
	t.Helper()
	var r result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("result: %v\n%s", err, out)
	}
	return r
}

// deviceInfo is NPWG device-info v1.1.0, the vhost-user and memif types.
type deviceInfo struct {
	Type      string `json:"type"`
	Version   string `json:"version"`
	VhostUser *struct {
		Mode string `json:"mode"`
		Path string `json:"path"`
	} `json:"vhost-user"`
	Memif *struct {
		Role string `json:"role"`
		Mode string `json:"mode"`
		Path string `json:"path"`
	} `json:"memif"`
}

// checkDeviceInfo reads a device-info file and checks it against the
// attachment.
func checkDeviceInfo(t testing.TB, file string, a api.Attachment, mode string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("device-info of %s: %v", a.Key(), err)
	}
	var di deviceInfo
	if err := json.Unmarshal(b, &di); err != nil {
		t.Fatalf("device-info %s: %v\n%s", file, err, b)
	}
	ok := di.Version == "1.1.0"
	switch a.Kind {
	case api.KindVhostUser:
		ok = ok && di.Type == "vhost-user" && di.VhostUser != nil && di.VhostUser.Mode == mode && di.VhostUser.Path == a.PodSocketPath
	case api.KindMemif:
		ok = ok && di.Type == "memif" && di.Memif != nil && di.Memif.Role == mode && di.Memif.Mode == "ethernet" && di.Memif.Path == a.PodSocketPath
	default:
		ok = false
	}
	if !ok {
		t.Fatalf("device-info %s for %s (socket in the pod %s, pod side %q) is wrong:\n%s", file, a.Key(), a.PodSocketPath, mode, b)
	}
}

// checkSocket checks a socket attachment of pod n: its socket is in
// <socketDir>/pods/<pod UID>/<ifName>/, which resolves inside the pod's
// directory; with podMount, the pod sees the socket at
// <podMount>/<ifName>/<socket>; device-info next to it names that path.
func checkSocket(t testing.TB, n *netns, a api.Attachment, podMount, mode string) {
	t.Helper()
	podDir := filepath.Join(podwired.socketDir, "pods", n.uid)
	if a.Pod != n.uid || !strings.HasPrefix(a.SocketPath, podDir+"/") {
		t.Fatalf("%s: pod %q, socket %s, want pod %s and the socket under %s", a.Key(), a.Pod, a.SocketPath, n.uid, podDir)
	}
	// The socket's directory is <podDir>/<ifName>, a link into the pod's
	// directory (so it resolves inside the pod's mount).
	if dir := filepath.Join(podDir, a.IfName); filepath.Dir(a.SocketPath) != dir {
		t.Fatalf("%s: socket %s, want it in %s", a.Key(), a.SocketPath, dir)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(a.SocketPath)); err != nil || filepath.Dir(dir) != podDir {
		t.Fatalf("%s resolves to %q (%v), want a directory in %s", filepath.Dir(a.SocketPath), dir, err, podDir)
	}
	want := a.SocketPath
	if podMount != "" {
		want = filepath.Join(podMount, a.IfName, filepath.Base(a.SocketPath))
	}
	if a.PodSocketPath != want {
		t.Fatalf("%s: socket in the pod %q, want %q", a.Key(), a.PodSocketPath, want)
	}
	checkDeviceInfo(t, filepath.Join(filepath.Dir(a.SocketPath), "device-info.json"), a, mode)
}

// checkAdded checks what one ADD of example e made: the result, podwired's
// attachment, the socket directory and device-info or the pod's netdev.
func checkAdded(t testing.TB, e example, n *netns, ver string, r result) api.Attachment {
	t.Helper()
	if r.CNIVersion != ver {
		t.Fatalf("result version %s, want %s", r.CNIVersion, ver)
	}
	if len(r.Interfaces) == 0 || r.Interfaces[0].Name != e.ifName || r.Interfaces[0].Sandbox != n.path {
		t.Fatalf("result interfaces %+v, want %s in %s", r.Interfaces, e.ifName, n.path)
	}
	a, ok := podwired.attachments(t, n.cid)[e.ifName]
	if !ok || a.Kind != e.kind || a.Netns != n.path {
		t.Fatalf("podwired attachment %s/%s: %+v (found %v), want kind %s", n.cid, e.ifName, a, ok, e.kind)
	}
	if e.kind == api.KindKernel {
		if len(r.IPs) == 0 {
			t.Fatalf("kernel result has no IP: %+v", r)
		}
		addr := strings.Split(r.IPs[0].Address, "/")[0]
		if out := n.ip(t, "-4", "addr", "show", "dev", e.ifName); !strings.Contains(out, " "+addr+"/") {
			t.Fatalf("%s in the pod has no %s:\n%s", e.ifName, addr, out)
		}
		return a
	}
	if ver == "1.1.0" && r.Interfaces[0].SocketPath != a.SocketPath {
		t.Fatalf("1.1 result socketPath %q, podwired %q", r.Interfaces[0].SocketPath, a.SocketPath)
	}
	podMount, _ := podwirePlugin(t, e.load(t))["podMount"].(string)
	checkSocket(t, n, a, podMount, e.mode)
	return a
}

// checkGone checks that nothing of container n's ifName is left: no
// attachment, no socket directory, no cnitool cache, no host-local lease,
// no netdev.
func checkGone(t testing.TB, nd *netDir, net string, n *netns, ifName string, a api.Attachment) {
	t.Helper()
	if l := podwired.attachments(t, n.cid); len(l) != 0 {
		t.Fatalf("podwired still has %v", l)
	}
	if a.SocketPath != "" && exists(filepath.Dir(a.SocketPath)) {
		t.Fatalf("socket directory %s left", filepath.Dir(a.SocketPath))
	}
	if d := filepath.Join(podwired.socketDir, "pods", n.uid); exists(d) {
		t.Fatalf("the pod's socket directory %s left", d)
	}
	if c := fmt.Sprintf("/var/lib/cni/results/%s-%s-%s", net, n.cid, ifName); exists(c) {
		t.Fatalf("libcni cache %s left", c)
	}
	if l := leases(nd.ipamDir); len(l) != 0 {
		t.Fatalf("host-local leases left: %v", l)
	}
	if n.hasLink(ifName) {
		t.Fatalf("%s left in the pod", ifName)
	}
}

// TestCnitool runs every single-network example (the primary conflist and
// each NAD's spec.config) with cnitool against podwired: ADD, CHECK,
// STATUS, DEL twice, then ADD and GC (which, with no valid attachments,
// removes it) and DEL again.
func TestCnitool(t *testing.T) {
	env(t)
	for _, e := range examples {
		t.Run(strings.TrimSuffix(filepath.Base(e.file), filepath.Ext(e.file)), func(t *testing.T) {
			m := e.load(t)
			ver, _ := m["cniVersion"].(string)
			nd := newNetDir(t)
			net := nd.install(t, m)
			n := newNetns(t)

			r := parseResult(t, nd.cnitool(t, "add", net, n, e.ifName, n.podArgs()).ok(t, "cnitool add").stdout)
			a := checkAdded(t, e, n, ver, r)
			if e.file == "nad/kernel.yaml" {
				// chained after podwire: tuning got prevResult and set its sysctl in the pod.
				out, err := execOut("ip", "netns", "exec", n.name, "cat", "/proc/sys/net/core/somaxconn")
				if err != nil || strings.TrimSpace(out) != "512" {
					t.Fatalf("tuning's sysctl in the pod: %q %v", out, err)
				}
			}
			nd.cnitool(t, "check", net, n, e.ifName, n.podArgs()).ok(t, "cnitool check")
			nd.cnitool(t, "status", net, n, e.ifName, n.podArgs()).ok(t, "cnitool status")
			for i := range 2 {
				nd.cnitool(t, "del", net, n, e.ifName, n.podArgs()).ok(t, fmt.Sprintf("cnitool del %d", i+1))
				checkGone(t, nd, net, n, e.ifName, a)
			}

			r = parseResult(t, nd.cnitool(t, "add", net, n, e.ifName, n.podArgs()).ok(t, "cnitool add again").stdout)
			a = checkAdded(t, e, n, ver, r)
			nd.cnitool(t, "gc", net, n, e.ifName, n.podArgs()).ok(t, "cnitool gc")
			checkGone(t, nd, net, n, e.ifName, a)
			nd.cnitool(t, "del", net, n, e.ifName, n.podArgs()).ok(t, "cnitool del after gc")
		})
	}
}

// podwiredConfig is the part of podwired.yaml the manifests must agree with.
type podwiredConfig struct {
	SocketDir string `json:"socketDir"`
	API       struct {
		Socket string `json:"socket"`
	} `json:"api"`
	StateDir string `json:"stateDir"`
	Networks []struct {
		Name string `json:"name"`
	} `json:"networks"`
}

// podSpec is the part of a pod spec the manifests test reads.
type podSpec struct {
	Containers []struct {
		Command []string `json:"command"`
		Env     []struct {
			Name      string `json:"name"`
			ValueFrom *struct {
				FieldRef *struct {
					FieldPath string `json:"fieldPath"`
				} `json:"fieldRef"`
			} `json:"valueFrom"`
		} `json:"env"`
		VolumeMounts []struct {
			Name        string `json:"name"`
			MountPath   string `json:"mountPath"`
			SubPathExpr string `json:"subPathExpr"`
		} `json:"volumeMounts"`
	} `json:"containers"`
	Volumes []struct {
		Name     string `json:"name"`
		HostPath *struct {
			Path string `json:"path"`
		} `json:"hostPath"`
	} `json:"volumes"`
}

// mountsHost reports whether the first container sees host path p at the
// same path: a hostPath volume at or above p, mounted where it is.
func (ps podSpec) mountsHost(p string) bool {
	hostPaths := map[string]string{} // volume -> host path
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	for _, m := range ps.Containers[0].VolumeMounts {
		if hp, ok := hostPaths[m.Name]; ok && hp == m.MountPath && m.SubPathExpr == "" && (p == hp || strings.HasPrefix(p, hp+"/")) {
			return true
		}
	}
	return false
}

// mountsPodDir reports whether the first container mounts its own pod
// directory, hostPath dir with subPathExpr $(POD_UID) and POD_UID the
// pod's UID, at mountPath.
func (ps podSpec) mountsPodDir(dir, mountPath string) bool {
	uid := false
	for _, e := range ps.Containers[0].Env {
		uid = uid || (e.Name == "POD_UID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.uid")
	}
	for _, v := range ps.Volumes {
		if v.HostPath == nil || v.HostPath.Path != dir {
			continue
		}
		for _, m := range ps.Containers[0].VolumeMounts {
			if m.Name == v.Name && m.MountPath == mountPath && m.SubPathExpr == "$(POD_UID)" {
				return uid
			}
		}
	}
	return false
}

// TestManifests checks the Kubernetes manifests against the files the other
// tests run: the DaemonSet's ConfigMap holds podwired.yaml and the primary
// conflist verbatim, podwired runs with the systemd unit's arguments and
// mounts its directories, the pod asks for NADs that exist and mounts
// podwired's socketDir at the same path, every podwire network is one
// podwired.yaml creates, and no file under deploy/ goes untested.
func TestManifests(t *testing.T) {
	var pc podwiredConfig
	if err := yaml.Unmarshal(readExample(t, "podwired/podwired.yaml"), &pc); err != nil {
		t.Fatal(err)
	}
	nets := map[string]bool{}
	for _, n := range pc.Networks {
		nets[n.Name] = true
	}

	docs := strings.Split(string(readExample(t, "kubernetes/podwire.yaml")), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("kubernetes/podwire.yaml: %d documents, want a ConfigMap and a DaemonSet", len(docs))
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal([]byte(docs[0]+"\n"), &cm); err != nil {
		t.Fatal(err)
	}
	for key, file := range map[string]string{"podwired.yaml": "podwired/podwired.yaml", "10-podwire.conflist": "net.d/10-podwire.conflist"} {
		if cm.Kind != "ConfigMap" || cm.Data[key] != string(readExample(t, file)) {
			t.Fatalf("the ConfigMap's %s differs from %s: keep them the same", key, file)
		}
	}
	var ds struct {
		Kind string `json:"kind"`
		Spec struct {
			Template struct {
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(docs[1]), &ds); err != nil {
		t.Fatal(err)
	}
	pod := ds.Spec.Template.Spec
	if ds.Kind != "DaemonSet" || len(pod.Containers) != 1 {
		t.Fatalf("kubernetes/podwire.yaml: want a DaemonSet with one container: %+v", ds)
	}
	unit, err := execStart("podwired/podwired.service")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pod.Containers[0].Command, " "); got != strings.Join(unit, " ") {
		t.Fatalf("the DaemonSet runs %q, the systemd unit %q", got, strings.Join(unit, " "))
	}
	for _, p := range []string{pc.SocketDir, pc.API.Socket, pc.StateDir, "/var/run/netns/x"} {
		if !pod.mountsHost(p) {
			t.Fatalf("podwired's %s is not on a hostPath mounted at the same path", p)
		}
	}

	nads := map[string]string{} // NAD name -> podMount
	for _, e := range examples {
		p := podwirePlugin(t, e.load(t))
		if !nets[fmt.Sprint(p["network"])] {
			t.Fatalf("%s: network %v is not in podwired.yaml's networks %v", e.file, p["network"], nets)
		}
		if e.nad {
			name, _ := nadConfig(t, e.file)
			nads[name], _ = p["podMount"].(string)
		}
	}
	var dpdkPod struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec podSpec `json:"spec"`
	}
	if err := yaml.Unmarshal(readExample(t, "pod/dpdk-pod.yaml"), &dpdkPod); err != nil {
		t.Fatal(err)
	}
	native := podwirePlugin(t, obj(t, readExample(t, "native/10-podwire.conflist")))
	for _, s := range strings.Split(dpdkPod.Metadata.Annotations["k8s.v1.cni.cncf.io/networks"], ",") {
		name := strings.TrimSpace(s)
		if nc, ok := native["networks"].(map[string]any)[name].(map[string]any); !ok || native["podMount"] != nads[name] || !nets[fmt.Sprint(nc["network"])] {
			t.Fatalf("pod/dpdk-pod.yaml asks for network %q: native/10-podwire.conflist must offer it like the NAD (podMount %q, a podwired network)", name, nads[name])
		}
		podMount, ok := nads[name]
		if !ok {
			t.Fatalf("pod/dpdk-pod.yaml asks for network %q, which no NAD in nad/ defines (%v)", name, nads)
		}
		if dir := filepath.Join(pc.SocketDir, "pods"); podMount == "" || !dpdkPod.Spec.mountsPodDir(dir, podMount) {
			t.Fatalf("pod/dpdk-pod.yaml does not mount its directory under %s (subPathExpr $(POD_UID)) at NAD %s's podMount %q", dir, name, podMount)
		}
	}

	// Every example is one of the above; a new file needs a test.
	tested := map[string]bool{"podwired/podwired.yaml": true, "podwired/podwired.service": true,
		"kubernetes/podwire.yaml": true, "pod/dpdk-pod.yaml": true,
		"multus/00-multus.conf": true, "multus/multus-static.conf": true, "native/10-podwire.conflist": true}
	for _, e := range examples {
		tested[e.file] = true
	}
	err = filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Dir(p) == "." {
			return err
		}
		if !tested[p] {
			t.Errorf("deploy/%s is exercised by no test", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
