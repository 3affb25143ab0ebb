package dpdk_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

// TestVhostVirtioPair hot-plugs a net_vhost server and a net_virtio_user
// client on its socket in this process, passes frames both ways, and
// removes both again while net_null0 keeps running.
func TestVhostVirtioPair(t *testing.T) {
	checkPool(t)
	null0, _ := dpdk.PortByName("net_null0")
	null1, _ := dpdk.PortByName("net_null1")
	startPort(t, null0)
	startPort(t, null1)
	// A worker lcore forwards net_null0 -> net_null1 for the whole test:
	// hot-plug and removal must not stop it.
	fwd := startNullForwarder(t, null0, null1)
	sock := filepath.Join(shortDir(t), "vhu.sock")

	vhost := probe(t, uniqueName("net_vhost")+",iface="+sock+",queues=1")
	startPort(t, vhost) // the server socket appears on start
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("vhost socket: %v", err)
	}
	virtio := probe(t, uniqueName("net_virtio_user")+",path="+sock+",queues=1,queue_size=1024")
	startPort(t, virtio)
	waitLinkUp(t, 5*time.Second, vhost, virtio)

	for round := range 4 {
		seq0 := uint32(round * 1000)
		dpdktest.SendAll(t, virtio, dpdktest.MakeFrames(t, testPool, 64, 64+round*400, seq0))
		dpdktest.CheckSeqs(t, receiveFrames(t, vhost, 64, 2*time.Second), seq0, 64)
		dpdktest.SendAll(t, vhost, dpdktest.MakeFrames(t, testPool, 64, 64+round*400, seq0+500))
		dpdktest.CheckSeqs(t, receiveFrames(t, virtio, 64, 2*time.Second), seq0+500, 64)
	}
	before := fwd.Load()
	if err := virtio.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := vhost.Remove(); err != nil {
		t.Fatal(err)
	}
	if vhost.Valid() || virtio.Valid() {
		t.Fatal("ports still valid after Remove")
	}
	// The other ports kept forwarding while these came and went.
	waitGrowth(t, fwd, before)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("vhost socket left behind after remove: %v", err)
	}
}

// startNullForwarder forwards from one port to another on the first worker
// lcore until the test ends, counting forwarded packets.
func startNullForwarder(t testing.TB, from, to dpdk.Port) *atomic.Uint64 {
	t.Helper()
	lc := dpdk.WorkerLcores()[0]
	var stop atomic.Bool
	var count atomic.Uint64
	err := dpdk.Launch(lc, func() error {
		pkts := dpdk.NewMbufArray(32)
		defer pkts.Free()
		for !stop.Load() {
			n := from.RxBurst(0, pkts.Pkts)
			sent := to.TxBurst(0, pkts.Pkts[:n])
			dpdk.FreeBulk(pkts.Pkts[sent:n])
			count.Add(uint64(sent))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop.Store(true)
		if err := dpdk.Wait(lc); err != nil {
			t.Error(err)
		}
	})
	waitGrowth(t, &count, 0)
	return &count
}

// waitGrowth waits until the counter passes from.
func waitGrowth(t testing.TB, c *atomic.Uint64, from uint64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for c.Load() <= from {
		if time.Now().After(deadline) {
			t.Fatalf("forwarder stuck at %d packets", c.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// testpmd runs dpdk-testpmd as a real DPDK peer in its own process, driven
// through its interactive prompt.
type testpmd struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *strings.Builder
	done  chan struct{}
}

func startTestpmd(t testing.TB, vdev string, pmdArgs ...string) *testpmd {
	t.Helper()
	bin, err := exec.LookPath("dpdk-testpmd")
	dpdktest.NeedPrereq(t, err == nil, "dpdk-testpmd (apt-get install dpdk)")
	prefix := fmt.Sprintf("pwtp%d_%d", os.Getpid(), devSeq.Add(1))
	args := []string{"-l", "0,1", "--main-lcore", "1", "--no-pci", "--in-memory", "--single-file-segments",
		"--no-telemetry", "--file-prefix", prefix,
		"--log-level=*:notice", "--vdev=" + vdev, "--", "-i", "--total-num-mbufs=4096"}
	args = append(args, pmdArgs...)
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tp := &testpmd{cmd: cmd, stdin: stdin, out: &strings.Builder{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		// testpmd leaves its (empty, --in-memory) runtime directory behind.
		_ = os.Remove(filepath.Join("/var/run/dpdk", prefix))
		pw.Close()
		close(tp.done)
	}()
	go func() {
		for l := range lines {
			tp.out.WriteString(l + "\n")
		}
	}()
	t.Cleanup(func() { tp.stop(t) })
	return tp
}

func (tp *testpmd) send(line string) { fmt.Fprintln(tp.stdin, line) }

// stop quits testpmd and waits for it; it is killed by PID if it hangs.
func (tp *testpmd) stop(t testing.TB) {
	select {
	case <-tp.done:
		return
	default:
	}
	tp.send("stop")
	tp.send("quit")
	tp.stdin.Close()
	select {
	case <-tp.done:
	case <-time.After(10 * time.Second):
		t.Errorf("testpmd pid %d did not quit; killing it", tp.cmd.Process.Pid)
		_ = tp.cmd.Process.Signal(syscall.SIGKILL)
		<-tp.done
	}
}

// TestMemifWithTestpmd runs a net_memif server here and dpdk-testpmd as the
// memif client in another process, with filesystem sockets
// (socket-abstract=no); testpmd's io forwarding sends every frame back.
func TestMemifWithTestpmd(t *testing.T) {
	checkPool(t)
	sock := filepath.Join(shortDir(t), "memif.sock")
	server := probe(t, uniqueName("net_memif")+",role=server,id=0,socket="+sock+",socket-abstract=no")
	startPort(t, server)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("memif socket file: %v", err)
	}
	tp := startTestpmd(t, "net_memif0,role=client,id=0,socket="+sock+",socket-abstract=no", "--forward-mode=io")
	waitLinkUp(t, 15*time.Second, server)
	tp.send("start")
	time.Sleep(200 * time.Millisecond)
	for round := range 3 {
		seq0 := uint32(round * 1000)
		dpdktest.SendAll(t, server, dpdktest.MakeFrames(t, testPool, 64, 64+round*600, seq0))
		dpdktest.CheckSeqs(t, receiveFrames(t, server, 64, 5*time.Second), seq0, 64)
	}
	// Stop testpmd before the server stops polling is fine here: nothing
	// polls the server while the peer leaves (the 22.11 teardown race).
	tp.stop(t)
	if err := server.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("memif socket left behind after remove: %v", err)
	}
}
