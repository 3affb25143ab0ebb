package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podwire/podwire/api"
)

func TestLoadConfDefaults(t *testing.T) {
	c, err := LoadConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"vhostuser"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != "default" || c.PodwiredSocket != "/run/podwire/podwired.sock" || c.VhostMode != api.VhostClient || c.HasIPAM() {
		t.Fatalf("defaults: %+v", c)
	}
	a := c.Attachment("cid", "net1", "/var/run/netns/x")
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Kind != "vhostuser" || a.VhostMode != "client" || a.Netns != "/var/run/netns/x" || a.OwnerUID != nil {
		t.Fatalf("attachment %+v", a)
	}
}

// TestLoadConfAccepts: keys that runtimes, libcni and Multus put into a
// plugin's configuration are accepted, and values are normalised.
func TestLoadConfAccepts(t *testing.T) {
	c, err := LoadConf([]byte(`{
		"cniVersion": "1.0.0", "name": "n", "type": "podwire", "kind": "memif",
		"network": "blue", "socketOwner": "1000:2000", "socketMode": "660", "queues": 2, "mtu": 9000,
		"capabilities": {"CNIDeviceInfoFile": true, "mac": true, "deviceID": true},
		"runtimeConfig": {"CNIDeviceInfoFile": "/var/run/k8s.cni.cncf.io/devinfo/cni/x", "mac": "02:AA:BB:CC:DD:EE", "deviceID": "0000:00:00.0", "other": [1]},
		"deviceID": "0000:00:00.0", "pciBusID": "0000:00:00.0",
		"args": {"cni": {"labels": [{"key": "a", "value": "b"}]}},
		"cni.dev/something-new": 1, "ipMasq": false, "dns": {"nameservers": ["10.0.0.10"]},
		"prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Attachment("c", "net1", "/n")
	if *a.OwnerUID != 1000 || *a.OwnerGID != 2000 || a.SocketMode != "0660" || a.MAC != "02:aa:bb:cc:dd:ee" || a.Queues != 2 || a.Network != "blue" {
		t.Fatalf("attachment %+v", a)
	}
	if c.PrevResult == nil || c.RuntimeConfig.CNIDeviceInfoFile == "" || len(c.DNS.Nameservers) != 1 {
		t.Fatalf("conf %+v", c)
	}
	gc, err := LoadConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel",
		"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],"cni.dev/attachments":[{"containerID":"b","ifname":"eth0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(gc.ValidAttachments) != 1 || len(gc.LegacyAttachments) != 1 || gc.LegacyAttachments[0].ContainerID != "b" {
		t.Fatalf("GC attachments %+v %+v", gc.ValidAttachments, gc.LegacyAttachments)
	}
}

func TestLoadConfErrors(t *testing.T) {
	base := `"cniVersion":"1.1.0","name":"n","type":"podwire"`
	cases := []struct {
		json  string
		code  uint
		field string // in the message
	}{
		{`[1,2]`, types.ErrDecodingFailure, "not a JSON object"},
		{`{` + base + `}`, types.ErrInvalidNetworkConfig, `"kind": required`},
		{`{` + base + `,"kind":"vhost"}`, types.ErrInvalidNetworkConfig, `"kind"`},
		{`{` + base + `,"kind":"memif","Kind":"memif"}`, types.ErrInvalidNetworkConfig, `"Kind": unknown field (did you mean "kind"?)`},
		{`{` + base + `,"kind":"memif","sockets":1}`, types.ErrInvalidNetworkConfig, `"sockets": unknown field; podwire's fields are kind, kubeconfig, mtu,`},
		{`{` + base + `,"kind":"memif","mtu":1.5}`, types.ErrInvalidNetworkConfig, `"mtu": want an integer, got the number 1.5`},
		{`{` + base + `,"kind":"memif","queues":-1}`, types.ErrInvalidNetworkConfig, `"queues"`},
		{`{` + base + `,"kind":"memif","network":""}`, types.ErrInvalidNetworkConfig, ""}, // empty: the default, fine
		{`{` + base + `,"kind":"memif","network":"` + strings.Repeat("n", 64) + `"}`, types.ErrInvalidNetworkConfig, `"network": 64 characters`},
		{`{` + base + `,"kind":"memif","podwiredSocket":"/run//x.sock"}`, types.ErrInvalidNetworkConfig, `"podwiredSocket": "/run//x.sock" is not a clean path`},
		{`{` + base + `,"kind":"memif","podwiredSocket":"/` + strings.Repeat("x", 110) + `"}`, types.ErrInvalidNetworkConfig, `"podwiredSocket"`},
		{`{` + base + `,"kind":"memif","socketOwner":":"}`, types.ErrInvalidNetworkConfig, `"socketOwner"`},
		{`{` + base + `,"kind":"memif","socketOwner":"1:"}`, types.ErrInvalidNetworkConfig, `"socketOwner": "1:" has an empty gid`},
		{`{` + base + `,"kind":"memif","socketOwner":"-1"}`, types.ErrInvalidNetworkConfig, `"socketOwner"`},
		{`{` + base + `,"kind":"kernel","socketMode":"0600"}`, types.ErrInvalidNetworkConfig, `"socketMode": does not apply`},
		{`{` + base + `,"kind":"memif","socketMode":"4755"}`, types.ErrInvalidNetworkConfig, `"socketMode"`},
		{`{` + base + `,"kind":"memif","runtimeConfig":[]}`, types.ErrInvalidNetworkConfig, `"runtimeConfig": want an object`},
		{`{` + base + `,"kind":"memif","runtimeConfig":{"mac":5}}`, types.ErrInvalidNetworkConfig, `"runtimeConfig.mac": want a string`},
		{`{` + base + `,"kind":"memif","runtimeConfig":{"mac":"00:00:00:00:00:00"}}`, types.ErrInvalidNetworkConfig, `zero address`},
		{`{` + base + `,"kind":"memif","ipam":"host-local"}`, types.ErrInvalidNetworkConfig, `"ipam": want an object`},
		{`{` + base + `,"kind":"memif","ipam":{"type":"../x"}}`, types.ErrInvalidNetworkConfig, `"ipam.type": "../x" is not a plugin name`},
		{`{` + base + `,"kind":"memif","ipam":{"type":5}}`, types.ErrInvalidNetworkConfig, `"ipam.type"`},
		{`{` + base + `,"kind":"memif","capabilities":[]}`, types.ErrInvalidNetworkConfig, `"capabilities": want an object`},
		{`{` + base + `,"kind":"memif","cni.dev/valid-attachments":{}}`, types.ErrInvalidNetworkConfig, `"cni.dev/valid-attachments"`},
		{`{` + base + `,"kind":"memif","prevResult":{"cniVersion":"1.1.0","ips":[{"address":"nope"}]}}`, types.ErrDecodingFailure, `"prevResult"`},
	}
	for _, c := range cases {
		_, err := LoadConf([]byte(c.json))
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.json, err)
			}
			continue
		}
		var te *types.Error
		if !errors.As(err, &te) {
			t.Errorf("%s: want a CNI error, got %v", c.json, err)
			continue
		}
		if te.Code != c.code || !strings.Contains(te.Msg, c.field) {
			t.Errorf("%s:\n got code %d %q\nwant code %d containing %q", c.json, te.Code, te.Msg, c.code, c.field)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for _, c := range []struct {
		in       string
		uid, gid int // -1: unset
		ok       bool
	}{
		{"1000", 1000, -1, true},
		{"1000:2000", 1000, 2000, true},
		{":2000", -1, 2000, true},
		{"0:0", 0, 0, true},
		{"", 0, 0, false},
		{":", 0, 0, false},
		{"a:1", 0, 0, false},
		{"1:b", 0, 0, false},
		{"4294967295", 0, 0, false},
		{"1:2:3", 0, 0, false},
	} {
		uid, gid, err := parseOwner(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if !c.ok {
			continue
		}
		get := func(p *int) int {
			if p == nil {
				return -1
			}
			return *p
		}
		if get(uid) != c.uid || get(gid) != c.gid {
			t.Errorf("%q: uid %d gid %d", c.in, get(uid), get(gid))
		}
	}
}

// TestResultVersions: a 1.1 result of podwire converted to each version.
// socketPath and mtu exist from 1.1.0 on; 0.3.1 and 0.4.0 carry
// ips[].version; 1.0.0 drops socketPath and mtu although its Go type is
// the same as 1.1.0's.
func TestResultVersions(t *testing.T) {
	mk := func() *current.Result {
		_, n, _ := net.ParseCIDR("10.1.0.5/24")
		n.IP = net.ParseIP("10.1.0.5").To4()
		return &current.Result{
			CNIVersion: current.ImplementedSpecVersion,
			Interfaces: []*current.Interface{{Name: "net1", Sandbox: "/var/run/netns/p", Mac: "02:00:00:00:00:01", Mtu: 9000, SocketPath: "/run/podwire/sockets/0123456789ab/vhost.sock"}},
			IPs:        []*current.IPConfig{{Interface: current.Int(0), Address: *n}},
		}
	}
	for _, ver := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		r, err := asVersion(mk(), ver)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := r.PrintTo(&buf); err != nil {
			t.Fatal(err)
		}
		var m struct {
			CNIVersion string           `json:"cniVersion"`
			Interfaces []map[string]any `json:"interfaces"`
			IPs        []map[string]any `json:"ips"`
		}
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		in := m.Interfaces[0]
		_, hasSock := in["socketPath"]
		_, hasMTU := in["mtu"]
		_, hasIPVer := m.IPs[0]["version"]
		if m.CNIVersion != ver || in["name"] != "net1" || in["sandbox"] != "/var/run/netns/p" || in["mac"] != "02:00:00:00:00:01" {
			t.Errorf("%s: %s", ver, buf.Bytes())
		}
		if hasSock != (ver == "1.1.0") || hasMTU != (ver == "1.1.0") || hasIPVer != (ver < "1.0.0") {
			t.Errorf("%s: socketPath %v mtu %v ips[].version %v: %s", ver, hasSock, hasMTU, hasIPVer, buf.Bytes())
		}
	}
}

func TestDeviceInfoOf(t *testing.T) {
	for _, c := range []struct {
		a    api.Attachment
		want string
	}{
		{api.Attachment{Kind: "vhostuser", VhostMode: "client", SocketPath: "/s/v.sock"}, `{"type":"vhost-user","version":"1.1.0","vhost-user":{"mode":"server","path":"/s/v.sock"}}`},
		{api.Attachment{Kind: "vhostuser", VhostMode: "server", SocketPath: "/s/v.sock"}, `{"type":"vhost-user","version":"1.1.0","vhost-user":{"mode":"client","path":"/s/v.sock"}}`},
		{api.Attachment{Kind: "memif", SocketPath: "/s/m.sock"}, `{"type":"memif","version":"1.1.0","memif":{"role":"slave","path":"/s/m.sock","mode":"ethernet"}}`},
	} {
		di, ok := deviceInfoOf(c.a)
		b, _ := json.Marshal(di)
		if !ok || string(b) != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.a, b, c.want)
		}
	}
	if _, ok := deviceInfoOf(api.Attachment{Kind: "kernel"}); ok {
		t.Error("kernel has device-info")
	}
}

// TestDeviceInfoFiles: the file is written whole with mode 0444 in a
// directory made for it, an existing file (a device plugin's) is neither
// overwritten nor, unless it is of a type podwire writes, removed.
func TestDeviceInfoFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "devinfo", "cni", "net-cid_net1")
	ours := []byte(`{"type":"memif","version":"1.1.0","memif":{"role":"slave","path":"/s/m.sock","mode":"ethernet"}}`)
	if err := writeDeviceInfo(p, ours); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("%v %v", fi, err)
	}
	if err := writeDeviceInfo(p, []byte(`{"type":"pci"}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, ours) {
		t.Fatalf("overwritten: %s", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := removeDeviceInfo(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("not removed: %v", err)
	}
	if err := removeDeviceInfo(p); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	pci := []byte(`{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:03:00.1"}}`)
	if err := os.WriteFile(p, pci, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := removeDeviceInfo(p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, pci) {
		t.Fatal("a device plugin's pci device-info was removed")
	}
}
