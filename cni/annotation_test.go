package cni

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseNetworksAnnotation: both forms of k8s.v1.cni.cncf.io/networks,
// parsed with Multus's rules.
func TestParseNetworksAnnotation(t *testing.T) {
	good := []struct {
		name, value string
		want        []NetworkSelection
	}{
		{"empty", "", nil},
		{"blank", "  ", nil},
		{"one", "blue", []NetworkSelection{{Name: "blue", Namespace: "pods"}}},
		{"text form, all parts, spaces", " blue , team/red@vhu0,green@net7 ", []NetworkSelection{
			{Name: "blue", Namespace: "pods"}, {Name: "red", Namespace: "team", Interface: "vhu0"}, {Name: "green", Namespace: "pods", Interface: "net7"}}},
		{"json form", `[{"name":"blue","interface":"vhu0","mac":"02:AA:00:00:00:01","ips":["10.1.0.5/24","fd00::5"],"cni-args":{"x":1}},{"name":"red","namespace":"team"}]`,
			[]NetworkSelection{
				{Name: "blue", Namespace: "pods", Interface: "vhu0", MAC: "02:aa:00:00:00:01", IPs: []string{"10.1.0.5/24", "fd00::5"}, CNIArgs: map[string]any{"x": float64(1)}},
				{Name: "red", Namespace: "team"}}},
		{"json deprecated interfaceRequest", `[{"name":"blue","interfaceRequest":"old0"}]`, []NetworkSelection{{Name: "blue", Namespace: "pods", Interface: "old0"}}},
		{"json interface need not be DNS-1123", `[{"name":"blue","interface":"eth1.100"}]`, []NetworkSelection{{Name: "blue", Namespace: "pods", Interface: "eth1.100"}}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseNetworksAnnotation(c.value, "pods")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	bad := []struct{ name, value, words string }{
		{"upper case", "Blue", `name "Blue" is not a DNS-1123 label`},
		{"underscore", "blue_net", "DNS-1123"},
		{"trailing dash", "blue-", "DNS-1123"},
		{"two slashes", "a/b/c", "more than one '/'"},
		{"two ats", "blue@a@b", "more than one '@'"},
		{"empty interface", "blue@", "empty interface"},
		{"empty namespace", "/blue", "empty namespace"},
		{"empty element", "blue,,red", "no network name"},
		{"bad namespace", "Team/blue", `namespace "Team"`},
		{"bad interface in text", "blue@Net_1", `interface "Net_1"`},
		{"json not a list", `{"name":"blue"}`, "JSON form"},
		{"json broken", `[{"name":"blue"`, "JSON form"},
		{"json no name", `[{"interface":"x"}]`, "no network name"},
		{"json name not a string", `[{"name":5}]`, `"name": want a string`},
		{"json bad name", `[{"name":"Blue"}]`, "DNS-1123"},
		{"json name too long", `[{"name":"` + strings.Repeat("a", 64) + `"}]`, "DNS-1123"},
		{"json bad interface", `[{"name":"blue","interface":"a/b"}]`, "interface"},
		{"json long interface", `[{"name":"blue","interface":"abcdefghijklmnop"}]`, "interface"},
		{"json bad mac", `[{"name":"blue","mac":"zz"}]`, "mac"},
		{"json multicast mac", `[{"name":"blue","mac":"01:00:5e:00:00:01"}]`, "multicast"},
		{"json bad ip", `[{"name":"blue","ips":["10.0.0.300"]}]`, `"10.0.0.300" is not an IP`},
		{"json bad cidr", `[{"name":"blue","ips":["10.0.0.1/40"]}]`, "not a CIDR"},
		{"json ips not a list", `[{"name":"blue","ips":"10.0.0.1"}]`, `"ips": want a list`},
		{"json cni-args not an object", `[{"name":"blue","cni-args":[1]}]`, `"cni-args": want an object`},
		{"json unsupported key", `[{"name":"blue","default-route":["10.0.0.1"]}]`, `"default-route" is not supported`},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseNetworksAnnotation(c.value, "pods")
			var ae *AnnotationError
			if !errors.As(err, &ae) {
				t.Fatalf("got %+v, %v; want an AnnotationError", got, err)
			}
			if !strings.Contains(err.Error(), c.words) || !strings.Contains(err.Error(), NetworksAnnotation) {
				t.Fatalf("error %q does not contain %q", err, c.words)
			}
			if code := toCNI(err).Code; code != 7 {
				t.Fatalf("CNI code %d, want 7", code)
			}
		})
	}
}

// TestExtraAttachments: names net<N> by position or the requested one,
// namespaced network entries first, and every clash or unknown network is
// code 7.
func TestExtraAttachments(t *testing.T) {
	conf, err := LoadConf([]byte(`{"cniVersion":"1.1.0","name":"nat","type":"podwire","kind":"kernel",
		"ipam":{"type":"host-local"},
		"capabilities":{"io.kubernetes.cri.pod-annotations":true},
		"networks":{"blue":{"kind":"vhostuser"},"team/blue":{"kind":"memif","network":"teamblue"},"red":{"kind":"kernel","mtu":1400}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if conf.Networks["blue"].Network != "blue" || conf.Networks["team/blue"].Network != "teamblue" || conf.Networks["blue"].VhostMode != "client" {
		t.Fatalf("network defaults: %+v %+v", conf.Networks["blue"], conf.Networks["team/blue"])
	}
	with := func(v string) *NetConf {
		c := *conf
		c.RuntimeConfig.PodAnnotations = map[string]string{NetworksAnnotation: v, "other": "x"}
		return &c
	}
	xs, err := with("blue, team/blue@mif0, red").extraAttachments("eth0", PodArgs{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range xs {
		got = append(got, x.ifName+"="+x.conf.Kind+"/"+x.conf.Network)
	}
	if want := "net1=vhostuser/blue mif0=memif/teamblue net3=kernel/red"; strings.Join(got, " ") != want {
		t.Fatalf("got %s, want %s", strings.Join(got, " "), want)
	}
	// In namespace team, "blue" is team/blue.
	xs, err = with("blue").extraAttachments("eth0", PodArgs{Namespace: "team"})
	if err != nil || len(xs) != 1 || xs[0].conf.Kind != "memif" {
		t.Fatalf("team/blue: %+v %v", xs, err)
	}
	if xs, err := (&NetConf{Networks: conf.Networks}).extraAttachments("eth0", PodArgs{}); err != nil || xs != nil {
		t.Fatalf("no annotation: %+v %v", xs, err)
	}
	for _, c := range []struct{ value, words string }{
		{"green", `network "green" (namespace "default") is not one of this configuration's networks (blue, red, team/blue)`},
		{"blue@eth0", "interface eth0 is already the primary interface"},
		{"blue, red@net1", "interface net1 is already element 1's (blue)"},
		{`[{"name":"red","ips":["10.1.1.1"]}]`, `"10.1.1.1" needs a prefix length`},
		{"Blue", "DNS-1123"},
	} {
		_, err := with(c.value).extraAttachments("eth0", PodArgs{Namespace: "default"})
		if err == nil || toCNI(err).Code != 7 || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%q: got %v, want code 7 with %q", c.value, err, c.words)
		}
	}
}

func TestParsePodArgs(t *testing.T) {
	p, err := parsePodArgs("IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1;K8S_POD_UID=u1;IgnoreUnknown=1;K8S_POD_UID=7c4a-uid;MAC=02:00:00:00:00:01;junk")
	if err != nil {
		t.Fatal(err)
	}
	if p != (PodArgs{UID: "7c4a-uid", Namespace: "default", Name: "p1"}) {
		t.Fatalf("got %+v", p)
	}
	for _, bad := range []string{"K8S_POD_UID=../x", "K8S_POD_UID=" + strings.Repeat("a", 64), "K8S_POD_UID=.."} {
		if _, err := parsePodArgs(bad); err == nil || toCNI(err).Code != 4 || !strings.Contains(err.Error(), "CNI_ARGS: K8S_POD_UID") {
			t.Errorf("%q: got %v, want code 4 naming CNI_ARGS", bad, err)
		}
	}
}
