package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// kernelPod is a network namespace that the test creates, standing in for
// an ordinary pod.
type kernelPod struct {
	ns, path string
}

func newKernelPod(t testing.TB, suffix string) kernelPod {
	t.Helper()
	ns := fmt.Sprintf("pwk%d%s", os.Getpid(), suffix)
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	return kernelPod{ns: ns, path: "/var/run/netns/" + ns}
}

// in runs a command inside the pod's namespace.
func (p kernelPod) in(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", p.ns}, args...)...)
}

func (p kernelPod) hasLink(name string) bool {
	return exec.Command("ip", "-n", p.ns, "link", "show", "dev", name).Run() == nil
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hostEnd is the host end's name that podwired derives from the key:
// "pw" and 10 hex digits of sha256("containerID/ifName").
func hostEnd(containerID, ifName string) string {
	h := sha256.Sum256([]byte(containerID + "/" + ifName))
	return "pw" + hex.EncodeToString(h[:5])
}

func hostHasLink(name string) bool {
	return exec.Command("ip", "link", "show", "dev", name).Run() == nil
}

func (in *instance) waitState(t testing.TB, ctx context.Context, want string, keys ...string) map[string]api.Attachment {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := in.client.Attachments(ctx)
		got, n := map[string]api.Attachment{}, 0
		for _, a := range l {
			got[a.Key()] = a
		}
		for _, k := range keys {
			if got[k].State == want {
				n++
			}
		}
		if err == nil && n == len(keys) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("attachments %v not %s: %+v %v\n%s", keys, want, l, err, in.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKernelPods: two ordinary pods with kernel interfaces on one network
// ping each other through podwired, before and after podwired is stopped
// with SIGTERM and SIGKILL and started again (the pods are not touched);
// a pod whose namespace is deleted is reported down and its DELETE
// succeeds; DELETE removes both ends of the veth.
func TestKernelPods(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		if inCI() {
			t.Fatal("ping not installed (scripts/setup-node.sh installs iputils-ping)")
		}
		t.Skip("ping not installed: apt-get install iputils-ping")
	}
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	pa, pb, pc, pd := newKernelPod(t, "a"), newKernelPod(t, "b"), newKernelPod(t, "c"), newKernelPod(t, "d")
	cid := func(p kernelPod) string { return "c-" + p.ns }
	atts := []api.Attachment{
		{ContainerID: cid(pa), IfName: "eth0", Network: "default", Kind: api.KindKernel, Netns: pa.path, MAC: "02:00:00:fa:00:01"},
		{ContainerID: cid(pb), IfName: "net3", Network: "default", Kind: api.KindKernel, Netns: pb.path}, // MAC from the kernel
		{ContainerID: cid(pc), IfName: "eth0", Network: "default", Kind: api.KindKernel, Netns: pc.path},
		{ContainerID: cid(pd), IfName: "eth0", Network: "default", Kind: api.KindKernel, Netns: pd.path},
	}
	var keys []string
	for _, a := range atts {
		got, err := in.client.PutAttachment(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key())
		if got.PortID == nil || got.MAC == "" || got.PortName == "" {
			t.Fatalf("PUT %s: %+v", a.Key(), got)
		}
		// Idempotent, also when the client sends back the MAC that podwired reported.
		a.MAC = got.MAC
		if again, err := in.client.PutAttachment(ctx, a); err != nil || again.PortName != got.PortName {
			t.Fatalf("repeated PUT %s: %+v %v", a.Key(), again, err)
		}
		host := hostEnd(a.ContainerID, a.IfName)
		link := run(t, "ip", "-d", "link", "show", "dev", host)
		if !strings.Contains(link, "veth") || !strings.Contains(link, "alias podwire "+a.Key()) {
			t.Fatalf("host end %s:\n%s", host, link)
		}
		if addrs := run(t, "ip", "addr", "show", "dev", host); strings.Contains(addrs, "inet") {
			t.Fatalf("host end %s has an address:\n%s", host, addrs)
		}
	}
	a2 := atts[0]
	a2.MAC = "02:00:00:fa:00:09"
	if _, err := in.client.PutAttachment(ctx, a2); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("PUT with another MAC: %v, want conflict", err)
	}
	if mac := pa.in(t, "cat", "/sys/class/net/eth0/address"); strings.TrimSpace(mac) != atts[0].MAC {
		t.Fatalf("pod A eth0 MAC %q, want %s", mac, atts[0].MAC)
	}
	st := in.waitState(t, ctx, api.StateUp, keys...)
	if mac := pb.in(t, "cat", "/sys/class/net/net3/address"); strings.TrimSpace(mac) != st[keys[1]].MAC {
		t.Fatalf("pod B net3 MAC %q, status says %s", mac, st[keys[1]].MAC)
	}
	// IP addresses are the CNI plugin's job; here the test sets them.
	pa.in(t, "ip", "addr", "add", "10.250.7.1/24", "dev", "eth0")
	pb.in(t, "ip", "addr", "add", "10.250.7.2/24", "dev", "net3")
	ping := func(what string) {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", pa.ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.250.7.2").CombinedOutput()
		if err != nil {
			ports, _ := in.client.Ports(ctx)
			t.Fatalf("%s: ping A -> B: %v\n%s\nports: %+v\n%s", what, err, out, ports, in.log)
		}
	}
	ping("first")
	counters := func() map[string]api.Counters {
		m := map[string]api.Counters{}
		l, err := in.client.Ports(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l {
			m[p.Name] = p.Counters
		}
		return m
	}
	c := counters()
	for _, k := range keys[:2] {
		name := st[k].PortName
		if c[name].RxPackets < 3 || c[name].TxPackets < 3 {
			t.Fatalf("port %s of %s: counters %+v, want >= 3 each way", name, k, c[name])
		}
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		in.stop(sig)
		// The pods keep their interfaces and addresses while podwired is down.
		if out := pb.in(t, "ip", "addr", "show", "dev", "net3"); !strings.Contains(out, "10.250.7.2/24") {
			t.Fatalf("after %v: pod B net3 lost its address:\n%s", sig, out)
		}
		if sig == syscall.SIGTERM { // pod D's interface is deleted while podwired is down
			run(t, "ip", "-n", pd.ns, "link", "del", "eth0")
		}
		if sig == syscall.SIGKILL { // pod C goes away while podwired is down
			run(t, "ip", "netns", "del", pc.ns)
		}
		in.start()
		in.waitState(t, ctx, api.StateUp, keys[:2]...)
		ping("after " + sig.String())
		if sig == syscall.SIGTERM {
			// A restart never creates a veth; a PUT (the CNI's retry) does.
			d := in.waitState(t, ctx, api.StateDown, keys[3])[keys[3]]
			t.Logf("pod D without its interface after restart: %s", d.Reason)
			if _, err := in.client.PutAttachment(ctx, atts[3]); err != nil || !pd.hasLink("eth0") {
				t.Fatalf("PUT again for pod D: %v (eth0 there: %v)", err, pd.hasLink("eth0"))
			}
			in.waitState(t, ctx, api.StateUp, keys[3])
			if err := in.client.DeleteAttachment(ctx, cid(pd), "eth0"); err != nil {
				t.Fatal(err)
			}
		}
	}
	down := in.waitState(t, ctx, api.StateDown, keys[2])[keys[2]]
	t.Logf("pod C with its netns deleted while podwired was down: %s", down.Reason)
	if !strings.Contains(down.Reason, pc.path) {
		t.Fatalf("pod C with its netns gone: %+v, want the reason to name %s", down, pc.path)
	}
	if err := in.client.DeleteAttachment(ctx, cid(pc), "eth0"); err != nil {
		t.Fatalf("DELETE with the netns gone: %v", err)
	}

	// A pod deleted while podwired runs: down with a reason, DELETE works.
	run(t, "ip", "netns", "del", pb.ns)
	down = in.waitState(t, ctx, api.StateDown, keys[1])[keys[1]]
	t.Logf("pod B with its netns deleted while podwired runs: %s", down.Reason)
	if down.Reason == "" {
		t.Fatalf("pod B with its netns gone: %+v, want a reason", down)
	}
	if err := in.client.DeleteAttachment(ctx, cid(pb), "net3"); err != nil {
		t.Fatalf("DELETE with the netns gone: %v", err)
	}

	if err := in.client.DeleteAttachment(ctx, cid(pa), "eth0"); err != nil {
		t.Fatal(err)
	}
	if pa.hasLink("eth0") {
		t.Fatal("pod A still has eth0 after DELETE")
	}
	for _, a := range atts {
		if h := hostEnd(a.ContainerID, a.IfName); hostHasLink(h) {
			t.Fatalf("host end %s of %s left after DELETE", h, a.Key())
		}
	}
	if l, _ := in.client.Ports(ctx); len(l) != 0 {
		t.Fatalf("ports left after DELETE: %+v", l)
	}
}

// TestKernelBadInput: a kernel attachment that cannot be made gets a 4xx
// naming the field and leaves nothing behind.
func TestKernelBadInput(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	stateFile := filepath.Join(in.dir, "state", "state.json")
	before, _ := os.ReadFile(stateFile)
	pod := newKernelPod(t, "x")
	// net1 is taken in the pod by an interface that is not podwire's.
	run(t, "ip", "-n", pod.ns, "link", "add", "net1", "type", "veth", "peer", "name", "other1")
	notNs := filepath.Join(in.dir, "not-a-netns")
	if err := os.WriteFile(notNs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ifname, netns string
		status              int
		field               string
	}{
		{"missing netns", "net1", "/var/run/netns/pw-no-such-netns", 422, api.FieldNetns},
		{"not a netns", "net1", notNs, 422, api.FieldNetns},
		{"ifname taken", "net1", pod.path, 409, api.FieldIfName},
		{"no netns", "net2", "", 400, api.FieldNetns},
	}
	for _, c := range cases {
		cid := "bad-" + pod.ns
		body := fmt.Sprintf(`{"network":"default","kind":"kernel","netns":%q}`, c.netns)
		status, eb := in.raw(t, "PUT", "/v1/attachments/"+cid+"/"+c.ifname, body)
		if status != c.status || eb.Field != c.field {
			t.Errorf("%s: status %d field %q (%s), want %d %q", c.name, status, eb.Field, eb.Error, c.status, c.field)
		}
		if h := hostEnd(cid, c.ifname); hostHasLink(h) {
			t.Errorf("%s: host end %s left behind", c.name, h)
		}
	}
	if l, err := in.client.Attachments(ctx); err != nil || len(l) != 0 {
		t.Fatalf("bad input left attachments: %+v %v", l, err)
	}
	if l, err := in.client.Ports(ctx); err != nil || len(l) != 0 {
		t.Fatalf("bad input left ports: %+v %v", l, err)
	}
	if after, _ := os.ReadFile(stateFile); !bytes.Equal(before, after) {
		t.Fatal("bad input changed the state file")
	}
	links := run(t, "ip", "-n", pod.ns, "-o", "link", "show")
	if n := strings.Count(links, "\n"); n != 3 || !pod.hasLink("net1") || !pod.hasLink("other1") {
		t.Fatalf("pod namespace changed:\n%s", links)
	}
}
