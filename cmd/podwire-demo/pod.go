package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// addNetns creates the network namespace name. A namespace of that name is
// stale (the name holds this process's pid, so no live demo owns it): it is
// deleted first.
func addNetns(ctx context.Context, name string) error {
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		_ = delNetns(name)
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// delNetns deletes the network namespace name. It takes no context: it runs
// in cleanup, when the demo's context may already be cancelled by a signal.
func delNetns(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// pod is a dpdk-testpmd process in a network namespace, driven through its
// interactive command line on a stdin pipe. Whoever starts it stops it
// (Stop), which also reaps it.
type pod struct {
	netns      string
	filePrefix string
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	out        *syncBuffer
	done       chan struct{} // closed when the process has been reaped
	waitErr    error         // valid after done
	stopOnce   sync.Once
	stopErr    error
}

// podConfig describes the pod's testpmd.
type podConfig struct {
	Netns      string
	Socket     string // the vhost-user socket the pod's virtio_user connects to
	FilePrefix string
	Log        io.Writer // a copy of testpmd's output, or nil
}

// testpmdArgs are the arguments after "dpdk-testpmd": forwarding lcore 0,
// CLI on lcore 1 (the forwarder's fwd lcore is 1), one virtio_user port.
func (c podConfig) testpmdArgs() []string {
	return []string{
		"-l", "0,1", "--main-lcore", "1",
		"--no-pci", "--in-memory", "--single-file-segments",
		"--file-prefix", c.FilePrefix,
		"--no-telemetry",
		"--vdev=net_virtio_user0,path=" + c.Socket + ",queues=1,queue_size=1024",
		"--",
		"-i", "--forward-mode=io",
		// 1024 rx descriptors, so that the 1024 packets of tx_first 32 fit
		// in the pod's rx ring when they come back (testpmd's default, 512,
		// makes the forwarder's tx refuse half of them).
		"--rxd=1024", "--txd=1024",
		// testpmd's default pool is sized for RTE_MAX_ETHPORTS ports
		// (hundreds of MiB of hugepages); one port and 1024 packets in
		// flight need far less.
		"--total-num-mbufs=8191",
	}
}

// startPod starts testpmd in c.Netns. The process gets its own process group,
// so that a Ctrl-C on the terminal reaches only the demo, which then stops
// the pod in order; and SIGKILL if the demo dies without stopping it.
func startPod(c podConfig) (*pod, error) {
	args := append([]string{"netns", "exec", c.Netns, "dpdk-testpmd"}, c.testpmdArgs()...)
	cmd := exec.Command("ip", args...) // ip netns exec execs testpmd: same pid
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &pod{netns: c.Netns, filePrefix: c.FilePrefix, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	var w io.Writer = p.out
	if c.Log != nil {
		w = io.MultiWriter(p.out, c.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start pod: %w", err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pod: ip %s: %w", strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is testpmd's process id.
func (p *pod) PID() int { return p.cmd.Process.Pid }

// Exited reports whether testpmd has exited (and been reaped).
func (p *pod) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitError says how testpmd ended and shows the end of its output; call it
// after Exited.
func (p *pod) ExitError() error {
	return fmt.Errorf("pod: dpdk-testpmd (pid %d) exited early (%v); its last output:\n%s",
		p.PID(), p.waitErr, p.out.Tail(15))
}

// Send writes one command line to testpmd.
func (p *pod) Send(line string) error {
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return fmt.Errorf("pod: send %q to dpdk-testpmd: %w", line, err)
	}
	return nil
}

// Stop stops forwarding and quits testpmd through its command line, closes
// its stdin (EOF also makes testpmd quit), and waits up to timeout for it to
// exit; then it kills the process by its PID (SIGKILL) and reaps it. Stop
// may be called more than once; it returns the first call's error.
func (p *pod) Stop(timeout time.Duration) error {
	p.stopOnce.Do(func() {
		if !p.Exited() {
			_ = p.Send("stop")
			_ = p.Send("quit")
		}
		_ = p.stdin.Close()
		select {
		case <-p.done:
			return
		case <-time.After(timeout):
		}
		_ = syscall.Kill(p.PID(), syscall.SIGKILL)
		select {
		case <-p.done:
			p.stopErr = fmt.Errorf("pod: dpdk-testpmd (pid %d) did not quit within %v; killed", p.PID(), timeout)
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("pod: dpdk-testpmd (pid %d) did not die after SIGKILL", p.PID())
		}
	})
	return p.stopErr
}

// podStats is testpmd's own count of what its forwarding engine did.
type podStats struct {
	RxPackets, TxPackets, TxDropped uint64
}

var (
	reRx = regexp.MustCompile(`RX-packets:\s*(\d+)`)
	reTx = regexp.MustCompile(`TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)`)
)

// Stats parses the forward statistics that testpmd prints on "stop" for
// port 0; call it after Stop.
func (p *pod) Stats() (podStats, error) {
	out := p.out.String()
	i := strings.LastIndex(out, "Forward statistics for port 0")
	if i < 0 {
		return podStats{}, errors.New("pod: no forward statistics in dpdk-testpmd's output")
	}
	block := out[i:]
	rx, tx := reRx.FindStringSubmatch(block), reTx.FindStringSubmatch(block)
	if rx == nil || tx == nil {
		return podStats{}, errors.New("pod: cannot parse dpdk-testpmd's forward statistics")
	}
	var s podStats
	s.RxPackets, _ = strconv.ParseUint(rx[1], 10, 64)
	s.TxPackets, _ = strconv.ParseUint(tx[1], 10, 64)
	s.TxDropped, _ = strconv.ParseUint(tx[2], 10, 64)
	return s, nil
}

// syncBuffer is a bytes.Buffer that a process's output goroutine writes while
// another goroutine reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines, indented.
func (b *syncBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}
