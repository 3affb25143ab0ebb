package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/testpmd"
)

var podwiredBin string

func inCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pwdbin")
	if err != nil {
		panic(err)
	}
	podwiredBin = filepath.Join(dir, "podwired")
	out, err := exec.Command("go", "build", "-o", podwiredBin, "github.com/podwire/podwire/cmd/podwired").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: build podwired: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if inCI() {
		t.Fatal("podwired tests need root (hugepages, vdevs, netns)")
	}
	t.Skip("podwired tests need root")
}

// instance is a podwired process with its own directories.
type instance struct {
	t       testing.TB
	dir     string
	cfgPath string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	done    chan struct{}
	client  *api.Client
}

func newInstance(t testing.TB, extraYAML string) *instance {
	t.Helper()
	needRoot(t)
	dir, err := os.MkdirTemp("", "pwd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	in := &instance{t: t, dir: dir, cfgPath: filepath.Join(dir, "podwired.yaml")}
	cfg := fmt.Sprintf(`eal:
  filePrefix: pwd%d_%s
socketDir: %s/s
api:
  socket: %s/api.sock
stateDir: %s/state
%s`, os.Getpid(), filepath.Base(dir), dir, dir, dir, extraYAML)
	if err := os.WriteFile(in.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	in.client = api.New(filepath.Join(dir, "api.sock"))
	return in
}

// start runs podwired and waits until its API answers; it returns how long
// that took.
func (in *instance) start() time.Duration {
	in.t.Helper()
	t0 := time.Now()
	in.log = &bytes.Buffer{}
	in.cmd = exec.Command(podwiredBin, "-config", in.cfgPath)
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.done = make(chan struct{})
	go func() { _ = in.cmd.Wait(); close(in.done) }()
	in.t.Cleanup(func() { in.stop(syscall.SIGKILL) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := in.client.Status(ctx)
		cancel()
		if err == nil {
			return time.Since(t0)
		}
		select {
		case <-in.done:
			in.t.Fatalf("podwired exited at start: %v\n%s", in.cmd.ProcessState, in.log)
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("podwired API not up in 15s: %v\n%s", err, in.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop signals podwired and waits for it by PID.
func (in *instance) stop(sig syscall.Signal) {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	select {
	case <-in.done:
		return
	default:
	}
	_ = in.cmd.Process.Signal(sig)
	select {
	case <-in.done:
	case <-time.After(15 * time.Second):
		in.t.Errorf("podwired pid %d did not exit on %v; killing it\n%s", in.cmd.Process.Pid, sig, in.log)
		_ = in.cmd.Process.Kill()
		<-in.done
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawPut sends a raw body, bypassing the client's own validation.
func (in *instance) raw(t testing.TB, method, path, body string) (int, api.ErrorBody) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(in.dir, "api.sock"))
	}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(method, "http://podwired"+path, strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	_ = jsonDecode(resp.Body, &eb)
	return resp.StatusCode, eb
}

func TestBadConfig(t *testing.T) {
	needRoot(t)
	cases := map[string]string{
		"unknown field": "bogus: 1\n",
		"one lcore":     "eal:\n  lcores: [0]\n",
		"bad burst":     "workers:\n  burst: 1000\n",
		"relative dir":  "socketDir: sockets\n",
		"bad duration":  "mac:\n  ageing: forever\n",
		"dup network":   "networks:\n  - name: a\n  - name: a\n",
		"bad network":   "networks:\n  - name: ../x\n",
		"port no net":   "ports:\n  - containerID: c\n    ifName: net1\n    network: nope\n    kind: memif\n",
		"bad uplink":    "uplink:\n  name: up\n",
		"bad yaml":      "eal: [\n",
		"wrong type":    "workers:\n  burst: many\n",
	}
	for name, yml := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "c.yaml")
			os.WriteFile(p, []byte(yml), 0o644)
			out, err := exec.Command(podwiredBin, "-config", p, "-api-socket", dir+"/a.sock", "-state-dir", dir+"/st").CombinedOutput()
			if err == nil {
				t.Fatalf("podwired accepted a bad config:\n%s", out)
			}
			if !strings.HasPrefix(string(out), "podwired: ") || strings.Contains(string(out), "EAL:") {
				t.Fatalf("want a config error before anything starts, got:\n%s", out)
			}
			if _, err := os.Stat(dir + "/a.sock"); err == nil {
				t.Fatal("API socket created despite the bad config")
			}
		})
	}
}

func TestAPIValidationAndIdempotency(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	stateFile := filepath.Join(in.dir, "state", "state.json")
	before, _ := os.ReadFile(stateFile)

	bad := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"malformed json", "PUT", "/v1/attachments/c1/net1", `{"network":`, 400, ""},
		{"unknown field", "PUT", "/v1/attachments/c1/net1", `{"network":"default","kind":"memif","color":"red"}`, 400, "color"},
		{"wrong type", "PUT", "/v1/attachments/c1/net1", `{"network":"default","kind":"memif","queues":"two"}`, 400, "queues"},
		{"bad kind", "PUT", "/v1/attachments/c1/net1", `{"network":"default","kind":"sriov"}`, 400, "kind"},
		{"unknown network", "PUT", "/v1/attachments/c1/net1", `{"network":"nope","kind":"memif"}`, 422, "network"},
		{"bad mac", "PUT", "/v1/attachments/c1/net1", `{"network":"default","kind":"memif","mac":"ff:ff:ff:ff:ff:ff"}`, 400, "mac"},
		{"too many queues", "PUT", "/v1/attachments/c1/net1", `{"network":"default","kind":"memif","queues":1000}`, 400, "queues"},
		{"long ifname", "PUT", "/v1/attachments/c1/averyveryverylongname", `{"network":"default","kind":"memif"}`, 400, "ifName"},
		{"traversal in id", "PUT", "/v1/attachments/..%2fetc/net1", `{"network":"default","kind":"memif"}`, 400, ""},
		{"body mismatch", "PUT", "/v1/attachments/c1/net1", `{"containerID":"c2","ifName":"net1","network":"default","kind":"memif"}`, 400, "containerID"},
		{"bad vlan", "PUT", "/v1/networks/n1", `{"vlan":5000}`, 400, "vlan"},
		{"bad network name", "PUT", "/v1/networks/a%20b", `{}`, 400, ""},
		{"empty body", "PUT", "/v1/networks/n1", ``, 400, ""},
		{"oversized body", "PUT", "/v1/networks/n1", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
		{"unknown path", "GET", "/v1/nothing", ``, 404, ""},
		{"delete missing", "DELETE", "/v1/attachments/c9/net1", ``, 404, ""},
	}
	for _, c := range bad {
		status, body := in.raw(t, c.method, c.path, c.body)
		if status != c.status || (c.field != "" && body.Field != c.field) || body.Error == "" {
			t.Errorf("%s: status %d field %q (%s), want %d field %q", c.name, status, body.Field, body.Error, c.status, c.field)
		}
	}
	if l, err := in.client.Attachments(ctx); err != nil || len(l) != 0 {
		t.Fatalf("bad input changed attachments: %v %v", l, err)
	}
	if after, _ := os.ReadFile(stateFile); !bytes.Equal(before, after) {
		t.Fatal("bad input changed the state file")
	}

	a := api.Attachment{ContainerID: "c1", IfName: "net1", Network: "default", Kind: api.KindMemif}
	first, err := in.client.PutAttachment(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := in.client.PutAttachment(ctx, a)
	if err != nil || again.SocketPath != first.SocketPath || again.PortName != first.PortName {
		t.Fatalf("repeated PUT: %+v %v", again, err)
	}
	a2 := a
	a2.Kind = api.KindVhostUser
	if _, err := in.client.PutAttachment(ctx, a2); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("PUT with another kind: %v, want conflict", err)
	}
	if _, err := os.Stat(first.SocketPath); err != nil {
		t.Fatalf("memif socket: %v", err)
	}
	if err := in.client.DeleteAttachment(ctx, "c1", "net1"); err != nil {
		t.Fatal(err)
	}
	if err := in.client.DeleteAttachment(ctx, "c1", "net1"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("second DELETE: %v, want not found", err)
	}
	if _, err := os.Stat(filepath.Dir(first.SocketPath)); !os.IsNotExist(err) {
		t.Fatalf("socket directory left after DELETE: %v", err)
	}
	st, err := os.Stat(filepath.Join(in.dir, "api.sock"))
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("api socket mode %v %v, want 0660", st.Mode(), err)
	}
}

// TestRestartKeepsPorts: after SIGTERM and after SIGKILL, every attachment
// is back at the same socket path from the persisted state.
func TestRestartKeepsPorts(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	want := map[string]string{}
	for _, a := range []api.Attachment{
		{ContainerID: "p1", IfName: "net1", Network: "default", Kind: api.KindMemif},
		{ContainerID: "p2", IfName: "net1", Network: "default", Kind: api.KindVhostUser, VhostMode: api.VhostServer},
		{ContainerID: "p3", IfName: "net1", Network: "default", Kind: api.KindVhostUser, VhostMode: api.VhostClient},
	} {
		got, err := in.client.PutAttachment(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		want[a.Key()] = got.SocketPath
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		in.stop(sig)
		took := in.start()
		l, err := in.client.Attachments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != len(want) {
			t.Fatalf("after %v: %d attachments, want %d", sig, len(l), len(want))
		}
		for _, a := range l {
			if a.SocketPath != want[a.Key()] || a.PortID == nil {
				t.Fatalf("after %v: %s at %q (port %v), want %q", sig, a.Key(), a.SocketPath, a.PortID, want[a.Key()])
			}
			if a.Kind == api.KindMemif || a.VhostMode == api.VhostServer {
				if _, err := os.Stat(a.SocketPath); err != nil {
					t.Fatalf("after %v: socket of %s: %v", sig, a.Key(), err)
				}
			}
		}
		t.Logf("restart after %v: API up in %v", sig, took.Round(time.Millisecond))
	}
}

// TestTrafficAcrossRestart: two DPDK pods (testpmd, vhost-user, the pod as
// server) pass traffic through podwired; podwired is killed and started
// again, and traffic flows again without touching the pods.
func TestTrafficAcrossRestart(t *testing.T) {
	in := newInstance(t, "workers:\n  idleSleep: 0s\n")
	in.start()
	ctx := ctxT(t)
	pods := startTxRxPods(t, in)
	pods[1].Send("start")
	pods[0].Send("start")
	rx := func() uint64 {
		var n uint64
		l, _ := in.client.Ports(ctx)
		for _, p := range l {
			n += p.Counters.RxPackets
		}
		return n
	}
	waitFlow := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for rx() < 10000 {
			if time.Now().After(deadline) {
				ports, _ := in.client.Ports(ctx)
				t.Fatalf("%s: no traffic through podwired: %+v\n%s\npod0:\n%s\npod1:\n%s", what, ports, in.log, pods[0].Output(), pods[1].Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFlow("before restart")
	in.stop(syscall.SIGKILL)
	if d := os.Getenv("PW_RESTART_DELAY"); d != "" {
		dd, _ := time.ParseDuration(d)
		time.Sleep(dd)
	}
	t0 := time.Now()
	in.start()
	waitFlow("after SIGKILL restart")
	t.Logf("outage: podwired start to 10000 packets forwarded: %v", time.Since(t0).Round(time.Millisecond))
	counters, err := in.client.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range counters.Ports {
		if p.Drops["bad_src_mac"] != 0 || p.Drops["same_port"] != 0 {
			t.Errorf("port %s drops %v", p.Port, p.Drops)
		}
	}
}

// startTxRxPods attaches two DPDK pods (testpmd in their own netns,
// vhost-user with the pod as server) and waits until both are up: pod0
// generates towards pod1 (txonly) and pod1 counts (rxonly), traffic that
// does not depend on packets surviving a restart. The caller sends start.
func startTxRxPods(t *testing.T, in *instance) []*testpmd.Pod {
	t.Helper()
	ctx := ctxT(t)
	macs := []string{"02:00:00:00:0a:01", "02:00:00:00:0a:02"}
	modes := []string{"txonly", "rxonly"}
	var pods []*testpmd.Pod
	for i := range 2 {
		a, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: fmt.Sprintf("pod%d", i), IfName: "net1",
			Network: "default", Kind: api.KindVhostUser, MAC: macs[i]})
		if err != nil {
			t.Fatal(err)
		}
		ns := fmt.Sprintf("pwt%d_%d", os.Getpid(), i)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		pod, err := testpmd.Start(testpmd.Options{
			Netns: ns,
			Vdevs: []string{fmt.Sprintf("net_virtio_user0,path=%s,server=1,queues=1,queue_size=1024,mac=%s", a.SocketPath, macs[i])},
			Args:  []string{"--forward-mode=" + modes[i], "--eth-peer=0," + macs[1-i]},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pod.Stop(5 * time.Second) })
		if err := pod.WaitFor("testpmd>", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, pod)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, _ := in.client.Attachments(ctx)
		up := 0
		for _, a := range l {
			if a.State == api.StateUp {
				up++
			}
		}
		if up == 2 {
			return pods
		}
		if time.Now().After(deadline) {
			t.Fatalf("attachments not up: %+v", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPeerDisappears: a pod killed mid-traffic costs counted drops, not a
// crash; after its attachment is deleted the mempool is back at its idle
// level.
func TestPeerDisappears(t *testing.T) {
	in := newInstance(t, "workers:\n  idleSleep: 0s\n")
	in.start()
	ctx := ctxT(t)
	idle, err := in.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pods := startTxRxPods(t, in)
	pods[1].Send("start")
	pods[0].Send("start")
	portOf := func(name string) api.Port {
		l, _ := in.client.Ports(ctx)
		for _, p := range l {
			if p.Network != "" && strings.Contains(p.Name, name) {
				return p
			}
		}
		return api.Port{}
	}
	atts, _ := in.client.Attachments(ctx)
	var rxName string
	for _, a := range atts {
		if a.ContainerID == "pod1" {
			rxName = a.PortName
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for portOf(rxName).Counters.TxPackets < 10000 {
		if time.Now().After(deadline) {
			t.Fatalf("no traffic to pod1: %+v", portOf(rxName))
		}
		time.Sleep(20 * time.Millisecond)
	}
	pods[1].Kill() // the receiving pod dies mid-traffic
	deadline = time.Now().Add(10 * time.Second)
	for {
		p := portOf(rxName)
		if p.Counters.TotalDrops() > 1000 && !p.Link.Up {
			t.Logf("after the pod died: link %v, drops %v", p.Link, p.Counters.Drops)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drops counted after the pod died: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := in.client.Status(ctx); err != nil {
		t.Fatalf("podwired not answering after the pod died: %v\n%s", err, in.log)
	}
	pods[0].Stop(5 * time.Second)
	for _, id := range []string{"pod0", "pod1"} {
		if err := in.client.DeleteAttachment(ctx, id, "net1"); err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		st, err := in.client.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.MbufsInUse <= idle.MbufsInUse {
			t.Logf("mbufs in use: %d idle, %d after", idle.MbufsInUse, st.MbufsInUse)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mbufs in use %d after all ports are gone, %d at idle", st.MbufsInUse, idle.MbufsInUse)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStartFailureCleansUp: an error after the EAL is up (an uplink vdev
// that does not probe) ends podwired with that error and no panic, and
// leaves no API socket.
func TestStartFailureCleansUp(t *testing.T) {
	in := newInstance(t, "uplink:\n  name: up\n  vdev: net_null7,nosuchkey=1\n")
	out, err := exec.Command(podwiredBin, "-config", in.cfgPath).CombinedOutput()
	if err == nil {
		t.Fatalf("podwired started with a broken uplink:\n%s", out)
	}
	if strings.Contains(string(out), "panic") || !strings.Contains(string(out), "podwired: uplink up") {
		t.Fatalf("want a clean uplink error, got:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(in.dir, "api.sock")); err == nil {
		t.Fatal("API socket left behind")
	}
}
