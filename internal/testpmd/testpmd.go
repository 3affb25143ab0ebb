// Package testpmd runs dpdk-testpmd as a pod in tests and demos: a real
// DPDK application in its own process, optionally inside a network
// namespace, driven through its interactive prompt.
package testpmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options describe one testpmd process.
type Options struct {
	// Vdevs are the pod's ports, e.g. "net_virtio_user0,path=...".
	Vdevs []string
	// Netns, if set, is a named network namespace to run in (ip netns exec).
	Netns string
	// Lcores and MainLcore place it; default "0,1" with main 1, so that the
	// forwarding lcore is core 0.
	Lcores    string
	MainLcore int
	// Args are testpmd's own arguments after "--" (besides -i).
	Args []string
	// UID and GID, if either is set, run testpmd as this user and group
	// (a non-root pod; the unset one stays the caller's), with no
	// supplementary groups: setpriv switches after ip netns exec entered
	// Netns, and the EAL keeps its runtime files in a directory of that
	// user's ($XDG_RUNTIME_DIR), removed when testpmd exits.
	UID, GID *int
	// Prefix is the EAL file prefix; default a unique one.
	Prefix string
	// Mounts are a pod's volumes: each host directory is bind-mounted at
	// its Pod path for testpmd only, in a private mount namespace where
	// the Pod path's parent is an empty tmpfs (so nothing on the host
	// changes). They are made as root, before UID and GID apply.
	Mounts []Mount
}

// Mount is a host directory seen by the pod at another path.
type Mount struct{ Host, Pod string }

// Pod is a running testpmd.
type Pod struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	prefix string

	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
}

var seq struct {
	sync.Mutex
	n int
}

// Start starts testpmd. The caller stops it with Stop.
func Start(o Options) (*Pod, error) {
	bin, err := exec.LookPath("dpdk-testpmd")
	if err != nil {
		return nil, errors.New("dpdk-testpmd not found (apt-get install dpdk)")
	}
	var wrap []string // setpriv and stdbuf, which exec testpmd
	runDir := "/var/run/dpdk"
	if o.UID != nil || o.GID != nil {
		if _, err := exec.LookPath("setpriv"); err != nil {
			return nil, errors.New("setpriv not found (apt-get install util-linux)")
		}
		uid, gid := os.Getuid(), os.Getgid()
		if o.UID != nil {
			uid = *o.UID
		}
		if o.GID != nil {
			gid = *o.GID
		}
		if runDir, err = os.MkdirTemp("", "pwpodrun"); err != nil {
			return nil, err
		}
		if err := os.Chown(runDir, uid, gid); err != nil {
			os.RemoveAll(runDir)
			return nil, err
		}
		wrap = append(wrap, "setpriv", "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(gid), "--clear-groups")
	}
	// testpmd's stdout is block-buffered on a pipe, so what a command
	// prints would only show up at exit; stdbuf makes it line-buffered.
	if _, err := exec.LookPath("stdbuf"); err == nil {
		wrap = append(wrap, "stdbuf", "-oL")
	}
	if o.Lcores == "" {
		o.Lcores, o.MainLcore = "0,1", 1
	}
	if o.Prefix == "" {
		seq.Lock()
		seq.n++
		o.Prefix = fmt.Sprintf("pwpod%d_%d", os.Getpid(), seq.n)
		seq.Unlock()
	}
	args := []string{"-l", o.Lcores, "--main-lcore", strconv.Itoa(o.MainLcore), "--no-pci", "--in-memory",
		"--single-file-segments", "--no-telemetry", "--file-prefix", o.Prefix, "--log-level=*:notice"}
	for _, v := range o.Vdevs {
		args = append(args, "--vdev="+v)
	}
	args = append(args, "--", "-i", "--total-num-mbufs=8191", "--rxd=1024", "--txd=1024")
	args = append(args, o.Args...)
	args = append(append(wrap, bin), args...)
	if len(o.Mounts) > 0 {
		script := "set -e"
		tmpfs := map[string]bool{}
		for _, m := range o.Mounts {
			parent := filepath.Dir(m.Pod)
			if !filepath.IsAbs(m.Host) || !filepath.IsAbs(m.Pod) || parent == "/" {
				return nil, fmt.Errorf("mount %s at %s: want absolute paths, not at the top level", m.Host, m.Pod)
			}
			if !tmpfs[parent] {
				tmpfs[parent] = true
				script += "; mount -t tmpfs pwpod " + shellQuote(parent)
			}
			script += fmt.Sprintf("; mkdir %[1]s; mount --bind %[2]s %[1]s", shellQuote(m.Pod), shellQuote(m.Host))
		}
		args = append([]string{"unshare", "-m", "--propagation", "private", "sh", "-c", script + `; exec "$@"`, "sh"}, args...)
	}
	if o.Netns != "" {
		args = append([]string{"ip", "netns", "exec", o.Netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	if runDir != "/var/run/dpdk" {
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runDir)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	removeRunDir := func() {
		if runDir != "/var/run/dpdk" {
			os.RemoveAll(runDir)
		}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		removeRunDir()
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &Pod{cmd: cmd, stdin: stdin, prefix: o.Prefix, done: make(chan struct{})}
	go func() {
		// Raw chunks, not lines: the prompt has no newline.
		buf := make([]byte, 32<<10)
		for {
			n, err := pr.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		removeRunDir()
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		_ = os.Remove(filepath.Join(runDir, o.Prefix))
		removeRunDir()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id (of ip netns exec, unshare, sh, setpriv or stdbuf,
// which exec testpmd: the same process).
func (p *Pod) PID() int { return p.cmd.Process.Pid }

// Send writes one command line to the prompt.
func (p *Pod) Send(line string) { fmt.Fprintln(p.stdin, line) }

// Output is everything printed so far.
func (p *Pod) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Exited reports whether the process has ended.
func (p *Pod) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitFor waits until the output contains s, the process ends, or timeout.
func (p *Pod) WaitFor(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), s) {
		if p.Exited() {
			return fmt.Errorf("testpmd exited (%v) before printing %q; output:\n%s", p.err, s, tail(p.Output()))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testpmd did not print %q in %v; output:\n%s", s, timeout, tail(p.Output()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

var (
	rxRE = regexp.MustCompile(`RX-packets:\s+(\d+)`)
	txRE = regexp.MustCompile(`TX-packets:\s+(\d+)`)
)

// Err is how the process ended (nil while it runs or after a clean exit).
func (p *Pod) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Query sends one command line and returns what testpmd printed for it.
func (p *Pod) Query(line string, timeout time.Duration) (string, error) {
	marker := fmt.Sprintf("pwmark%d", time.Now().UnixNano())
	before := len(p.Output())
	p.Send(line)
	p.Send("echo " + marker) // not a command: testpmd prints a "Bad arguments" line with it
	deadline := time.Now().Add(timeout)
	for {
		out := p.Output()[before:]
		if i := strings.Index(out, marker); i >= 0 {
			return out[:i], nil
		}
		if time.Now().After(deadline) || p.Exited() {
			return "", fmt.Errorf("testpmd did not answer %q; output:\n%s", line, tail(p.Output()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RxPackets asks for port stats and returns the RX-packets of each port.
func (p *Pod) RxPackets(timeout time.Duration) ([]uint64, error) {
	out, err := p.Query("show port stats all", timeout)
	if err != nil {
		return nil, err
	}
	var v []uint64
	for _, m := range rxRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		v = append(v, n)
	}
	return v, nil
}

// LinkUp asks whether port's link is up ("show port info").
func (p *Pod) LinkUp(port int, timeout time.Duration) (bool, error) {
	out, err := p.Query("show port info "+strconv.Itoa(port), timeout)
	if err != nil {
		return false, err
	}
	switch {
	case strings.Contains(out, "Link status: up"):
		return true, nil
	case strings.Contains(out, "Link status: down"):
		return false, nil
	}
	return false, fmt.Errorf("no link status in:\n%s", out)
}

// StopForwarding stops packet forwarding ("stop") and returns the packets
// received and sent by all ports together, from testpmd's accumulated
// forward statistics.
func (p *Pod) StopForwarding(timeout time.Duration) (rx, tx uint64, err error) {
	out, err := p.Query("stop", timeout)
	if err != nil {
		return 0, 0, err
	}
	mrx, mtx := rxRE.FindAllStringSubmatch(out, -1), txRE.FindAllStringSubmatch(out, -1)
	if len(mrx) == 0 || len(mtx) == 0 {
		return 0, 0, fmt.Errorf("no forward statistics in:\n%s", out)
	}
	// The last block is "Accumulated forward statistics for all ports".
	rx, _ = strconv.ParseUint(mrx[len(mrx)-1][1], 10, 64)
	tx, _ = strconv.ParseUint(mtx[len(mtx)-1][1], 10, 64)
	return rx, tx, nil
}

// Stop asks testpmd to stop and quit, and kills it by PID after timeout.
func (p *Pod) Stop(timeout time.Duration) {
	if p.Exited() {
		return
	}
	p.Send("stop")
	p.Send("quit")
	p.stdin.Close()
	if !p.waitGone(timeout) {
		p.Kill()
	}
}

// Quit sends "quit" alone while testpmd may still be forwarding (it stops
// and closes its ports at once) and waits for it to exit; after timeout it
// kills it and says so.
func (p *Pod) Quit(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	p.Send("quit")
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("testpmd did not quit in %v; output:\n%s", timeout, tail(p.Output()))
	}
}

// killWait bounds Kill's wait for the process to be gone.
const killWait = 10 * time.Second

// Kill ends testpmd at once (SIGKILL to its process group, and to its
// process should that have left the group) and waits until it is gone, at
// most killWait; a process stuck in the kernel is reported on stderr.
func (p *Pod) Kill() {
	if p.Exited() {
		return
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !p.waitGone(killWait) {
		state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		fmt.Fprintf(os.Stderr, "testpmd: pid %d still there %v after SIGKILL: %s\n", pid, killWait, strings.TrimSpace(string(state)))
	}
}

// waitGone waits at most d until the process has been reaped or has no
// /proc entry any more. The second is the case that matters: on this
// kernel (6.18) a SIGKILLed testpmd was at times released while Go's
// waitid on its pidfd went on blocking until every other child of this
// process had exited too (in the demo, podwired, which is stopped after
// the pods: a deadlock).
func (p *Pod) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	proc := fmt.Sprintf("/proc/%d", p.cmd.Process.Pid)
	for {
		select {
		case <-p.done:
			return true
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := os.Stat(proc); errors.Is(err, os.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
