package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/podwiredtest"
)

// toolPkgs are the binaries the tests take from the tools module (tools/),
// by file name.
var toolPkgs = map[string]string{
	"cnitool":    "github.com/containernetworking/cni/cnitool",
	"multus":     "gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus",
	"host-local": "github.com/containernetworking/plugins/plugins/ipam/host-local",
	"static":     "github.com/containernetworking/plugins/plugins/ipam/static",
	"tuning":     "github.com/containernetworking/plugins/plugins/meta/tuning",
	"bridge":     "github.com/containernetworking/plugins/plugins/main/bridge",
}

var (
	root     string // the repository
	binDir   string // podwire, built from this tree
	toolDir  string // .tools/cni: cnitool, multus, IPAM and meta plugins
	podwired *instance
	setupErr error
	setup    sync.Once
	tmpTop   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if podwired != nil {
		if err := podwired.Stop(syscall.SIGTERM); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if tmpTop != "" {
		os.RemoveAll(tmpTop)
	}
	os.Exit(code)
}

// need skips (fails under CI=true) when a prerequisite is missing.
var need = podwiredtest.Need

// rootDir is the repository root (the test runs in deploy/).
func rootDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// env builds podwire and podwired from this tree, makes sure the tools are
// in .tools/cni (building them from tools/ if one is missing) and starts
// one podwired for the package from the systemd unit's command line.
func env(t testing.TB) *instance {
	t.Helper()
	need(t, os.Geteuid() == 0, "deploy tests need root (network namespaces, podwired)")
	for _, c := range []string{"ip", "go"} {
		_, err := exec.LookPath(c)
		need(t, err == nil, c+" not in PATH")
	}
	setup.Do(func() { setupErr = doSetup(rootDir(t)) })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	select {
	case <-podwired.Done():
		t.Fatalf("podwired exited: %v\n%s", podwired.Cmd.ProcessState, podwired.Log)
	default:
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podwired log:\n%s", podwired.Log)
		}
	})
	return podwired
}

func doSetup(r string) error {
	root = r
	var err error
	if tmpTop, err = os.MkdirTemp("", "pwdeploy"); err != nil {
		return err
	}
	binDir = filepath.Join(tmpTop, "bin")
	toolDir = filepath.Join(root, ".tools", "cni")
	podwiredBin := filepath.Join(tmpTop, "podwired")
	builds := []*exec.Cmd{
		exec.Command("go", "build", "-o", filepath.Join(binDir, "podwire"), "./cmd/podwire"),
		exec.Command("go", "build", "-o", podwiredBin, "./cmd/podwired"),
	}
	builds[0].Env = append(os.Environ(), "CGO_ENABLED=0")
	var missing []string
	for name, pkg := range toolPkgs {
		if _, err := os.Stat(filepath.Join(toolDir, name)); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		// `make tools` does the same; this is for `go test ./deploy/` alone.
		c := exec.Command("go", append([]string{"build", "-C", "tools", "-o", toolDir + "/"}, missing...)...)
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		builds = append(builds, c)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, c := range builds {
		c.Dir = root
		if c.Env == nil {
			c.Env = os.Environ()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := c.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %v\n%s", strings.Join(c.Args, " "), err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	podwired, err = launch(podwiredBin)
	return err
}

// instance is the podwired the tests share.
type instance struct {
	*podwiredtest.Process
	socket    string // control API
	socketDir string // attachments' directories
}

// execStart reads ExecStart from the systemd unit.
func execStart(unit string) ([]string, error) {
	b, err := os.ReadFile(unit)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			return strings.Fields(v), nil
		}
	}
	return nil, fmt.Errorf("%s: no ExecStart", unit)
}

// launch runs podwired as deploy/podwired/podwired.service does, with
// deploy/podwired/podwired.yaml, plus flags that move its API socket,
// socket directories, state and EAL file prefix to private places.
func launch(bin string) (*instance, error) {
	args, err := execStart("podwired/podwired.service")
	if err != nil {
		return nil, err
	}
	if args[0] != "/usr/local/bin/podwired" {
		return nil, fmt.Errorf("podwired.service runs %s, want /usr/local/bin/podwired", args[0])
	}
	args = args[1:]
	for i, a := range args {
		if a == "/etc/podwire/podwired.yaml" {
			args[i] = filepath.Join(root, "deploy/podwired/podwired.yaml")
		}
	}
	dir := filepath.Join(tmpTop, "pw")
	in := &instance{socket: filepath.Join(dir, "api.sock"), socketDir: filepath.Join(dir, "s")}
	args = append(args, "-file-prefix", fmt.Sprintf("pwdep%d", os.Getpid()), "-socket-dir", in.socketDir,
		"-api-socket", in.socket, "-state-dir", filepath.Join(dir, "state"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	in.Process, err = podwiredtest.Launch(bin, in.socket, args...)
	return in, err
}

// attachments lists podwired's attachments of container cid.
func (in *instance) attachments(t testing.TB, cid string) map[string]api.Attachment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := in.Client.Attachments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]api.Attachment{}
	for _, a := range l {
		if a.ContainerID == cid {
			m[a.IfName] = a
		}
	}
	return m
}

// netns is a network namespace the test made with `ip netns add`.
type netns struct {
	name, path string
	cid        string // cnitool's container ID for it
	uid        string // the pod's UID (K8S_POD_UID)
}

// podArgs is the CNI_ARGS a Kubernetes runtime passes for the pod.
func (n *netns) podArgs() string {
	return fmt.Sprintf("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
		n.name, n.cid, n.uid)
}

var seq atomic.Int64

// unique is a name no other test or process uses: pid and a counter.
func unique(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// newNetns makes a namespace; cleanup removes it and podwired's
// attachments of its container ID (a test that failed midway).
func newNetns(t testing.TB) *netns {
	t.Helper()
	name := unique("pwdep")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", name, err, out)
	}
	n := &netns{name: name, path: "/var/run/netns/" + name, uid: "uid-" + name}
	n.cid = cnitoolID(n.path)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if l, err := podwired.Client.Attachments(ctx); err == nil {
			for _, a := range l {
				if a.ContainerID == n.cid {
					_ = podwired.Client.DeleteAttachment(ctx, a.ContainerID, a.IfName)
				}
			}
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", name, err, out)
		}
	})
	return n
}

// ip runs `ip -n ns args...` and returns its output.
func (n *netns) ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %v: %v %s", n.name, args, err, out)
	}
	return string(out)
}

// hasLink reports whether the namespace has interface ifName.
func (n *netns) hasLink(ifName string) bool {
	return exec.Command("ip", "-n", n.name, "link", "show", "dev", ifName).Run() == nil
}

// netDir is a NETCONFPATH of the test's own.
type netDir struct {
	dir       string
	ipamDir   string // host-local's dataDir
	multusDir string // Multus' cniDir
}

func newNetDir(t testing.TB) *netDir {
	t.Helper()
	d := t.TempDir()
	nd := &netDir{dir: filepath.Join(d, "net.d"), ipamDir: filepath.Join(d, "ipam"), multusDir: filepath.Join(d, "multus")}
	if err := os.Mkdir(nd.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return nd
}

// readExample reads a file under deploy/ (the tests' working directory).
func readExample(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nadConfig reads a NetworkAttachmentDefinition and returns its name and
// spec.config.
func nadConfig(t testing.TB, rel string) (string, []byte) {
	t.Helper()
	var nad struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Config string `json:"config"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(readExample(t, rel), &nad); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if nad.APIVersion != "k8s.cni.cncf.io/v1" || nad.Kind != "NetworkAttachmentDefinition" || nad.Metadata.Name == "" {
		t.Fatalf("%s: not a NetworkAttachmentDefinition: %s %s %q", rel, nad.APIVersion, nad.Kind, nad.Metadata.Name)
	}
	if !json.Valid([]byte(nad.Spec.Config)) {
		t.Fatalf("%s: spec.config is not JSON:\n%s", rel, nad.Spec.Config)
	}
	return nad.Metadata.Name, []byte(nad.Spec.Config)
}

// obj decodes a JSON object.
func obj(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	return m
}

// localize points an example config at the test's podwired and private
// directories, in place: every podwire plugin gets podwiredSocket, every
// host-local IPAM its dataDir, a Multus config its cniDir and binDir (and
// no kubeconfig or log file); delegates and plugins are walked too.
func (nd *netDir) localize(m map[string]any) {
	switch m["type"] {
	case "podwire":
		m["podwiredSocket"] = podwired.socket
	case "multus":
		m["cniDir"] = nd.multusDir
		m["binDir"] = binDir
		delete(m, "kubeconfig")
		delete(m, "logFile")
		m["logToStderr"] = true
	}
	if ipam, ok := m["ipam"].(map[string]any); ok && ipam["type"] == "host-local" {
		ipam["dataDir"] = nd.ipamDir
	}
	for _, key := range []string{"plugins", "delegates"} {
		l, _ := m[key].([]any)
		for _, p := range l {
			if pm, ok := p.(map[string]any); ok {
				nd.localize(pm)
			}
		}
	}
}

// install writes config m into the NETCONFPATH under a unique network
// name (cnitool caches under /var/lib/cni by network name) and returns the
// name. A config with "plugins" is a .conflist, else a .conf.
func (nd *netDir) install(t testing.TB, m map[string]any) string {
	t.Helper()
	nd.localize(m)
	name := unique(fmt.Sprint(m["name"]) + "-")
	m["name"] = name
	ext := ".conf"
	if _, ok := m["plugins"]; ok {
		ext = ".conflist"
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nd.dir, name+ext), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// libcni's cache of a test that failed before its DEL.
		l, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", name+"-*"))
		for _, f := range l {
			os.Remove(f)
		}
	})
	return name
}

// cnitoolID is cnitool's container ID for a namespace path:
// "cnitool-" and the first 10 bytes of its SHA-512, in hex.
func cnitoolID(path string) string {
	s := sha512.Sum512([]byte(path))
	return fmt.Sprintf("cnitool-%x", s[:10])
}

// call is one cnitool run.
type call struct {
	stdout, stderr string
	err            error
}

// cnitool runs `cnitool cmd net netns` with NETCONFPATH, CNI_PATH (podwire
// and the tools), CNI_IFNAME and extra environment ("K=V").
func (nd *netDir) cnitool(t testing.TB, cmd, net string, n *netns, ifName string, extra ...string) call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(toolDir, "cnitool"), cmd, net, n.path)
	c.Env = append([]string{"PATH=" + os.Getenv("PATH"), "NETCONFPATH=" + nd.dir,
		"CNI_PATH=" + binDir + ":" + toolDir, "CNI_IFNAME=" + ifName}, extra...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	return call{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// ok fails the test unless the call exited 0.
func (c call) ok(t testing.TB, what string) call {
	t.Helper()
	if c.err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", what, c.err, c.stdout, c.stderr)
	}
	return c
}

// leases lists host-local's allocations (files named by IP) under dir.
func leases(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Count(d.Name(), ".") == 3 {
			out = append(out, d.Name())
		}
		return nil
	})
	return out
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// execOut runs a command and returns its combined output.
func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
