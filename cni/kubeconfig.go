package cni

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v2"
)

// The plugin's own Kubernetes API access: a kubeconfig file read with a
// YAML parser and plain net/http, so that the CGO_ENABLED=0 binary stays
// small and imports no Kubernetes module (no client-go).

// kubeconfig is the part of a kubeconfig file (clientcmd's v1.Config)
// podwire reads. YAML and JSON files both parse (JSON is YAML).
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			TLSServerName            string `yaml:"tls-server-name"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			ProxyURL                 string `yaml:"proxy-url"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string         `yaml:"token"`
			TokenFile             string         `yaml:"tokenFile"`
			ClientCertificate     string         `yaml:"client-certificate"`
			ClientCertificateData string         `yaml:"client-certificate-data"`
			ClientKey             string         `yaml:"client-key"`
			ClientKeyData         string         `yaml:"client-key-data"`
			Username              string         `yaml:"username"`
			Exec                  map[string]any `yaml:"exec"`
			AuthProvider          map[string]any `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// kubeClient is an API server and the credentials of one kubeconfig
// context: a bearer token (inline or tokenFile, read per request as
// client-go does) and/or a client certificate.
type kubeClient struct {
	server    *url.URL // scheme and host, and a path prefix if any
	token     string
	tokenFile string
	http      *http.Client
}

// loadKubeconfig reads the kubeconfig file at path and returns a client
// for its current context (or its only context when current-context is
// empty). Relative file names in it are relative to the file's directory,
// as for kubectl. Credential plugins (exec, auth-provider) and basic auth
// are not supported: a token, a token file or a client certificate is.
func loadKubeconfig(path string) (*kubeClient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v", path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("kubeconfig %s: "+format, append([]any{path}, args...)...)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" {
		if len(kc.Contexts) != 1 {
			return nil, bad("no current-context, and %d contexts to choose from", len(kc.Contexts))
		}
		ctxName = kc.Contexts[0].Name
	}
	ci := -1
	for i := range kc.Contexts {
		if kc.Contexts[i].Name == ctxName {
			ci = i
		}
	}
	if ci < 0 {
		return nil, bad("no context %q", ctxName)
	}
	cur := kc.Contexts[ci].Context
	cl, us := -1, -1
	for i := range kc.Clusters {
		if kc.Clusters[i].Name == cur.Cluster {
			cl = i
		}
	}
	for i := range kc.Users {
		if kc.Users[i].Name == cur.User {
			us = i
		}
	}
	if cl < 0 {
		return nil, bad("context %q: no cluster %q", ctxName, cur.Cluster)
	}
	if us < 0 && cur.User != "" {
		return nil, bad("context %q: no user %q", ctxName, cur.User)
	}
	cluster := kc.Clusters[cl].Cluster
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	fileOrData := func(what, file, data string) ([]byte, error) {
		if data != "" {
			d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
			if err != nil {
				return nil, bad("%s-data: not base64: %v", what, err)
			}
			return d, nil
		}
		if file == "" {
			return nil, nil
		}
		d, err := os.ReadFile(rel(file))
		if err != nil {
			return nil, bad("%s: %v", what, err)
		}
		return d, nil
	}

	server, err := url.Parse(strings.TrimSuffix(cluster.Server, "/"))
	switch {
	case cluster.Server == "":
		return nil, bad("cluster %q: no server", cur.Cluster)
	case err != nil:
		return nil, bad("cluster %q: server: %v", cur.Cluster, err)
	case server.Scheme != "https" && server.Scheme != "http", server.Host == "":
		return nil, bad("cluster %q: server %q is not an http(s) URL", cur.Cluster, cluster.Server)
	}
	tc := &tls.Config{ServerName: cluster.TLSServerName, InsecureSkipVerify: cluster.InsecureSkipTLSVerify, MinVersion: tls.VersionTLS12}
	ca, err := fileOrData("certificate-authority", cluster.CertificateAuthority, cluster.CertificateAuthorityData)
	if err != nil {
		return nil, err
	}
	if ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, bad("cluster %q: certificate-authority: no PEM certificate", cur.Cluster)
		}
		tc.RootCAs = pool
	}
	k := &kubeClient{server: server}
	if us >= 0 {
		u := kc.Users[us].User
		switch {
		case u.Exec != nil:
			return nil, bad("user %q: exec credential plugins are not supported; use a token, tokenFile or client certificate", cur.User)
		case u.AuthProvider != nil:
			return nil, bad("user %q: auth-provider is not supported; use a token, tokenFile or client certificate", cur.User)
		case u.Username != "":
			return nil, bad("user %q: basic auth is not supported; use a token, tokenFile or client certificate", cur.User)
		}
		k.token, k.tokenFile = u.Token, rel(u.TokenFile)
		cert, err := fileOrData("client-certificate", u.ClientCertificate, u.ClientCertificateData)
		if err != nil {
			return nil, err
		}
		key, err := fileOrData("client-key", u.ClientKey, u.ClientKeyData)
		if err != nil {
			return nil, err
		}
		switch {
		case cert != nil && key != nil:
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, bad("user %q: client certificate: %v", cur.User, err)
			}
			tc.Certificates = []tls.Certificate{pair}
		case cert != nil || key != nil:
			return nil, bad("user %q: a client certificate needs both client-certificate and client-key", cur.User)
		}
	}
	proxy := http.ProxyFromEnvironment
	if cluster.ProxyURL != "" {
		pu, err := url.Parse(cluster.ProxyURL)
		if err != nil {
			return nil, bad("cluster %q: proxy-url: %v", cur.Cluster, err)
		}
		proxy = http.ProxyURL(pu)
	}
	k.http = &http.Client{Transport: &http.Transport{
		Proxy:               proxy,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}}
	return k, nil
}

// close drops the client's idle connections.
func (k *kubeClient) close() { k.http.CloseIdleConnections() }

// APIError is an API server's error answer: the HTTP status and the
// Status object's message.
type APIError struct {
	Code    int
	Reason  string
	Message string
}

func (e *APIError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("API server: %d %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("API server: %d: %s", e.Code, e.Message)
}

// setPodAnnotations sets annotations of pod namespace/name with a JSON
// merge patch of its status subresource (as Multus, which updates
// pods/status: the plugin needs the patch verb on pods/status only, and
// the pod's spec cannot be touched). A non-empty uid is a precondition:
// the API server refuses the patch if the pod of that name is another one
// (recreated). Answers 429 and 5xx are retried while ctx lasts, up to 3
// attempts.
func (k *kubeClient) setPodAnnotations(ctx context.Context, namespace, name, uid string, annotations map[string]string) error {
	meta := map[string]any{"annotations": annotations}
	if uid != "" {
		meta["uid"] = uid
	}
	body, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	u := *k.server
	u.Path = u.Path + "/api/v1/namespaces/" + namespace + "/pods/" + name + "/status" // checkPodRef'd
	u.RawPath = ""
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return last
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		retry, err := k.do(ctx, http.MethodPatch, u.String(), "application/merge-patch+json", body)
		if err == nil || !retry {
			return err
		}
		last = err
	}
	return last
}

// do sends one request; retry says whether the answer (429, 5xx) is worth
// another attempt.
func (k *kubeClient) do(ctx context.Context, method, u, contentType string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "podwire-cni")
	tok := k.token
	if k.tokenFile != "" {
		b, err := os.ReadFile(k.tokenFile)
		if err != nil {
			return false, fmt.Errorf("tokenFile: %v", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	ae := &APIError{Code: resp.StatusCode}
	var st struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &st) == nil && (st.Message != "" || st.Reason != "") {
		ae.Reason, ae.Message = st.Reason, st.Message
	} else {
		ae.Message = strings.TrimSpace(string(data))
		if len(ae.Message) > 200 {
			ae.Message = ae.Message[:200] + "..."
		}
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, ae
}

var errNoPod = errors.New("CNI_ARGS has no K8S_POD_NAMESPACE and K8S_POD_NAME")

// dns1123Subdomain is Kubernetes' rule for a pod's name.
var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// checkPodRef checks that the pod's namespace (a DNS-1123 label) and name
// (a DNS-1123 subdomain) from CNI_ARGS are names Kubernetes gives, so
// that they go into the API path as they are.
func checkPodRef(pod PodArgs) error {
	switch {
	case pod.Namespace == "" || pod.Name == "":
		return errNoPod
	case len(pod.Namespace) > maxLabel || !dns1123Label.MatchString(pod.Namespace):
		return fmt.Errorf("K8S_POD_NAMESPACE %q is not a namespace name", pod.Namespace)
	case len(pod.Name) > 253 || !dns1123Subdomain.MatchString(pod.Name):
		return fmt.Errorf("K8S_POD_NAME %q is not a pod name", pod.Name)
	}
	return nil
}
