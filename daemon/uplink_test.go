package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/podwire/podwire/api"
)

// TestUplink: podwired's uplink is net_af_packet on the host end of a veth
// whose other end lives in a namespace the test makes (a stand-in for the
// wire). A kernel pod pings a host on that wire through podwired; the
// frames cross the uplink port both ways.
func TestUplink(t *testing.T) {
	needRoot(t)
	host := fmt.Sprintf("pwu%d", os.Getpid()%100000)
	wire := newKernelPod(t, "w")
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "wire0", "netns", wire.ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	run(t, "sysctl", "-qw", "net.ipv6.conf."+host+".disable_ipv6=1")
	run(t, "ip", "link", "set", host, "up")
	wire.in(t, "ip", "addr", "add", "10.252.0.100/24", "dev", "wire0")
	wire.in(t, "ip", "link", "set", "wire0", "up")

	in := newInstance(t, fmt.Sprintf("uplink:\n  name: uplink\n  vdev: net_af_packet90,iface=%s\n", host))
	in.start()
	ctx := ctxT(t)
	pod := newKernelPod(t, "p")
	a := api.Attachment{ContainerID: "uplinkpod", IfName: "eth0", Network: "default", Kind: api.KindKernel, Netns: pod.path}
	if _, err := in.client.PutAttachment(ctx, a); err != nil {
		t.Fatal(err)
	}
	pod.in(t, "ip", "addr", "add", "10.252.0.1/24", "dev", "eth0")
	pod.in(t, "ip", "link", "set", "eth0", "up")
	out := pod.in(t, "ping", "-c", "3", "-W", "2", "10.252.0.100")
	if !strings.Contains(out, "3 received") {
		t.Fatalf("ping over the uplink:\n%s", out)
	}
	ports, err := in.client.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p.Kind == api.PortKindUplink {
			if p.Counters.RxPackets < 3 || p.Counters.TxPackets < 3 {
				t.Fatalf("uplink counters %+v", p.Counters)
			}
			return
		}
	}
	t.Fatalf("no uplink port in %+v", ports)
}
