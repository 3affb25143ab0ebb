package cni_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/syncbuf"
)

// The tests drive the real podwire binary with libcni, the CNI project's
// runtime library, against a real podwired started as a subprocess, in
// real network namespaces. IPAM is the real host-local plugin.

var (
	binOnce  sync.Once
	binDir   string // podwire and host-local: the tests' CNI_PATH
	podwired string // the podwired binary
	binErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if binDir != "" {
		os.RemoveAll(filepath.Dir(binDir))
	}
	os.Exit(code)
}

func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// need fails under CI and skips elsewhere when a prerequisite is missing.
func need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if inCI() {
		t.Fatal(why)
	}
	t.Skip(why)
}

// binaries builds podwire (CGO_ENABLED=0), host-local and podwired once per
// test binary and returns the CNI_PATH directory.
func binaries(t testing.TB) string {
	t.Helper()
	need(t, os.Geteuid() == 0, "CNI tests need root (network namespaces, podwired)")
	binOnce.Do(func() {
		top, err := os.MkdirTemp("", "pwcnibin")
		if err != nil {
			binErr = err
			return
		}
		binDir = filepath.Join(top, "cni")
		podwired = filepath.Join(top, "podwired")
		builds := []struct {
			out, pkg string
			cgo      bool
		}{
			{filepath.Join(binDir, "podwire"), "github.com/podwire/podwire/cmd/podwire", false},
			{filepath.Join(binDir, "host-local"), "github.com/containernetworking/plugins/plugins/ipam/host-local", false},
			{podwired, "github.com/podwire/podwire/cmd/podwired", true},
		}
		var wg sync.WaitGroup
		errs := make([]error, len(builds))
		for i, b := range builds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
				cmd.Env = os.Environ()
				if !b.cgo {
					cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				}
			}()
		}
		wg.Wait()
		binErr = errors.Join(errs...)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// spawner starts processes from one OS thread that never exits. A child's
// Pdeathsig fires when the thread that forked it ends, not the process,
// and testutils.NewNS ends threads (it leaves them locked to a goroutine
// that returns), which would kill podwired mid-test.
var spawner = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread()
		for f := range spawner {
			f()
		}
	}()
}

// spawn starts cmd on the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	done := make(chan error)
	spawner <- func() { done <- cmd.Start() }
	return <-done
}

// instance is a podwired process with its own directories.
type instance struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	done   chan struct{}
	client *api.Client
}

// launch runs podwired with a unique EAL file prefix, socket and state
// directories and networks "default" and "other", and waits until its API
// answers. The caller stops it (close).
// launch starts podwired on a private directory; extra is more of its
// YAML config.
func launch(extra ...string) (*instance, error) {
	dir, err := os.MkdirTemp("", "pwc")
	if err != nil {
		return nil, err
	}
	in := &instance{dir: dir, socket: filepath.Join(dir, "api.sock"), log: &syncbuf.Buffer{}, done: make(chan struct{})}
	cfg := fmt.Sprintf("eal:\n  filePrefix: pwc%d_%s\nsocketDir: %s/s\napi:\n  socket: %s\nstateDir: %s/state\nnetworks:\n  - name: default\n  - name: other\n%s",
		os.Getpid(), filepath.Base(dir), dir, in.socket, dir, strings.Join(extra, ""))
	cfgPath := filepath.Join(dir, "podwired.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	in.client = api.New(in.socket)
	in.cmd = exec.Command(podwired, "-config", cfgPath)
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := spawn(in.cmd); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { _ = in.cmd.Wait(); close(in.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := in.client.Status(ctx)
		cancel()
		if err == nil {
			return in, nil
		}
		select {
		case <-in.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("podwired exited at start: %v\n%s", in.cmd.ProcessState, in.log)
		default:
		}
		if time.Now().After(deadline) {
			in.close()
			return nil, fmt.Errorf("podwired API not up in 20s: %v\n%s", err, in.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close stops podwired with SIGTERM and removes its directories.
func (in *instance) close() error {
	err := in.signal(syscall.SIGTERM)
	os.RemoveAll(in.dir)
	return err
}

// startPodwired launches a podwired of the test's own; cleanup stops it by
// PID.
func startPodwired(t testing.TB, extra ...string) *instance {
	t.Helper()
	binaries(t)
	in, err := launch(extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("podwired log:\n%s", in.log)
		}
	})
	return in
}

var (
	sharedOnce sync.Once
	shared     *instance
	sharedErr  error
)

// sharedPodwired is one podwired for the tests that do not stop it (a
// start costs about a second of EAL setup); TestMain stops it. It starts
// each test with no attachments.
func sharedPodwired(t testing.TB) *instance {
	t.Helper()
	binaries(t)
	sharedOnce.Do(func() { shared, sharedErr = launch() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	for _, a := range shared.attachments(t) {
		if err := shared.client.DeleteAttachment(ctxT(t), a.ContainerID, a.IfName); err != nil {
			t.Fatalf("clear attachment %s: %v", a.Key(), err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podwired log:\n%s", shared.log)
		}
	})
	return shared
}

// signal sends sig to podwired by PID and waits for it to exit.
func (in *instance) signal(sig syscall.Signal) error {
	select {
	case <-in.done:
		return nil
	default:
	}
	_ = in.cmd.Process.Signal(sig)
	select {
	case <-in.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.done
		return fmt.Errorf("podwired pid %d did not exit on %v; killed it", in.cmd.Process.Pid, sig)
	}
}

// attachments lists podwired's attachments.
func (in *instance) attachments(t testing.TB) []api.Attachment {
	t.Helper()
	l, err := in.client.Attachments(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newNS makes a network namespace under /var/run/netns; cleanup removes it
// unless the test did (gone).
func newNS(t testing.TB) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNS(n) })
	return n
}

func removeNS(n ns.NetNS) {
	_ = n.Close()
	_ = testutils.UnmountNS(n)
}

// cniRuntime is libcni with a private cache directory and the tests' CNI_PATH.
type cniRuntime struct {
	*libcni.CNIConfig
	cache string
}

func newRuntime(t testing.TB) *cniRuntime {
	t.Helper()
	cache := t.TempDir()
	return &cniRuntime{CNIConfig: libcni.NewCNIConfigWithCacheDir([]string{binaries(t)}, cache, nil), cache: cache}
}

// conflist wraps one podwire plugin configuration into a network list.
func conflist(t testing.TB, ver, name string, plugin map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	p := map[string]any{"type": "podwire"}
	for k, v := range plugin {
		p[k] = v
	}
	b, err := json.Marshal(map[string]any{"cniVersion": ver, "name": name, "plugins": []any{p}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := libcni.ConfListFromBytes(b)
	if err != nil {
		t.Fatalf("conflist %s: %v", b, err)
	}
	return l
}

// cniErr returns err as a *types.Error, failing the test if it is not one.
func cniErr(t testing.TB, err error) *types.Error {
	t.Helper()
	var te *types.Error
	if !errors.As(err, &te) {
		t.Fatalf("want a CNI error, got %T %v", err, err)
	}
	return te
}

// runPlugin runs the podwire binary directly, as a runtime would, with env
// (CNI_* variables; CNI_PATH defaults to the test's) and stdin. It returns
// stdout, stderr and the exit code.
func runPlugin(t testing.TB, env map[string]string, stdin string) ([]byte, string, int) {
	t.Helper()
	dir := binaries(t)
	cmd := exec.Command(filepath.Join(dir, "podwire"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if _, ok := env["CNI_PATH"]; !ok {
		cmd.Env = append(cmd.Env, "CNI_PATH="+dir)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.Bytes(), stderr.String(), code
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
