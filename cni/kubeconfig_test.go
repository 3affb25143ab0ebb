package cni

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// Unit tests of the network-status computation and of kubeconfig parsing.
// Publishing to a real API server is in netstatus_test.go.

func mustCIDR(t *testing.T, s string) net.IPNet {
	t.Helper()
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip
	return *n
}

// TestNetworkStatusesJSON: the list for a native-mode result, checked
// against the JSON Multus writes for the same delegates (NAD client
// CreateNetworkStatus(es), SetNetworkStatus format): eth0 default with
// gateway and DNS, attachments named <namespace>/<name> with their own
// addresses and device-info, "dns": {} everywhere.
func TestNetworkStatusesJSON(t *testing.T) {
	res := &current.Result{
		Interfaces: []*current.Interface{
			{Name: "eth0", Mac: "02:00:00:00:00:01", Mtu: 1450, Sandbox: "/var/run/netns/p"},
			{Name: "net1", Mac: "02:00:00:00:00:02", Sandbox: "/var/run/netns/p", SocketPath: "/s/vhost.sock"},
			{Name: "net2", Mac: "02:00:00:00:00:03", Mtu: 1400, Sandbox: "/var/run/netns/p"},
		},
		IPs: []*current.IPConfig{
			{Address: mustCIDR(t, "10.250.1.2/24"), Gateway: net.ParseIP("10.250.1.1"), Interface: current.Int(0)},
			{Address: mustCIDR(t, "fd00::2/64"), Interface: current.Int(0)},
			{Address: mustCIDR(t, "10.99.0.5/32"), Interface: current.Int(1)},
			{Address: mustCIDR(t, "10.98.0.7/24"), Interface: current.Int(2)},
		},
		Routes: []*types.Route{
			{Dst: mustCIDR(t, "0.0.0.0/0"), GW: net.ParseIP("10.250.1.1")},
			{Dst: mustCIDR(t, "10.251.0.0/16")},
			{Dst: mustCIDR(t, "::/0")}, // no gateway: left out
		},
		DNS: types.DNS{Nameservers: []string{"10.0.0.10"}, Search: []string{"svc.cluster.local"}},
	}
	di := []byte(`{"type":"vhost-user","version":"1.1.0","vhost-user":{"mode":"server","path":"/var/run/podwire/net1/vhost.sock"}}`)
	st, err := networkStatuses(res, []statusEntry{{name: "pwnative", idx: 0}, {name: "team/dpdk", idx: 1, devInfo: di}, {name: "team/side", idx: 2}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := networkStatusValue(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{
    "name": "pwnative",
    "interface": "eth0",
    "ips": [
        "10.250.1.2",
        "fd00::2"
    ],
    "mac": "02:00:00:00:00:01",
    "mtu": 1450,
    "default": true,
    "dns": {
        "nameservers": [
            "10.0.0.10"
        ],
        "search": [
            "svc.cluster.local"
        ]
    },
    "gateway": [
        "10.250.1.1"
    ]
},{
    "name": "team/dpdk",
    "interface": "net1",
    "ips": [
        "10.99.0.5"
    ],
    "mac": "02:00:00:00:00:02",
    "dns": {},
    "device-info": {
        "type": "vhost-user",
        "version": "1.1.0",
        "vhost-user": {
            "mode": "server",
            "path": "/var/run/podwire/net1/vhost.sock"
        }
    }
},{
    "name": "team/side",
    "interface": "net2",
    "ips": [
        "10.98.0.7"
    ],
    "mac": "02:00:00:00:00:03",
    "mtu": 1400,
    "dns": {}
}]`
	if got != want {
		t.Fatalf("network-status\n%s\nwant\n%s", got, want)
	}
	// The keys are the NAD client's NetworkStatus keys, nothing else.
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got), &raw); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"name": true, "interface": true, "ips": true, "mac": true, "mtu": true, "default": true, "dns": true, "device-info": true, "gateway": true}
	for _, m := range raw {
		for k := range m {
			if !allowed[k] {
				t.Fatalf("key %q is not in Multus's schema", k)
			}
		}
	}

	// A memif attachment without addresses: no "ips".
	res2 := &current.Result{Interfaces: []*current.Interface{{Name: "eth0"}, {Name: "net1"}}}
	st, err = networkStatuses(res2, []statusEntry{{name: "n", idx: 0}, {name: "team/fast", idx: 1,
		devInfo: []byte(`{"type":"memif","version":"1.1.0","memif":{"role":"slave","path":"/p/memif.sock","mode":"ethernet"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st[1])
	if string(b) != `{"name":"team/fast","interface":"net1","dns":{},"device-info":{"type":"memif","version":"1.1.0","memif":{"role":"slave","path":"/p/memif.sock","mode":"ethernet"}}}` {
		t.Fatalf("memif entry %s", b)
	}
	if _, err := networkStatuses(res2, []statusEntry{{name: "n", idx: 2}}); err == nil {
		t.Fatal("an entry past the result's interfaces must fail")
	}
	if _, err := networkStatuses(res2, []statusEntry{{name: "n", idx: 1, devInfo: []byte("{")}}); err == nil {
		t.Fatal("bad device-info must fail")
	}
}

// testPKI is a CA, and a certificate and key it signed, PEM.
type testPKI struct{ ca, cert, key []byte }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "podwire-cni"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return testPKI{
		ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	}
}

// TestLoadKubeconfig: the current context's server, CA, token or token
// file, client certificate (files relative to the kubeconfig, or inline
// -data), YAML and JSON; and what it refuses.
func TestLoadKubeconfig(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	for n, b := range map[string][]byte{"ca.crt": pki.ca, "client.crt": pki.cert, "client.key": pki.key, "token": []byte("file-token\n")} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yamlCfg := `apiVersion: v1
kind: Config
current-context: cni
clusters:
- name: other
  cluster:
    server: https://10.0.0.1:6443
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
users:
- name: tok
  user:
    token: abc
- name: certs
  user:
    client-certificate: client.crt
    client-key: ` + filepath.Join(dir, "client.key") + `
contexts:
- name: other
  context: {cluster: other, user: tok}
- name: cni
  context:
    cluster: local
    user: certs
`
	k, err := loadKubeconfig(write("yaml", yamlCfg))
	if err != nil {
		t.Fatal(err)
	}
	if k.server.String() != "https://127.0.0.1:6443" || k.token != "" || k.tokenFile != "" {
		t.Fatalf("server %s token %q tokenFile %q", k.server, k.token, k.tokenFile)
	}
	tr := transportOf(t, k)
	if len(tr.TLSClientConfig.Certificates) != 1 || tr.TLSClientConfig.RootCAs == nil {
		t.Fatalf("client certificate %d, root CAs %v", len(tr.TLSClientConfig.Certificates), tr.TLSClientConfig.RootCAs)
	}

	jsonCfg, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Config",
		"clusters": []any{map[string]any{"name": "c", "cluster": map[string]any{"server": "http://127.0.0.1:8080/prefix", "certificate-authority-data": b64(pki.ca), "insecure-skip-tls-verify": true, "tls-server-name": "api"}}},
		"users":    []any{map[string]any{"name": "u", "user": map[string]any{"tokenFile": "token", "client-certificate-data": b64(pki.cert), "client-key-data": b64(pki.key)}}},
		"contexts": []any{map[string]any{"name": "only", "context": map[string]any{"cluster": "c", "user": "u"}}},
	})
	k, err = loadKubeconfig(write("json", string(jsonCfg)))
	if err != nil {
		t.Fatal(err)
	}
	tr = transportOf(t, k)
	if k.server.String() != "http://127.0.0.1:8080/prefix" || k.tokenFile != filepath.Join(dir, "token") ||
		!tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.ServerName != "api" || len(tr.TLSClientConfig.Certificates) != 1 {
		t.Fatalf("json kubeconfig: %+v %+v", k, tr.TLSClientConfig)
	}

	bad := []struct{ name, cfg, want string }{
		{"no file", "", "no such file"},
		{"not yaml", "clusters: [", "kubeconfig"},
		{"no context", "clusters: []\ncontexts: []\n", "no current-context"},
		{"unknown context", "current-context: x\ncontexts: [{name: y, context: {cluster: c}}]\n", `no context "x"`},
		{"unknown cluster", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", `no cluster "c"`},
		{"unknown user", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n", `no user "u"`},
		{"no server", "current-context: x\nclusters: [{name: c, cluster: {}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", "no server"},
		{"bad server", "current-context: x\nclusters: [{name: c, cluster: {server: 'ftp://a'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", "not an http(s) URL"},
		{"bad ca data", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a', certificate-authority-data: '!!'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", "not base64"},
		{"ca not pem", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a', certificate-authority: token}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", "no PEM certificate"},
		{"missing ca file", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a', certificate-authority: nope.crt}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", "nope.crt"},
		{"exec", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n", "exec credential plugins are not supported"},
		{"auth-provider", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {auth-provider: {name: gcp}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n", "auth-provider is not supported"},
		{"basic", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {username: a, password: b}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n", "basic auth"},
		{"cert without key", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {client-certificate: client.crt}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n", "needs both"},
		{"key mismatch", "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {client-certificate: client.crt, client-key: ca.crt}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n", "client certificate"},
	}
	for _, c := range bad {
		p := filepath.Join(dir, "missing")
		if c.cfg != "" {
			p = write("bad", c.cfg)
		}
		_, err := loadKubeconfig(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func transportOf(t *testing.T, k *kubeClient) *http.Transport {
	t.Helper()
	tr, ok := k.http.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", k.http.Transport)
	}
	return tr
}

// TestKubeconfigField: "kubeconfig" is a string, an absolute path, and
// only with "networks".
func TestKubeconfigField(t *testing.T) {
	base := map[string]any{"cniVersion": "1.1.0", "name": "n", "type": "podwire", "kind": "kernel",
		"ipam":         map[string]any{"type": "host-local"},
		"capabilities": map[string]bool{PodAnnotationsCapability: true},
		"networks":     map[string]any{"dpdk": map[string]any{"kind": "vhostuser"}}}
	load := func(mod func(m map[string]any)) (*NetConf, error) {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		mod(m)
		b, _ := json.Marshal(m)
		return LoadConf(b)
	}
	c, err := load(func(m map[string]any) { m["kubeconfig"] = "/etc/cni/net.d/podwire.d/podwire.kubeconfig" })
	if err != nil || c.Kubeconfig != "/etc/cni/net.d/podwire.d/podwire.kubeconfig" {
		t.Fatalf("%v %+v", err, c)
	}
	if c, err := load(func(map[string]any) {}); err != nil || c.Kubeconfig != "" {
		t.Fatalf("no kubeconfig: %v", err)
	}
	for name, mod := range map[string]func(map[string]any){
		"relative":  func(m map[string]any) { m["kubeconfig"] = "podwire.kubeconfig" },
		"number":    func(m map[string]any) { m["kubeconfig"] = 1 },
		"no native": func(m map[string]any) { m["kubeconfig"] = "/k"; delete(m, "networks") },
	} {
		_, err := load(mod)
		var te *types.Error
		if !errors.As(err, &te) || te.Code != types.ErrInvalidNetworkConfig || !strings.Contains(te.Msg, `"kubeconfig"`) {
			t.Errorf("%s: %v, want code 7 naming kubeconfig", name, err)
		}
	}
}

// TestCheckPodRef: only names Kubernetes gives go into the API path.
func TestCheckPodRef(t *testing.T) {
	for _, ok := range []PodArgs{{Namespace: "team", Name: "p-1"}, {Namespace: "a", Name: "web-0.example"}} {
		if err := checkPodRef(ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []PodArgs{{}, {Namespace: "team"}, {Name: "p"}, {Namespace: "team", Name: "../secrets/x"},
		{Namespace: "Team", Name: "p"}, {Namespace: "team", Name: "p/status"}, {Namespace: "team", Name: strings.Repeat("a", 254)}} {
		if err := checkPodRef(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
