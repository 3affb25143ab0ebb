package cni_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// TestBadInput runs the plugin as a runtime would with malformed
// configurations and environments: each gets a CNI error with the right
// code, a message naming what is wrong, and leaves nothing in podwired
// (nor an interface in the pod, nor an IPAM lease).
func TestBadInput(t *testing.T) {
	pw := sharedPodwired(t)
	netns := newNS(t)
	dataDir := t.TempDir()
	good := func(over map[string]any) string {
		c := map[string]any{"cniVersion": "1.1.0", "name": "pwbad", "type": "podwire", "kind": "vhostuser", "podwiredSocket": pw.socket}
		for k, v := range over {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return mustJSON(t, c)
	}
	// native is a valid native-mode configuration with over applied.
	native := func(over map[string]any) string {
		c := map[string]any{"kind": "kernel", "ipam": map[string]any{"type": "host-local", "subnet": "10.250.97.0/24", "dataDir": dataDir},
			"capabilities": map[string]bool{"io.kubernetes.cri.pod-annotations": true},
			"networks":     map[string]any{"dpdk": map[string]any{"kind": "memif"}}}
		maps.Copy(c, over)
		return good(c)
	}
	env := func(over map[string]string) map[string]string {
		e := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bad1", "CNI_NETNS": netns.Path(), "CNI_IFNAME": "net1"}
		maps.Copy(e, over)
		for k, v := range e {
			if v == "-" {
				delete(e, k)
			}
		}
		return e
	}
	cases := []struct {
		name  string
		env   map[string]string
		conf  string
		code  uint
		words string // the message must contain this
	}{
		{"not JSON", nil, `{"cniVersion": "1.1.0", "name": `, types.ErrDecodingFailure, "unmarshal"},
		{"missing name", nil, good(map[string]any{"name": nil}), types.ErrInvalidNetworkConfig, "name"},
		{"old cniVersion", nil, good(map[string]any{"cniVersion": "0.2.0"}), types.ErrIncompatibleCNIVersion, "incompatible"},
		{"missing kind", nil, good(map[string]any{"kind": nil}), types.ErrInvalidNetworkConfig, `"kind": required`},
		{"unknown kind", nil, good(map[string]any{"kind": "tap"}), types.ErrInvalidNetworkConfig, `"kind": "tap" is not`},
		{"kind not a string", nil, good(map[string]any{"kind": 7}), types.ErrInvalidNetworkConfig, `"kind": want a string, got the number 7`},
		{"unknown field", nil, good(map[string]any{"vhostmode": "server"}), types.ErrInvalidNetworkConfig, `"vhostmode": unknown field (did you mean "vhostMode"?)`},
		{"vhostMode on memif", nil, good(map[string]any{"kind": "memif", "vhostMode": "server"}), types.ErrInvalidNetworkConfig, `"vhostMode": only applies`},
		{"bad vhostMode", nil, good(map[string]any{"vhostMode": "sever"}), types.ErrInvalidNetworkConfig, `"vhostMode": "sever"`},
		{"queues out of range", nil, good(map[string]any{"queues": 99}), types.ErrInvalidNetworkConfig, `"queues": 99`},
		{"queues not a number", nil, good(map[string]any{"queues": "2"}), types.ErrInvalidNetworkConfig, `"queues": want an integer`},
		{"bad socketMode", nil, good(map[string]any{"socketMode": "0999"}), types.ErrInvalidNetworkConfig, `"socketMode"`},
		{"socketOwner a name", nil, good(map[string]any{"socketOwner": "root"}), types.ErrInvalidNetworkConfig, `"socketOwner"`},
		{"socketOwner on kernel", nil, good(map[string]any{"kind": "kernel", "socketOwner": "1"}), types.ErrInvalidNetworkConfig, `"socketOwner": does not apply`},
		{"relative podwiredSocket", nil, good(map[string]any{"podwiredSocket": "run/pw.sock"}), types.ErrInvalidNetworkConfig, `"podwiredSocket"`},
		{"bad network name", nil, good(map[string]any{"network": "a/b"}), types.ErrInvalidNetworkConfig, `"network"`},
		{"network unknown to podwired", nil, good(map[string]any{"network": "nope"}), types.ErrInvalidNetworkConfig, `"network": ADD: podwired: no network "nope"`},
		{"mtu too small", nil, good(map[string]any{"mtu": 10}), types.ErrInvalidNetworkConfig, `"mtu": 10`},
		{"kernel mtu above the host end", nil, good(map[string]any{"kind": "kernel", "mtu": 9000}), types.ErrInvalidNetworkConfig, `"mtu": 9000`},
		{"bad runtimeConfig.mac", nil, good(map[string]any{"runtimeConfig": map[string]any{"mac": "01:00:5e:00:00:01"}}), types.ErrInvalidNetworkConfig, `"runtimeConfig.mac"`},
		{"relative CNIDeviceInfoFile", nil, good(map[string]any{"runtimeConfig": map[string]any{"CNIDeviceInfoFile": "x.json"}}), types.ErrInvalidNetworkConfig, `"runtimeConfig.CNIDeviceInfoFile"`},
		{"ipam without type", nil, good(map[string]any{"ipam": map[string]any{"subnet": "10.0.0.0/8"}}), types.ErrInvalidNetworkConfig, `"ipam.type": required`},
		{"ipam plugin missing", nil, good(map[string]any{"ipam": map[string]any{"type": "no-such-ipam"}}), types.ErrInvalidNetworkConfig, `"no-such-ipam" not found in CNI_PATH`},
		{"ipam bad subnet (kernel, rolled back)", nil, good(map[string]any{"kind": "kernel", "ipam": map[string]any{"type": "host-local", "subnet": "10.250.0.0/99", "dataDir": dataDir}}), types.ErrInternal, "ipam host-local"},
		{"device-info file unwritable (IPAM and attachment rolled back)", nil, good(map[string]any{"kind": "memif",
			"ipam":          map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": "10.250.98.0/24"}}}, "dataDir": dataDir},
			"runtimeConfig": map[string]any{"CNIDeviceInfoFile": "/etc/hostname/devinfo.json"}}), types.ErrIOFailure, "CNIDeviceInfoFile"},
		{"dns not an object", nil, good(map[string]any{"dns": "8.8.8.8"}), types.ErrInvalidNetworkConfig, `"dns"`},
		{"no CNI_CONTAINERID", env(map[string]string{"CNI_CONTAINERID": "-"}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"bad CNI_CONTAINERID", env(map[string]string{"CNI_CONTAINERID": "bad id!"}), good(nil), types.ErrInvalidEnvironmentVariables, "invalid characters"},
		{"long CNI_CONTAINERID", env(map[string]string{"CNI_CONTAINERID": strings.Repeat("a", 129)}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID: 129 characters"},
		{"CNI_IFNAME too long", env(map[string]string{"CNI_IFNAME": "net1234567890123"}), good(nil), types.ErrInvalidEnvironmentVariables, "too long"},
		{"CNI_IFNAME with a slash", env(map[string]string{"CNI_IFNAME": "net/1"}), good(nil), types.ErrInvalidEnvironmentVariables, "contains / or :"},
		{"CNI_IFNAME with a control character", env(map[string]string{"CNI_IFNAME": "net\x01"}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_IFNAME"},
		{"no CNI_NETNS", env(map[string]string{"CNI_NETNS": "-"}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_NETNS"},
		{"CNI_NETNS missing", env(map[string]string{"CNI_NETNS": "/var/run/netns/pw-no-such-ns"}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_NETNS: /var/run/netns/pw-no-such-ns does not exist"},
		{"CNI_NETNS not a namespace", env(map[string]string{"CNI_NETNS": "/etc/hostname"}), good(nil), types.ErrInvalidEnvironmentVariables, "not a network namespace"},
		{"CNI_NETNS is the plugin's own", env(map[string]string{"CNI_NETNS": "/proc/self/ns/net"}), good(nil), types.ErrInvalidNetNS, "own network namespace"},
		{"no CNI_PATH", env(map[string]string{"CNI_PATH": ""}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_PATH"},
		{"unknown CNI_COMMAND", env(map[string]string{"CNI_COMMAND": "MOVE"}), good(nil), types.ErrInvalidEnvironmentVariables, "MOVE"},
		{"CHECK without prevResult", env(map[string]string{"CNI_COMMAND": "CHECK"}), good(nil), types.ErrInvalidNetworkConfig, "prevResult"},
		{"GC below 1.1.0", env(map[string]string{"CNI_COMMAND": "GC"}), good(map[string]any{"cniVersion": "1.0.0"}), types.ErrIncompatibleCNIVersion, "does not allow GC"},
		// The native multi-interface mode's configuration.
		{"networks not an object", nil, native(map[string]any{"networks": "dpdk"}), types.ErrInvalidNetworkConfig, `"networks": want an object`},
		{"networks empty", nil, native(map[string]any{"networks": map[string]any{}}), types.ErrInvalidNetworkConfig, `"networks": empty`},
		{"networks entry not an object", nil, native(map[string]any{"networks": map[string]any{"dpdk": 5}}), types.ErrInvalidNetworkConfig, `"networks": want an object`},
		{"networks with a socket primary", nil, native(map[string]any{"kind": "memif"}), types.ErrInvalidNetworkConfig, `needs kind "kernel"`},
		{"networks without ipam", nil, native(map[string]any{"ipam": nil}), types.ErrInvalidNetworkConfig, `needs "ipam"`},
		{"networks without the annotations capability", nil, native(map[string]any{"capabilities": map[string]bool{"mac": true}}), types.ErrInvalidNetworkConfig, `io.kubernetes.cri.pod-annotations`},
		{"networks name not DNS-1123", nil, native(map[string]any{"networks": map[string]any{"Dpdk": map[string]any{"kind": "memif"}}}), types.ErrInvalidNetworkConfig, `"networks.Dpdk"`},
		{"networks name with two slashes", nil, native(map[string]any{"networks": map[string]any{"a/b/c": map[string]any{"kind": "memif"}}}), types.ErrInvalidNetworkConfig, `"networks.a/b/c"`},
		{"networks entry without kind", nil, native(map[string]any{"networks": map[string]any{"dpdk": map[string]any{"network": "x"}}}), types.ErrInvalidNetworkConfig, `"networks.dpdk.kind": required`},
		{"networks entry unknown field", nil, native(map[string]any{"networks": map[string]any{"dpdk": map[string]any{"kind": "memif", "podMount": "/x"}}}), types.ErrInvalidNetworkConfig, `"networks.dpdk.podMount": unknown field`},
		{"networks entry wrong type", nil, native(map[string]any{"networks": map[string]any{"dpdk": map[string]any{"kind": "memif", "queues": "2"}}}), types.ErrInvalidNetworkConfig, `"networks.dpdk.queues": want an integer`},
		{"networks entry vhostMode on memif", nil, native(map[string]any{"networks": map[string]any{"dpdk": map[string]any{"kind": "memif", "vhostMode": "server"}}}), types.ErrInvalidNetworkConfig, `"networks.dpdk.vhostMode": only applies`},
		{"networks entry kernel mtu too big", nil, native(map[string]any{"networks": map[string]any{"side": map[string]any{"kind": "kernel", "mtu": 9000}}}), types.ErrInvalidNetworkConfig, `"networks.side.mtu": 9000`},
		{"networks entry bad podwired network name", nil, native(map[string]any{"networks": map[string]any{"dpdk": map[string]any{"kind": "memif", "network": "a b"}}}), types.ErrInvalidNetworkConfig, `"networks.dpdk.network"`},
		{"pod annotations not strings", nil, native(map[string]any{"runtimeConfig": map[string]any{"io.kubernetes.cri.pod-annotations": map[string]any{"k8s.v1.cni.cncf.io/networks": []string{"dpdk"}}}}), types.ErrInvalidNetworkConfig, `"runtimeConfig.io.kubernetes.cri.pod-annotations": want an object of strings`},
		// Owner, MTU and the per-pod socket directory.
		{"podMount relative", nil, good(map[string]any{"podMount": "var/run/podwire"}), types.ErrInvalidNetworkConfig, `"podMount": "var/run/podwire" is not an absolute path`},
		{"podMount too long", nil, good(map[string]any{"podMount": "/" + strings.Repeat("m", 80)}), types.ErrInvalidNetworkConfig, `"podMount"`},
		{"podMount with a comma", nil, good(map[string]any{"podMount": "/var/run/a,b"}), types.ErrInvalidNetworkConfig, `"podMount": "/var/run/a,b" contains a character`},
		{"podMount not a string", nil, good(map[string]any{"podMount": true}), types.ErrInvalidNetworkConfig, `"podMount": want a string`},
		{"kernel mtu not a number", nil, good(map[string]any{"kind": "kernel", "mtu": "1400"}), types.ErrInvalidNetworkConfig, `"mtu": want an integer`},
		{"K8S_POD_UID not a name", env(map[string]string{"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_UID=a/../../b"}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_ARGS: K8S_POD_UID"},
		{"K8S_POD_UID too long for a socket path", env(map[string]string{"CNI_ARGS": "K8S_POD_UID=" + strings.Repeat("u", 63)}), good(nil), types.ErrInvalidEnvironmentVariables, "CNI_ARGS: ADD: podwired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.env
			if e == nil {
				e = env(nil)
			}
			out, stderr, code := runPlugin(t, e, c.conf)
			if code == 0 {
				t.Fatalf("exit 0, stdout %s", out)
			}
			var ce types.Error
			if err := json.Unmarshal(out, &ce); err != nil {
				t.Fatalf("stdout is not a CNI error: %q (stderr %q)", out, stderr)
			}
			if ce.Code != c.code || !strings.Contains(ce.Msg+"; "+ce.Details, c.words) {
				t.Fatalf("got code %d %q (details %q), want code %d containing %q", ce.Code, ce.Msg, ce.Details, c.code, c.words)
			}
			t.Logf("code %d: %s", ce.Code, ce.Msg)
			if l := pw.attachments(t); len(l) != 0 {
				t.Fatalf("attachment left behind: %+v", l)
			}
		})
	}
	if _, _, _, err := podLink(t, netns, "net1"); err == nil {
		t.Fatal("an interface was left in the pod")
	}
	if l := leases(t, dataDir); len(l) != 0 {
		t.Fatalf("IPAM leases left: %v", l)
	}
	if ents, _ := os.ReadDir(filepath.Join(pw.dir, "s")); len(ents) != 0 {
		t.Fatalf("socket directories left: %v", ents)
	}
}
