package cni_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/cni"
	"github.com/podwire/podwire/internal/syncbuf"
)

// Publishing network-status in the native multi-interface mode, against a
// real Kubernetes API server: kube-apiserver and etcd built from source by
// `make kube-tools` (tools/kube) into .tools/kube, started here on
// loopback with certificates made here, static tokens, client
// certificates and RBAC, and no controllers. The ADDs run the real plugin
// against a real podwired.

// kubeToolsDir is where `make kube-tools` puts kube-apiserver and etcd.
func kubeToolsDir() string {
	if d := os.Getenv("PODWIRE_KUBE_TOOLS"); d != "" {
		return d
	}
	d, _ := filepath.Abs(filepath.Join("..", ".tools", "kube"))
	return d
}

// Tokens of the API server's static token file.
const (
	adminToken  = "podwire-test-admin"  // system:masters
	cniToken    = "podwire-test-cni"    // user podwire-cni: patch pods/status only
	nobodyToken = "podwire-test-nobody" // user nobody: no permissions
)

// kubeAPI is a running etcd and kube-apiserver.
type kubeAPI struct {
	url         string // https://127.0.0.1:<port>
	dir         string
	ca          []byte // PEM of the CA that signed the server and client certificates
	certFile    string // client certificate of user podwire-cni-cert
	keyFile     string
	admin       *http.Client
	etcdLog     *syncbuf.Buffer
	apiLog      *syncbuf.Buffer
	etcd, kapis *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pemFiles writes a certificate signed by ca (self-signed if ca is nil)
// and its key, and returns the certificate, key and their PEM files.
func issue(t testing.TB, dir, name string, tmpl *x509.Certificate, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, cf, kf
}

// startKubeAPI starts etcd and kube-apiserver on loopback ports and waits
// until the API server is ready; cleanup stops both by PID.
func startKubeAPI(t testing.TB) *kubeAPI {
	t.Helper()
	tools := kubeToolsDir()
	for _, b := range []string{"etcd", "kube-apiserver"} {
		_, err := os.Stat(filepath.Join(tools, b))
		need(t, err == nil, fmt.Sprintf("%s not in %s: run `make kube-tools`", b, tools))
	}
	dir := t.TempDir()
	k := &kubeAPI{dir: dir, etcdLog: &syncbuf.Buffer{}, apiLog: &syncbuf.Buffer{}}

	ca, caKey, caFile, _ := issue(t, dir, "ca", &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "podwire-test-ca"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil, nil)
	k.ca, _ = os.ReadFile(caFile)
	_, _, serverCert, serverKey := issue(t, dir, "server", &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	_, _, k.certFile, k.keyFile = issue(t, dir, "client", &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "podwire-cni-cert"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	_, _, _, saKey := issue(t, dir, "sa", &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "sa"}}, nil, nil)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(adminToken+",admin,admin-uid,\"system:masters\"\n"+cniToken+",podwire-cni,cni-uid\n"+nobodyToken+",nobody,nobody-uid\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	k.etcd = exec.Command(filepath.Join(tools, "etcd"), "-data-dir", filepath.Join(dir, "etcd"),
		"-listen-client-url", etcdURL, "-listen-peer-url", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	k.etcd.Stdout, k.etcd.Stderr = k.etcdLog, k.etcdLog
	k.etcd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := spawn(k.etcd); err != nil {
		t.Fatal(err)
	}
	etcdDone := make(chan struct{})
	go func() { _ = k.etcd.Wait(); close(etcdDone) }()
	t.Cleanup(func() { stopProc(t, "etcd", k.etcd, etcdDone, k.etcdLog) })

	port := freePort(t)
	k.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	k.kapis = exec.Command(filepath.Join(tools, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--tls-cert-file="+serverCert, "--tls-private-key-file="+serverKey,
		"--client-ca-file="+caFile, "--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saKey, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		// No controllers run: no service accounts are made, and no
		// endpoints for the kubernetes service are needed.
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	)
	k.kapis.Stdout, k.kapis.Stderr = k.apiLog, k.apiLog
	k.kapis.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := spawn(k.kapis); err != nil {
		t.Fatal(err)
	}
	apiDone := make(chan struct{})
	go func() { _ = k.kapis.Wait(); close(apiDone) }()
	t.Cleanup(func() { stopProc(t, "kube-apiserver", k.kapis, apiDone, k.apiLog) })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.ca)
	k.admin = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(k.admin.CloseIdleConnections)
	start := time.Now()
	deadline := start.Add(4 * time.Minute) // a loaded 2-core machine
	for {
		code, body, err := k.do(adminToken, "GET", "/readyz", nil)
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case <-apiDone:
			t.Fatalf("kube-apiserver exited: %v\n%s\netcd:\n%s", k.kapis.ProcessState, tail(k.apiLog.String()), tail(k.etcdLog.String()))
		case <-etcdDone:
			t.Fatalf("etcd exited: %v\n%s", k.etcd.ProcessState, tail(k.etcdLog.String()))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready in %v: %d %s %v\n%s", time.Since(start), code, body, err, tail(k.apiLog.String()))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("kube-apiserver ready in %v", time.Since(start).Round(100*time.Millisecond))
	return k
}

func tail(s string) string {
	if len(s) > 6000 {
		return "..." + s[len(s)-6000:]
	}
	return s
}

// stopProc stops a process the test started, by its PID: SIGTERM, then
// SIGKILL after 15 s.
func stopProc(t testing.TB, name string, cmd *exec.Cmd, done chan struct{}, log *syncbuf.Buffer) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if t.Failed() {
		t.Logf("%s log:\n%s", name, tail(log.String()))
	}
}

// do sends a JSON request as the holder of token; it returns the status
// code and body.
func (k *kubeAPI) do(token, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.admin.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must is do as admin, failing the test unless the answer is 2xx.
func (k *kubeAPI) must(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	code, b, err := k.do(adminToken, method, path, body)
	if err != nil || code/100 != 2 {
		t.Fatalf("%s %s: %d %v\n%s", method, path, code, err, b)
	}
	return b
}

// pod is the part of a Pod object the tests read.
type pod struct {
	Metadata struct {
		Name        string            `json:"name"`
		UID         string            `json:"uid"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// createPod creates pod namespace/name with the networks annotation.
func (k *kubeAPI) createPod(t testing.TB, namespace, name, networks string) pod {
	t.Helper()
	obj := map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "annotations": map[string]string{cni.NetworksAnnotation: networks}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "podwire.invalid/app"}}}}
	var p pod
	if err := json.Unmarshal(k.must(t, "POST", "/api/v1/namespaces/"+namespace+"/pods", obj), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (k *kubeAPI) getPod(t testing.TB, namespace, name string) pod {
	t.Helper()
	var p pod
	if err := json.Unmarshal(k.must(t, "GET", "/api/v1/namespaces/"+namespace+"/pods/"+name, nil), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// kubeconfig writes a kubeconfig for server with the CA inline and the
// given user entry, and returns its path.
func (k *kubeAPI) kubeconfig(t testing.TB, name, server string, user map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "podwire",
		"clusters": []any{map[string]any{"name": "test", "cluster": map[string]any{
			"server": server, "certificate-authority-data": base64.StdEncoding.EncodeToString(k.ca)}}},
		"users":    []any{map[string]any{"name": "cni", "user": user}},
		"contexts": []any{map[string]any{"name": "podwire", "context": map[string]any{"cluster": "test", "user": "cni"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The YAML form a kubectl user writes: JSON is YAML, but write the
	// token user as YAML proper to cover the parser.
	if tok, ok := user["token"].(string); ok && len(user) == 1 {
		b = []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: podwire
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: cni
  user:
    token: %s
contexts:
- name: podwire
  context:
    cluster: test
    user: cni
`, server, base64.StdEncoding.EncodeToString(k.ca), tok))
	}
	p := filepath.Join(k.dir, name+".kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pluginStdin is the configuration a runtime sends the plugin for one
// native-mode ADD or DEL: conf with name, cniVersion and the pod's
// annotations as runtimeConfig.
func pluginStdin(t testing.TB, conf map[string]any, name, networks string) string {
	t.Helper()
	m := map[string]any{"cniVersion": "1.1.0", "name": name, "type": "podwire",
		"runtimeConfig": map[string]any{cni.PodAnnotationsCapability: map[string]string{cni.NetworksAnnotation: networks}}}
	for k, v := range conf {
		m[k] = v
	}
	return mustJSON(t, m)
}

func pluginEnv(cmd, cid, netns, podNS, podName, uid string) map[string]string {
	return map[string]string{"CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
		"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + podNS + ";K8S_POD_NAME=" + podName + ";K8S_POD_UID=" + uid}
}

// wantStatuses is the network-status list that Multus's rules give for
// a native-mode result whose interfaces after eth0 are the networks
// named (namespace/name), built from the result and podwired's
// attachments (device-info: podwired's, with the path the pod sees).
func wantStatuses(t testing.TB, pw *instance, cid, netName string, res *current.Result, networks []string) []cni.NetworkStatus {
	t.Helper()
	atts := map[string]api.Attachment{}
	for _, a := range pw.attachments(t) {
		if a.ContainerID == cid {
			atts[a.IfName] = a
		}
	}
	var out []cni.NetworkStatus
	for i, in := range res.Interfaces {
		s := cni.NetworkStatus{Name: netName, Interface: in.Name, Mac: in.Mac, Mtu: in.Mtu, Default: i == 0}
		if i > 0 {
			s.Name = networks[i-1]
		}
		for _, ipc := range res.IPs {
			if *ipc.Interface == i {
				s.IPs = append(s.IPs, ipc.Address.IP.String())
			}
		}
		if a := atts[in.Name]; a.Kind == api.KindVhostUser || a.Kind == api.KindMemif {
			di := &cni.DeviceInfo{Type: "vhost-user", Version: cni.DeviceInfoVersion, VhostUser: &cni.VhostUserInfo{Mode: "server", Path: a.PodSocketPath}}
			if a.Kind == api.KindMemif {
				di = &cni.DeviceInfo{Type: "memif", Version: cni.DeviceInfoVersion, Memif: &cni.MemifInfo{Role: "slave", Path: a.PodSocketPath, Mode: "ethernet"}}
			}
			s.DeviceInfo = di
		}
		out = append(out, s)
	}
	return out
}

// TestNetworkStatus: a native-mode ADD with a kubeconfig publishes the
// pod's network-status (Multus's schema) through a real API server, as a
// user allowed nothing but patch on pods/status, by token and by client
// certificate; the annotation is what the ADD's result says. Without a
// kubeconfig nothing is written. A publish that fails (API server
// unreachable, forbidden, a pod of that name with another UID) leaves the
// ADD successful and says so on stderr.
func TestNetworkStatus(t *testing.T) {
	pw := sharedPodwired(t)
	nativeNetworks(t, pw)
	k := startKubeAPI(t)
	k.must(t, "POST", "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "team"}})
	k.must(t, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": map[string]any{"name": "podwire-cni"},
		"rules": []any{map[string]any{"apiGroups": []string{""}, "resources": []string{"pods/status"}, "verbs": []string{"patch"}}}})
	k.must(t, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": map[string]any{"name": "podwire-cni"},
		"roleRef": map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "podwire-cni"},
		"subjects": []any{
			map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "podwire-cni"},
			map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "podwire-cni-cert"}}})
	// RBAC reads bindings through an informer: wait until it allows.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var review struct {
			Status struct {
				Allowed bool `json:"allowed"`
			} `json:"status"`
		}
		code, b, err := k.do(cniToken, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", map[string]any{
			"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
			"spec": map[string]any{"resourceAttributes": map[string]any{"namespace": "team", "verb": "patch", "resource": "pods", "subresource": "status"}}})
		if err == nil && code == http.StatusCreated && json.Unmarshal(b, &review) == nil && review.Status.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RBAC never allowed podwire-cni: %d %v %s", code, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tokenKC := k.kubeconfig(t, "token", k.url, map[string]any{"token": cniToken})
	certKC := k.kubeconfig(t, "cert", k.url, map[string]any{"client-certificate": k.certFile, "client-key": k.keyFile})

	for i, c := range []struct {
		name, kubeconfig, networks string
		want                       []string
	}{
		{"token", tokenKC, "dpdk, team/fast@mif0, side", []string{"team/dpdk", "team/fast", "team/side"}},
		{"client certificate", certKC, `[{"name":"side","ips":["10.98.0.7/24"]},{"name":"dpdk","interface":"vhu0","mac":"02:00:00:00:61:01"}]`,
			[]string{"team/side", "team/dpdk"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cid := fmt.Sprintf("netstatus-%d", i)
			p := k.createPod(t, "team", "p-"+cid, c.networks)
			conf := nativePlugin(pw, t.TempDir(), 70+i)
			conf["kubeconfig"] = c.kubeconfig
			rt := newRuntime(t)
			netns := newNS(t)
			list := conflist(t, "1.1.0", "pwnstatus", conf)
			rc := nativeRC(cid, netns.Path(), p.Metadata.UID, c.networks)
			r, err := rt.AddNetworkList(ctxT(t), list, rc)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			defer func() {
				if err := rt.DelNetworkList(ctxT(t), list, rc); err != nil {
					t.Errorf("DEL: %v", err)
				}
			}()
			res, err := current.NewResultFromResult(r)
			if err != nil {
				t.Fatal(err)
			}
			value, ok := k.getPod(t, "team", "p-"+cid).Metadata.Annotations[cni.NetworkStatusAnnotation]
			if !ok {
				t.Fatalf("pod has no %s annotation", cni.NetworkStatusAnnotation)
			}
			t.Logf("%s:\n%s", cni.NetworkStatusAnnotation, value)
			var got []cni.NetworkStatus
			if err := json.Unmarshal([]byte(value), &got); err != nil {
				t.Fatalf("annotation is not a network-status list: %v\n%s", err, value)
			}
			want := wantStatuses(t, pw, cid, "pwnstatus", res, c.want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("network-status\n%s\nwant (from the ADD result)\n%s", value, mustJSON(t, want))
			}
			if got[0].Interface != "eth0" || !got[0].Default || len(got[0].IPs) != 1 || got[0].Mtu != 1450 {
				t.Fatalf("eth0 entry %+v", got[0])
			}
			for _, s := range got[1:] {
				if s.Default || (s.DeviceInfo == nil) != (s.Name == "team/side") {
					t.Fatalf("entry %+v", s)
				}
			}
			// The other annotations are the pod's own still.
			if a := k.getPod(t, "team", "p-"+cid).Metadata.Annotations[cni.NetworksAnnotation]; a != c.networks {
				t.Fatalf("networks annotation now %q", a)
			}
		})
	}

	// Failures to publish: the ADD succeeds, stderr says why, the pod is
	// not annotated. Without a kubeconfig nothing is attempted.
	closed := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	for i, c := range []struct {
		name, kubeconfig, uid string
		stderr                []string
	}{
		{"unreachable", k.kubeconfig(t, "closed", closed, map[string]any{"token": cniToken}), "", []string{"network-status not published", "connection refused"}},
		{"forbidden", k.kubeconfig(t, "nobody", k.url, map[string]any{"token": nobodyToken}), "", []string{"network-status not published", "403"}},
		{"another pod's uid", tokenKC, "0f0e0d0c-0000-4000-8000-000000000000", []string{"network-status not published", "uid"}},
		{"missing kubeconfig file", filepath.Join(k.dir, "no-such.kubeconfig"), "", []string{"network-status not published", "no such file"}},
		{"no kubeconfig", "", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cid := fmt.Sprintf("netstatus-fail-%d", i)
			networks := "side, dpdk"
			p := k.createPod(t, "team", "p-"+cid, networks)
			uid := p.Metadata.UID
			if c.uid != "" {
				uid = c.uid
			}
			conf := nativePlugin(pw, t.TempDir(), 80+i)
			if c.kubeconfig != "" {
				conf["kubeconfig"] = c.kubeconfig
			}
			netns := newNS(t)
			stdin := pluginStdin(t, conf, "pwnstatus", networks)
			out, stderr, code := runPlugin(t, pluginEnv("ADD", cid, netns.Path(), "team", "p-"+cid, uid), stdin)
			if code != 0 {
				t.Fatalf("ADD exit %d: %s\n%s", code, out, stderr)
			}
			defer func() {
				if out, stderr, code := runPlugin(t, pluginEnv("DEL", cid, netns.Path(), "team", "p-"+cid, uid), stdin); code != 0 {
					t.Errorf("DEL exit %d: %s %s", code, out, stderr)
				}
			}()
			var res current.Result
			if err := json.Unmarshal(out, &res); err != nil || len(res.Interfaces) != 3 {
				t.Fatalf("ADD result %s: %v", out, err)
			}
			t.Logf("stderr: %s", stderr)
			for _, w := range c.stderr {
				if !strings.Contains(strings.ToLower(stderr), strings.ToLower(w)) {
					t.Fatalf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if c.stderr == nil && stderr != "" {
				t.Fatalf("stderr without a kubeconfig:\n%s", stderr)
			}
			if v, ok := k.getPod(t, "team", "p-"+cid).Metadata.Annotations[cni.NetworkStatusAnnotation]; ok {
				t.Fatalf("pod annotated: %s", v)
			}
		})
	}
}
