package cni_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/cni"
	"github.com/podwire/podwire/internal/testpmd"
)

// Pods in these tests: real network namespaces, attached through libcni,
// and for the socket kinds a real dpdk-testpmd started inside the
// namespace as a user that is not root, on the socket the plugin handed
// over, with the devargs docs/cni.md tells pods to use.

// The pods' user: no such account is needed, setpriv takes numbers.
const (
	podUID   = 4711
	podGID   = 4712 // the group that socketOwner ":4712" lets in
	otherGID = 4713 // a group that is given nothing
)

// podPodwired starts a podwired of the test's own whose socket directories
// a pod that is not root can reach: launch's directory is 0700, podwired
// makes the socket base under it 0755 and each attachment's directory
// with the attachment's owner and mode.
func podPodwired(t testing.TB, extra ...string) *instance {
	t.Helper()
	_, err := exec.LookPath("dpdk-testpmd")
	need(t, err == nil, "dpdk-testpmd (apt-get install dpdk)")
	_, err = exec.LookPath("setpriv")
	need(t, err == nil, "setpriv (util-linux)")
	pw := startPodwired(t, extra...)
	if err := os.Chmod(pw.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return pw
}

// attachment is one pod interface ADDed through libcni.
type attachment struct {
	rt     *cniRuntime
	list   *libcni.NetworkConfigList
	rc     *libcni.RuntimeConf
	netns  ns.NetNS
	result *current.Result
}

// add ADDs the interface ifName of container cid in netns with the podwire
// plugin configuration conf (1.1.0, so that the result has socketPath),
// capability arguments capArgs and CNI_ARGS args.
// Cleanup DELs it (best effort; the test DELs it itself and checks).
func add(t testing.TB, rt *cniRuntime, netns ns.NetNS, cid, ifName string, conf map[string]any, capArgs map[string]any, args ...[2]string) *attachment {
	t.Helper()
	a := &attachment{rt: rt, netns: netns, list: conflist(t, "1.1.0", "pwpods", conf),
		rc: &libcni.RuntimeConf{ContainerID: cid, NetNS: netns.Path(), IfName: ifName, CapabilityArgs: capArgs, Args: args}}
	r, err := rt.AddNetworkList(ctxT(t), a.list, a.rc)
	if err != nil {
		t.Fatalf("ADD %s/%s: %v", cid, ifName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rt.DelNetworkList(ctx, a.list, a.rc)
	})
	if a.result, err = current.NewResultFromResult(r); err != nil {
		t.Fatal(err)
	}
	return a
}

// del DELs the attachment through libcni.
func (a *attachment) del(t testing.TB) {
	t.Helper()
	if err := a.rt.DelNetworkList(ctxT(t), a.list, a.rc); err != nil {
		t.Fatalf("DEL %s/%s: %v", a.rc.ContainerID, a.rc.IfName, err)
	}
}

// podVdev is the DPDK device a pod runs on the socket of a 1.1.0 result,
// as docs/cni.md says: the socket's path in the pod and the pod's role from
// the device-info document next to the socket, whose path must be
// podPath (the result's socketPath, unless the pod mounts its directory
// elsewhere).
func podVdev(t testing.TB, r *current.Result, mac, podPath string) string {
	t.Helper()
	if len(r.Interfaces) != 1 || r.Interfaces[0].SocketPath == "" {
		t.Fatalf("result without a socketPath: %+v", r.Interfaces)
	}
	sock := r.Interfaces[0].SocketPath
	b, err := os.ReadFile(filepath.Join(filepath.Dir(sock), cni.DeviceInfoFile))
	if err != nil {
		t.Fatalf("device-info next to the socket: %v", err)
	}
	var di cni.DeviceInfo
	if err := json.Unmarshal(b, &di); err != nil {
		t.Fatal(err)
	}
	switch {
	case di.Type == "vhost-user" && di.VhostUser != nil && di.VhostUser.Path == podPath && di.VhostUser.Mode == "server":
		return "net_virtio_user0,path=" + podPath + ",server=1,queues=1,queue_size=1024,mac=" + mac
	case di.Type == "vhost-user" && di.VhostUser != nil && di.VhostUser.Path == podPath && di.VhostUser.Mode == "client":
		return "net_virtio_user0,path=" + podPath + ",queues=1,queue_size=1024,mac=" + mac
	case di.Type == "memif" && di.Memif != nil && di.Memif.Path == podPath && di.Memif.Role == "slave":
		return "net_memif0,role=client,id=0,socket=" + podPath + ",socket-abstract=no,mac=" + mac
	}
	t.Fatalf("device-info %s does not name %s (socketPath %s)", b, podPath, sock)
	return ""
}

// startPod runs dpdk-testpmd in netns as uid:gid on vdev, in mac
// forwarding mode towards peer (testpmd rewrites the source to its own MAC
// and the destination to peer, so two such pods bounce packets through a
// learning switch), with mounts as its volumes. Cleanup stops it by PID. It does not wait for the
// prompt: a vhost-user server pod waits in EAL init for podwired.
func startPod(t testing.TB, netns ns.NetNS, vdev, peer string, uid, gid int, mounts ...testpmd.Mount) *testpmd.Pod {
	t.Helper()
	var (
		p    *testpmd.Pod
		err  error
		done = make(chan struct{})
	)
	// On the spawner's thread: testpmd dies with the thread that started
	// it (Pdeathsig), and the test's own threads may end (see spawner).
	spawner <- func() {
		defer close(done)
		p, err = testpmd.Start(testpmd.Options{
			Netns:  filepath.Base(netns.Path()),
			Vdevs:  []string{vdev},
			UID:    &uid,
			GID:    &gid,
			Args:   []string{"--forward-mode=mac", "--eth-peer=0," + peer, "--no-flush-rx"},
			Mounts: mounts,
		})
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	return p
}

// waitUp waits until podwired reports the attachment up.
func waitUp(t testing.TB, pw *instance, cid, ifName string, timeout time.Duration, pods ...*testpmd.Pod) api.Attachment {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		a, err := pw.client.Attachment(ctxT(t), cid, ifName)
		if err != nil {
			t.Fatal(err)
		}
		if a.State == api.StateUp {
			return a
		}
		if time.Now().After(deadline) {
			var outs []string
			for _, p := range pods {
				outs = append(outs, p.Output())
			}
			t.Fatalf("attachment %s/%s is %s (%s) after %v; pods:\n%s", cid, ifName, a.State, a.Reason, timeout, strings.Join(outs, "\n----\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// portByName is podwired's port of that name, or false.
func portByName(t testing.TB, pw *instance, name string) (api.Port, bool) {
	t.Helper()
	l, err := pw.client.Ports(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l {
		if p.Name == name {
			return p, true
		}
	}
	return api.Port{}, false
}

// hostEnds lists the host-side interfaces podwired made for kernel
// attachments whose container ID starts with cidPrefix (podwired marks
// them with the alias "podwire <containerID>/<ifName>").
func hostEnds(t testing.TB, cidPrefix string) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, "podwire "+cidPrefix) {
			out = append(out, l.Attrs().Name+" ("+l.Attrs().Alias+")")
		}
	}
	return out
}

// podLinks lists the interfaces in netns other than lo.
func podLinks(t testing.TB, netns ns.NetNS) []string {
	t.Helper()
	var out []string
	err := netns.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().Name != "lo" {
				out = append(out, l.Attrs().Name)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// statOf returns mode, uid and gid of path (not following symlinks).
func statOf(t testing.TB, path string) (os.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), st.Uid, st.Gid
}
