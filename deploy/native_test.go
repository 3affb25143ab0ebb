package deploy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/podwire/podwire/api"
)

// TestNative runs native/10-podwire.conflist with cnitool as containerd
// runs a primary network: the pod's identity in CNI_ARGS and its
// annotations in the io.kubernetes.cri.pod-annotations capability. One ADD
// makes eth0 and every network pod/dpdk-pod.yaml's annotation names (and
// the rest of the configuration's networks, one with a requested name);
// one DEL removes them all.
func TestNative(t *testing.T) {
	env(t)
	m := obj(t, readExample(t, "native/10-podwire.conflist"))
	networks := podwirePlugin(t, m)["networks"].(map[string]any)
	annotation := "podwire-vhostuser, podwire-vhostuser-server, podwire-memif, podwire-kernel@side0"
	want := []delegate{{ifName: "eth0", kind: api.KindKernel, network: "default", addr: "10.244.1."}}
	for i, name := range []string{"podwire-vhostuser", "podwire-vhostuser-server", "podwire-memif", "podwire-kernel"} {
		nc, ok := networks[name].(map[string]any)
		if !ok {
			t.Fatalf("native/10-podwire.conflist has no network %q", name)
		}
		d := delegate{ifName: fmt.Sprintf("net%d", i+1), kind: fmt.Sprint(nc["kind"]), network: fmt.Sprint(nc["network"]), podMount: "/run/podwire"}
		switch {
		case name == "podwire-kernel":
			d.ifName = "side0"
		case d.kind == api.KindMemif:
			d.mode = "slave"
		case nc["vhostMode"] == "server":
			d.mode = "client"
		default:
			d.mode = "server"
		}
		want = append(want, d)
	}
	nd := newNetDir(t)
	net := nd.install(t, m)
	n := newNetns(t)
	caps, err := json.Marshal(map[string]any{"io.kubernetes.cri.pod-annotations": map[string]string{
		"k8s.v1.cni.cncf.io/networks": annotation, "other/annotation": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	runtimeEnv := []string{n.podArgs(), "CAP_ARGS=" + string(caps)}

	r := parseResult(t, nd.cnitool(t, "add", net, n, "eth0", runtimeEnv...).ok(t, "cnitool add").stdout)
	var names []string
	for _, in := range r.Interfaces {
		names = append(names, in.Name)
	}
	if strings.Join(names, ",") != "eth0,net1,net2,net3,side0" || len(r.IPs) != 1 || *r.IPs[0].Interface != 0 {
		t.Fatalf("result interfaces %v, IPs %+v: want eth0 (with the IP), net1..net3 and side0", names, r.IPs)
	}
	got := podwired.attachments(t, n.cid)
	if len(got) != len(want) {
		t.Fatalf("podwired has %d attachments, want %d: %+v", len(got), len(want), got)
	}
	for _, d := range want {
		a, ok := got[d.ifName]
		if !ok || a.Kind != d.kind || a.Network != d.network {
			t.Fatalf("attachment %s: %+v (found %v), want kind %s on %s", d.ifName, a, ok, d.kind, d.network)
		}
		if d.kind == api.KindKernel {
			if !n.hasLink(d.ifName) {
				t.Fatalf("%s missing in the pod", d.ifName)
			}
			continue
		}
		checkSocket(t, n, a, d.podMount, d.mode)
	}
	if out := n.ip(t, "-4", "addr", "show", "dev", "eth0"); !strings.Contains(out, " 10.244.1.") {
		t.Fatalf("eth0 has no address:\n%s", out)
	}
	nd.cnitool(t, "check", net, n, "eth0", runtimeEnv...).ok(t, "cnitool check")
	for i := range 2 {
		nd.cnitool(t, "del", net, n, "eth0", runtimeEnv...).ok(t, fmt.Sprintf("cnitool del %d", i+1))
		checkPodGone(t, nd, n, want, true)
	}
}
