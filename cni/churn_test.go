package cni_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/podwire/podwire/api"
)

// Churn: podwired's descriptors may grow by this much over a churn run
// without it being a leak: the API connection of the test's own client
// (keep-alive) and one spare for a connection still closing.
const churnFDSlack = 2

// TestChurn: 200 ADD/DEL cycles through libcni, 10 pods at a time (10
// workers of 20 cycles, each in a fresh network namespace, the kinds
// mixed: vhostuser in both modes, memif, kernel with host-local; every
// other cycle with a pod UID, so its socket goes into a per-pod
// directory), against one podwired. Afterwards podwired holds no attachment, port, socket
// directory, file descriptor or mbuf beyond its idle level, host-local
// holds no lease and no veth is left, in the pods or on the host.
func TestChurn(t *testing.T) {
	const workers, cycles = 10, 20
	pw := startPodwired(t)
	rt := newRuntime(t)
	dataDir := t.TempDir()
	cidPrefix := fmt.Sprintf("churn%d-", os.Getpid())
	kinds := []struct {
		name, ifName string
		conf         map[string]any
	}{
		{"vhostuser", "net1", map[string]any{"kind": "vhostuser"}},
		{"vhostuser-server", "net1", map[string]any{"kind": "vhostuser", "vhostMode": "server"}},
		{"memif", "net1", map[string]any{"kind": "memif"}},
		{"kernel", "eth0", map[string]any{"kind": "kernel", "ipam": kernelIPAM(dataDir, 50)}},
	}
	lists := make([]*libcni.NetworkConfigList, len(kinds))
	for i, k := range kinds {
		conf := map[string]any{"podwiredSocket": pw.socket}
		for key, v := range k.conf {
			conf[key] = v
		}
		lists[i] = conflist(t, "1.1.0", "pwchurn-"+k.name, conf)
	}
	// cycle ADDs and DELs one attachment of kind k in a namespace of its
	// own, which it removes afterwards. With a pod UID (as containerd
	// passes it in CNI_ARGS) the socket goes into the per-pod directory.
	cycle := func(ctx context.Context, cid string, k int, podUID string) error {
		netns, err := testutils.NewNS()
		if err != nil {
			return err
		}
		defer removeNS(netns)
		rc := &libcni.RuntimeConf{ContainerID: cid, NetNS: netns.Path(), IfName: kinds[k].ifName}
		if podUID != "" {
			rc.Args = [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_UID", podUID}}
		}
		r, err := rt.AddNetworkList(ctx, lists[k], rc)
		if err != nil {
			_ = rt.DelNetworkList(ctx, lists[k], rc)
			return fmt.Errorf("ADD %s (%s): %w", cid, kinds[k].name, err)
		}
		if res, err := current.NewResultFromResult(r); err != nil {
			return err
		} else if sock := res.Interfaces[0].SocketPath; podUID != "" && sock != "" &&
			filepath.Dir(sock) != filepath.Join(pw.dir, "s", "pods", podUID, kinds[k].ifName) {
			return fmt.Errorf("ADD %s (%s) with pod UID %s: socket at %s, not in the pod's directory", cid, kinds[k].name, podUID, sock)
		}
		if err := rt.DelNetworkList(ctx, lists[k], rc); err != nil {
			return fmt.Errorf("DEL %s (%s): %w", cid, kinds[k].name, err)
		}
		return nil
	}

	// Warm up with one cycle of each kind, so that what podwired opens on
	// first use (netlink sockets, ...) is part of its idle level.
	for k := range kinds {
		if err := cycle(ctxT(t), fmt.Sprintf("%swarm-%d", cidPrefix, k), k, churnPodUID(99, k)); err != nil {
			t.Fatal(err)
		}
	}
	pid := pw.cmd.Process.Pid
	idle, err := pw.client.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	idleFDs, idleFDList := fdCount(t, pid), fdTargets(pid)

	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		per  = make([]int, len(kinds))
	)
	// Sample podwired while it churns, to show what came back.
	var peak api.Status
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			if st, err := pw.client.Status(ctx); err == nil {
				peak.MbufsInUse = max(peak.MbufsInUse, st.MbufsInUse)
				peak.Ports = max(peak.Ports, st.Ports)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range cycles {
				k := (w + c) % len(kinds)
				uid := "" // every other cycle with a pod UID
				if c%2 == 1 {
					uid = churnPodUID(w, c)
				}
				err := cycle(ctx, fmt.Sprintf("%s%02d-%02d", cidPrefix, w, c), k, uid)
				mu.Lock()
				per[k]++
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return // the worker's pod is stuck; the others go on
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	cancel()
	<-sampled
	for _, err := range errs {
		t.Error(err)
	}
	var mix []string
	for k, n := range per {
		mix = append(mix, fmt.Sprintf("%s %d", kinds[k].name, n))
	}
	t.Logf("%d ADD/DEL cycles (%s), %d at a time, in %v (%v a cycle per worker); at the peak %d ports, %d mbufs in use",
		workers*cycles, strings.Join(mix, ", "), workers, took.Round(time.Millisecond), (took / cycles).Round(time.Millisecond),
		peak.Ports, peak.MbufsInUse)

	// podwired back at its idle level. Mbufs may come back a little
	// after the ports go (freed after the workers' next quiescent point).
	var (
		st  api.Status
		fds int
	)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err = pw.client.Status(ctxT(t)); err != nil {
			t.Fatalf("podwired not answering after churn: %v", err)
		}
		fds = fdCount(t, pid)
		if st.MbufsInUse <= idle.MbufsInUse && st.Ports <= idle.Ports && fds <= idleFDs+churnFDSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("podwired at idle, before/after churn: fds %d/%d, mbufs in use %d/%d (of %d), ports %d/%d",
		idleFDs, fds, idle.MbufsInUse, st.MbufsInUse, st.Mbufs, idle.Ports, st.Ports)
	if st.MbufsInUse > idle.MbufsInUse {
		t.Errorf("mbufs in use 10s after churn: %d, idle %d", st.MbufsInUse, idle.MbufsInUse)
	}
	if st.Ports > idle.Ports {
		t.Errorf("ports 10s after churn: %d, idle %d", st.Ports, idle.Ports)
	}
	if fds > idleFDs+churnFDSlack {
		was := map[string]bool{}
		for _, f := range idleFDList {
			was[f] = true
		}
		var added []string
		for _, f := range fdTargets(pid) {
			if !was[f] {
				added = append(added, f)
			}
		}
		t.Errorf("podwired holds %d file descriptors 10s after churn, %d at idle (+%d allowed); new ones:\n%s",
			fds, idleFDs, churnFDSlack, strings.Join(added, "\n"))
	}
	if l := pw.attachments(t); len(l) != 0 {
		t.Fatalf("%d attachments left, first %+v", len(l), l[0])
	}
	if ports, err := pw.client.Ports(ctxT(t)); err != nil || len(ports) != idle.Ports {
		t.Fatalf("ports after churn: %+v %v", ports, err)
	}
	// Nothing under the socket directory but, at most, the empty parent of
	// the per-pod directories.
	var left []string
	err = filepath.WalkDir(filepath.Join(pw.dir, "s"), func(p string, d os.DirEntry, err error) error {
		if err == nil && p != filepath.Join(pw.dir, "s") && p != filepath.Join(pw.dir, "s", "pods") {
			left = append(left, p)
		}
		return err
	})
	if err != nil || len(left) != 0 {
		t.Errorf("left in the socket directory: %v %v", left, err)
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("host-local leases left: %v", l)
	}
	if l := hostEnds(t, cidPrefix); len(l) != 0 {
		t.Fatalf("host ends of veths left: %v", l)
	}
}

// churnPodUID is a pod UID for cycle c of worker w.
func churnPodUID(w, c int) string {
	return fmt.Sprintf("c4c4%04x-0000-4000-8000-%012x", w, c)
}

// fdCount counts the open file descriptors of process pid.
func fdCount(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdTargets lists what process pid's descriptors point at, for a failure
// message; a socket is named with its family where podwired's namespace
// knows it (unix, netlink, packet), else "other netns?".
func fdTargets(pid int) []string {
	inodes := map[string]string{}
	for _, fam := range []string{"unix", "netlink", "packet"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, fam))
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// The inode is column 7 (unix), 10 (netlink), 9 (packet).
			col := map[string]int{"unix": 6, "netlink": 9, "packet": 8}[fam]
			if len(f) > col {
				inodes[f[col]] = fam + " " + strings.Join(f[col+1:], " ")
			}
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			ino = strings.TrimSuffix(ino, "]")
			if fam, ok := inodes[ino]; ok {
				l += " " + fam
			} else {
				l += " other netns?"
			}
		}
		out = append(out, e.Name()+"->"+l)
	}
	return out
}
