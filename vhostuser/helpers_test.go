package vhostuser_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
	"github.com/podwire/podwire/internal/syncbuf"
	"github.com/podwire/podwire/vhostuser"
)

var seq atomic.Int32

// shortDir makes a temporary directory with a short path, removed at
// cleanup. It is 0700 and root's, so not writable by others.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pwvu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// newManager makes a Manager on a fresh base directory.
func newManager(t testing.TB, perms vhostuser.Perms) *vhostuser.Manager {
	t.Helper()
	d := shortDir(t)
	// Pods that are not root must be able to reach the attachment
	// directories: the base is 0755 like /run/podwire/sockets.
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := vhostuser.New(vhostuser.Config{BaseDir: filepath.Join(d, "s"), Perms: perms})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// create makes a port and registers its Close.
func create(t testing.TB, m *vhostuser.Manager, s vhostuser.Spec) *vhostuser.Port {
	t.Helper()
	p, err := m.Create(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// closePort closes p and checks that its socket, device-info file and
// directory are gone.
func closePort(t testing.TB, p *vhostuser.Port) {
	t.Helper()
	eth := p.Ethdev()
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if eth.Valid() {
		t.Errorf("ethdev port %d still valid after Close", eth)
	}
	for _, f := range []string{p.SocketPath(), p.DeviceInfoPath(), p.Dir()} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind after Close (%v)", f, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func entries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statOf returns mode bits, uid and gid of path (not following symlinks).
func statOf(t testing.TB, path string) (os.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), st.Uid, st.Gid
}

// checkPool registers a check that the test leaves no mbuf in use.
func checkPool(t testing.TB) {
	t.Helper()
	before := testPool.InUse()
	t.Cleanup(func() {
		if n := testPool.InUse(); n != before {
			t.Errorf("mempool in use: %d after the test, %d before", n, before)
		}
	})
}

// startPort configures p with one queue pair on testPool and starts it,
// as the forwarder would.
func startPort(t testing.TB, p dpdk.Port) {
	t.Helper()
	if err := p.Configure(1, 1, dpdk.PortConf{}); err != nil {
		t.Fatal(err)
	}
	if err := p.RxQueueSetup(0, 512, dpdk.SocketAny, testPool); err != nil {
		t.Fatal(err)
	}
	if err := p.TxQueueSetup(0, 512, dpdk.SocketAny); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
}

// waitLinkUp waits until the port reports link up.
func waitLinkUp(t testing.TB, p dpdk.Port, timeout time.Duration, pd *pod) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l, err := p.Link()
		if err != nil {
			t.Fatal(err)
		}
		if l.Up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d: link still down after %v; pod output:\n%s", p, timeout, pd.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectAs connects a socket of type typ (memif: SOCK_SEQPACKET,
// vhost-user: SOCK_STREAM) to the unix socket at path with the given uid and
// gid (and no supplementary groups), from a thread of its own: the
// credentials change only that thread, which exits afterwards.
func connectAs(path string, typ, uid, gid int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		// Raw syscalls: Go's wrappers would change every thread of the process.
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
			errc <- fmt.Errorf("setgroups: %w", e)
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
			errc <- fmt.Errorf("setresgid: %w", e)
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
			errc <- fmt.Errorf("setresuid: %w", e)
			return
		}
		s, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Connect(s, &unix.SockaddrUnix{Name: path})
		unix.Close(s)
		errc <- err
	}()
	return <-errc
}

// sendFrames transmits n test frames of size bytes numbered from seq0 on
// queue 0 of p.
func sendFrames(t testing.TB, p dpdk.Port, n, size int, seq0 uint32) {
	t.Helper()
	dpdktest.SendAll(t, p, dpdktest.MakeFrames(t, testPool, n, size, seq0))
}

// receiveFrames polls queue 0 of p until n test frames arrived (in order,
// intact, numbered from seq0) or timeout, freeing everything it receives.
func receiveFrames(t testing.TB, p dpdk.Port, n int, seq0 uint32, timeout time.Duration, pd *pod) {
	t.Helper()
	seqs := dpdktest.Collect(p, n, timeout)
	if len(seqs) != n {
		st, _ := p.Stats()
		var out string
		if pd != nil {
			pd.send("show port stats all")
			pd.send("show fwd stats all")
			time.Sleep(300 * time.Millisecond)
			out = pd.out.String()
		}
		t.Fatalf("port %d: received %d of %d test frames in %v; port stats %+v; pod output:\n%s",
			p, len(seqs), n, timeout, st, out)
	}
	dpdktest.CheckSeqs(t, seqs, seq0, n)
}

// addNetns creates a network namespace for a pod, deleted at cleanup.
func addNetns(t testing.TB) string {
	t.Helper()
	_, err := exec.LookPath("ip")
	dpdktest.NeedPrereq(t, err == nil && os.Geteuid() == 0, "root and ip (iproute2)")
	name := fmt.Sprintf("pwvu%d_%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

// pod is a dpdk-testpmd "pod" in its own network namespace, in io mode
// (every frame goes back out of the port it came in on), driven through
// its interactive prompt. Cleanup stops it by its PID.
type pod struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *syncbuf.Buffer
	done  chan struct{}
}

// podUser is who the pod's testpmd runs as; nil for root.
type podUser struct{ uid, gid int }

// startPod starts testpmd with one vdev in a new netns, pinned like a pod
// next to podwired: forwarding lcore on core 0, CLI on core 1.
func startPod(t testing.TB, vdev string, user *podUser) *pod {
	t.Helper()
	_, err := exec.LookPath("dpdk-testpmd")
	dpdktest.NeedPrereq(t, err == nil, "dpdk-testpmd (apt-get install dpdk)")
	netns := addNetns(t)
	prefix := fmt.Sprintf("pwvupod%d_%d", os.Getpid(), seq.Add(1))
	args := []string{"netns", "exec", netns}
	runDir := "/var/run/dpdk"
	env := os.Environ()
	if user != nil {
		_, err := exec.LookPath("setpriv")
		dpdktest.NeedPrereq(t, err == nil, "setpriv (util-linux)")
		// A non-root EAL keeps its runtime files in $XDG_RUNTIME_DIR.
		runDir = shortDir(t)
		if err := os.Chown(runDir, user.uid, user.gid); err != nil {
			t.Fatal(err)
		}
		env = append(env, "XDG_RUNTIME_DIR="+runDir)
		args = append(args, "setpriv", "--reuid="+strconv.Itoa(user.uid), "--regid="+strconv.Itoa(user.gid), "--clear-groups")
	}
	// testpmd's stdout is block-buffered on a pipe; stdbuf makes it line
	// by line, so that the test can wait for what testpmd says.
	if _, err := exec.LookPath("stdbuf"); err == nil {
		args = append(args, "stdbuf", "-oL")
	}
	args = append(args, "dpdk-testpmd", "-l", "0,1", "--main-lcore", "1", "--no-pci", "--in-memory",
		"--single-file-segments", "--no-telemetry", "--file-prefix", prefix, "--log-level=*:notice",
		"--vdev="+vdev)
	// --no-flush-rx: "start" would otherwise drain the rx queue after
	// printing its banner and eat frames the test sends on seeing it.
	args = append(args, "--", "-i", "--forward-mode=io", "--no-flush-rx", "--total-num-mbufs=2048")
	cmd := exec.Command("ip", args...) // ip, setpriv and stdbuf exec: the pid is testpmd's
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pd := &pod{cmd: cmd, stdin: stdin, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pd.out, pd.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		_ = os.Remove(filepath.Join(runDir, prefix)) // empty with --in-memory
		close(pd.done)
	}()
	t.Cleanup(func() { pd.stop(t) })
	return pd
}

func (pd *pod) send(line string) { _, _ = io.WriteString(pd.stdin, line+"\n") }

// waitFor waits until the pod's output contains s after offset from.
func (pd *pod) waitFor(t testing.TB, s string, from int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := pd.out.String()
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		select {
		case <-pd.done:
			t.Fatalf("pod exited before printing %q; output:\n%s", s, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod did not print %q in %v; output:\n%s", s, timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	reRx = regexp.MustCompile(`RX-packets:\s*(\d+)`)
	reTx = regexp.MustCompile(`TX-packets:\s*(\d+)`)
)

// stopForwarding stops the pod's forwarding and returns the packets its
// port received and sent, from testpmd's forward statistics.
func (pd *pod) stopForwarding(t testing.TB) (rx, tx uint64) {
	t.Helper()
	from := len(pd.out.String())
	pd.send("stop")
	end := pd.waitFor(t, "Done.", from, 10*time.Second)
	block := pd.out.String()[from:end]
	mrx, mtx := reRx.FindStringSubmatch(block), reTx.FindStringSubmatch(block)
	if mrx == nil || mtx == nil {
		t.Fatalf("no forward statistics in:\n%s", block)
	}
	rx, _ = strconv.ParseUint(mrx[1], 10, 64)
	tx, _ = strconv.ParseUint(mtx[1], 10, 64)
	return rx, tx
}

// kill kills testpmd by its PID, as a pod deletion would, and reaps it.
func (pd *pod) kill() {
	_ = pd.cmd.Process.Signal(syscall.SIGKILL)
	<-pd.done
}

// stop quits testpmd and waits for it; it is killed by PID if it hangs.
func (pd *pod) stop(t testing.TB) {
	select {
	case <-pd.done:
		return
	default:
	}
	pd.send("stop")
	pd.send("quit")
	pd.stdin.Close()
	select {
	case <-pd.done:
	case <-time.After(10 * time.Second):
		t.Errorf("testpmd pid %d did not quit; killing it", pd.cmd.Process.Pid)
		_ = pd.cmd.Process.Signal(syscall.SIGKILL)
		<-pd.done
	}
}
