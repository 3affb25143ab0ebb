package cni

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/podwire/podwire/api"
)

// addDeploySeeds adds the plugin configurations of deploy/: every
// podwire entry of a conflist (with the list's cniVersion and name, as
// libcni passes it) and every NetworkAttachmentDefinition's spec.config.
func addDeploySeeds(f *testing.F) {
	lists, _ := filepath.Glob("../deploy/*/*.conflist")
	nads, _ := filepath.Glob("../deploy/nad/*.yaml")
	if len(lists) == 0 || len(nads) == 0 {
		f.Fatalf("no deploy/ configurations found (%v, %v)", lists, nads)
	}
	for _, p := range lists {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var l struct {
			CNIVersion string           `json:"cniVersion"`
			Name       string           `json:"name"`
			Plugins    []map[string]any `json:"plugins"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		for _, pl := range l.Plugins {
			if pl["type"] != "podwire" {
				continue
			}
			pl["cniVersion"], pl["name"] = l.CNIVersion, l.Name
			b, err := json.Marshal(pl)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, p := range nads {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var nad struct {
			Spec struct {
				Config string `json:"config"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(b, &nad); err != nil || nad.Spec.Config == "" {
			f.Fatalf("%s: no spec.config (%v)", p, err)
		}
		f.Add([]byte(nad.Spec.Config))
	}
}

// confSeeds are valid and malformed configurations from config_test.go and
// badinput_test.go.
var confSeeds = []string{
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"vhostuser"}`,
	`{"cniVersion": "1.0.0", "name": "n", "type": "podwire", "kind": "memif",
		"network": "blue", "socketOwner": "1000:2000", "socketMode": "660", "queues": 2, "mtu": 9000,
		"capabilities": {"CNIDeviceInfoFile": true, "mac": true, "deviceID": true},
		"runtimeConfig": {"CNIDeviceInfoFile": "/var/run/k8s.cni.cncf.io/devinfo/cni/x", "mac": "02:AA:BB:CC:DD:EE", "deviceID": "0000:00:00.0", "other": [1]},
		"deviceID": "0000:00:00.0", "pciBusID": "0000:00:00.0",
		"args": {"cni": {"labels": [{"key": "a", "value": "b"}]}},
		"cni.dev/something-new": 1, "ipMasq": false, "dns": {"nameservers": ["10.0.0.10"]},
		"prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel",
		"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],"cni.dev/attachments":[{"containerID":"b","ifname":"eth0"}]}`,
	`{"cniVersion":"1.1.0","name":"nat","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},
		"capabilities":{"io.kubernetes.cri.pod-annotations":true},
		"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"k8s.v1.cni.cncf.io/networks":"dpdk@vhu0"}},
		"networks":{"dpdk":{"kind":"memif"},"team/blue":{"kind":"vhostuser","vhostMode":"server","network":"b","socketOwner":":5","queues":4},"side":{"kind":"kernel","mtu":1400}}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","prevResult":{"cniVersion":"1.1.0",
		"interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/var/run/netns/x"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}}`,
	`[1,2]`,
	`{"cniVersion": "1.1.0", "name": `,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"vhost"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","Kind":"memif"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","sockets":1}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","mtu":1.5}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","queues":-1}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","network":""}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","podwiredSocket":"/run//x.sock"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","socketOwner":"1:"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","socketOwner":"-1"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","socketMode":"0600"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","socketMode":"4755"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","runtimeConfig":[]}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","runtimeConfig":{"mac":5}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","runtimeConfig":{"mac":"00:00:00:00:00:00"}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","ipam":"host-local"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","ipam":{"type":"../x"}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","ipam":{"type":5}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","capabilities":[]}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","cni.dev/valid-attachments":{}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","prevResult":{"cniVersion":"1.1.0","ips":[{"address":"nope"}]}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"vhostuser","vhostmode":"server"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","mtu":9000}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","podMount":"/var/run/a,b"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","podMount":true}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"memif","dns":"8.8.8.8"}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{"dpdk":5}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{"a/b/c":{"kind":"memif"}}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{"dpdk":{"kind":"memif","podMount":"/x"}}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{"dpdk":{"kind":"memif","queues":"2"}}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{"dpdk":{"kind":"memif","network":"a b"}}}`,
	`{"cniVersion":"1.1.0","name":"n","type":"podwire","kind":"kernel","ipam":{"type":"host-local"},"capabilities":{"io.kubernetes.cri.pod-annotations":true},"networks":{"dpdk":{"kind":"memif"}},"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"k8s.v1.cni.cncf.io/networks":["dpdk"]}}}`,
}

// FuzzLoadConf feeds arbitrary bytes to LoadConf. Properties:
//   - it never panics;
//   - every error is a *types.Error: code 6 for a document that is not a
//     JSON object (or a bad prevResult), code 7 otherwise with a message
//     "podwire config: field "<name>": ..." naming the field;
//   - an accepted configuration asks only for attachments podwired
//     accepts (api.Attachment.Validate), and names only networks a pod can
//     request;
//   - an accepted configuration re-marshals and re-parses to the same
//     configuration.
func FuzzLoadConf(f *testing.F) {
	addDeploySeeds(f)
	for _, s := range confSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadConf(data)
		if err != nil {
			checkConfErr(t, err)
			return
		}
		checkConfAttachments(t, c)
		b := canonicalConf(t, c)
		c2, err := LoadConf(b)
		if err != nil {
			t.Fatalf("accepted configuration refused after a round trip through %s: %v", b, err)
		}
		if b2 := canonicalConf(t, c2); string(b2) != string(b) {
			t.Fatalf("round trip changed the configuration:\n %s\n %s", b, b2)
		}
		if !reflect.DeepEqual(c.Attachment("c", "net1", "/n"), c2.Attachment("c", "net1", "/n")) || c.HasIPAM() != c2.HasIPAM() {
			t.Fatalf("round trip through %s changed the attachment or IPAM", b)
		}
	})
}

func checkConfErr(t *testing.T, err error) {
	t.Helper()
	var te *types.Error
	if !errors.As(err, &te) {
		t.Fatalf("LoadConf error %T %v is not a *types.Error", err, err)
	}
	switch te.Code {
	case types.ErrDecodingFailure:
		if te.Msg == "" {
			t.Fatalf("code 6 without a message: %+v", te)
		}
	case types.ErrInvalidNetworkConfig:
		// Only an empty key has no field name to give.
		if !strings.HasPrefix(te.Msg, `podwire config: field "`) && !strings.HasPrefix(te.Msg, `podwire config: a key is the empty string`) ||
			strings.HasPrefix(te.Msg, `podwire config: field "":`) {
			t.Fatalf("code 7 does not name a field: %q", te.Msg)
		}
	default:
		t.Fatalf("LoadConf error code %d: %v", te.Code, te)
	}
}

// checkConfAttachments: the attachments c asks podwired for pass
// podwired's validation, and every network entry's name is one a pod can
// request in its annotation.
func checkConfAttachments(t *testing.T, c *NetConf) {
	t.Helper()
	pod := PodArgs{UID: "3f1e9a8c-1b2d-4c5e-8f70-123456789abc", Namespace: "pods", Name: "p"}
	if err := c.attachment(&c.AttachConf, "c", "eth0", "/var/run/netns/x", pod, c.RuntimeConfig.MAC).WithDefaults().Validate(); err != nil {
		t.Fatalf("accepted configuration's attachment is invalid: %v", err)
	}
	for name, ac := range c.Networks {
		ns, n, scoped := strings.Cut(name, "/")
		if !scoped {
			ns, n = "pods", name
		}
		for _, part := range []string{ns, n} {
			if len(part) > maxLabel || !dns1123Label.MatchString(part) {
				t.Fatalf("accepted networks entry %q: %q is not a DNS-1123 label", name, part)
			}
		}
		if err := c.attachment(ac, "c", "net1", "/var/run/netns/x", pod, "").WithDefaults().Validate(); err != nil {
			t.Fatalf("accepted networks entry %q's attachment is invalid: %v", name, err)
		}
	}
}

// canonicalConf is c marshalled: the CNI-defined part as libcni's
// PluginConf.MarshalJSON writes it, plus every other exported field of
// NetConf by its JSON name (the embedded AttachConf's flattened).
func canonicalConf(t *testing.T, c *NetConf) []byte {
	t.Helper()
	b, err := json.Marshal(&c.PluginConf)
	if err != nil {
		t.Fatalf("marshal PluginConf: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if !c.HasIPAM() {
		delete(m, "ipam")
	}
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		sf := v.Type().Field(i)
		if !sf.IsExported() || sf.Type == reflect.TypeFor[types.PluginConf]() {
			continue
		}
		if sf.Anonymous {
			b, err := json.Marshal(v.Field(i).Interface())
			if err != nil {
				t.Fatalf("marshal %s: %v", sf.Name, err)
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || name == "" || strings.Contains(opts, "omitempty") && v.Field(i).IsZero() {
			continue
		}
		m[name] = v.Field(i).Interface()
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal %+v: %v", c, err)
	}
	return out
}

// FuzzNetworksAnnotation feeds arbitrary values of the
// k8s.v1.cni.cncf.io/networks annotation to ParseNetworksAnnotation.
// Properties: it never panics; every error is an *AnnotationError with a
// message; every accepted selection names a network a NAD or a networks
// entry can have, an interface podwired accepts and a canonical MAC; the
// selections marshalled as the JSON form parse back to the same.
func FuzzNetworksAnnotation(f *testing.F) {
	for _, s := range []string{
		"", "  ", "blue", " blue , team/red@vhu0,green@net7 ",
		`[{"name":"blue","interface":"vhu0","mac":"02:AA:00:00:00:01","ips":["10.1.0.5/24","fd00::5"],"cni-args":{"x":1}},{"name":"red","namespace":"team"}]`,
		`[{"name":"blue","interfaceRequest":"old0"}]`, `[{"name":"blue","interface":"eth1.100"}]`,
		"Blue", "blue_net", "blue-", "a/b/c", "blue@a@b", "blue@", "/blue", "blue,,red", "Team/blue", "blue@Net_1",
		`{"name":"blue"}`, `[{"name":"blue"`, `[{"interface":"x"}]`, `[{"name":5}]`, `[{"name":"Blue"}]`,
		`[{"name":"` + strings.Repeat("a", 64) + `"}]`, `[{"name":"blue","interface":"a/b"}]`,
		`[{"name":"blue","interface":"abcdefghijklmnop"}]`, `[{"name":"blue","mac":"zz"}]`,
		`[{"name":"blue","mac":"01:00:5e:00:00:01"}]`, `[{"name":"blue","ips":["10.0.0.300"]}]`,
		`[{"name":"blue","ips":["10.0.0.1/40"]}]`, `[{"name":"blue","ips":"10.0.0.1"}]`,
		`[{"name":"blue","cni-args":[1]}]`, `[{"name":"blue","default-route":["10.0.0.1"]}]`,
		`[]`, `null`, `[null]`, `[{"name":"blue","ips":[],"cni-args":{}}]`,
		"podwire-vhostuser@vhu0,podwire-memif@memif0,default/podwire-kernel",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		sels, err := ParseNetworksAnnotation(value, "pods")
		if err != nil {
			var ae *AnnotationError
			if !errors.As(err, &ae) || ae.Msg == "" {
				t.Fatalf("error %T %v is not an *AnnotationError with a message", err, err)
			}
			if toCNI(err).Code != types.ErrInvalidNetworkConfig {
				t.Fatalf("error %v is CNI code %d, want 7", err, toCNI(err).Code)
			}
			return
		}
		if len(sels) == 0 {
			return
		}
		for _, s := range sels {
			for _, part := range []string{s.Namespace, s.Name} {
				if len(part) > maxLabel || !dns1123Label.MatchString(part) {
					t.Fatalf("accepted selection %+v: %q is not a DNS-1123 label", s, part)
				}
			}
			if s.Interface != "" {
				if err := api.ValidateIfName(s.Interface); err != nil {
					t.Fatalf("accepted selection %+v: %v", s, err)
				}
			}
			if s.MAC != "" {
				if m, err := checkMAC(s.MAC); err != nil || m != s.MAC {
					t.Fatalf("accepted selection %+v: MAC %q, %v", s, m, err)
				}
			}
		}
		b, err := json.Marshal(sels)
		if err != nil {
			t.Fatalf("marshal %+v: %v", sels, err)
		}
		sels2, err := ParseNetworksAnnotation(string(b), "other")
		if err != nil {
			t.Fatalf("accepted selections refused after a round trip through %s: %v", b, err)
		}
		b2, err := json.Marshal(sels2)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("round trip changed the selections:\n %s\n %s (%v)", b, b2, err)
		}
	})
}
