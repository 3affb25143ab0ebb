package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/syncbuf"
)

// podwired is a podwired process that the demo started. Whoever starts it
// stops it (stop), which also reaps it.
type podwired struct {
	socket  string // its control API
	cmd     *exec.Cmd
	log     *syncbuf.Buffer
	done    chan struct{} // closed when the process has been reaped
	waitErr error         // valid after done
	ready   bool          // its API has answered
}

// startPodwired starts bin on its embedded default config with everything
// it writes under dir (API socket, state, pods' socket directories), EAL
// file prefix prefix, and busy-polling workers. Its log goes to a buffer,
// and to log as well if that is not nil.
func startPodwired(bin, dir, prefix string, log io.Writer) (*podwired, error) {
	p := &podwired{socket: filepath.Join(dir, "api.sock"), log: &syncbuf.Buffer{}, done: make(chan struct{})}
	args := []string{
		"-api-socket", p.socket,
		"-state-dir", filepath.Join(dir, "state"),
		"-socket-dir", filepath.Join(dir, "s"),
		"-file-prefix", prefix,
		"-idle-sleep", "0",
	}
	p.cmd = exec.Command(bin, args...)
	var w io.Writer = p.log
	if log != nil {
		w = io.MultiWriter(p.log, log)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	// Its own process group: a Ctrl-C on the terminal reaches only the
	// demo, which then detaches the pods before it stops podwired. SIGTERM
	// (a clean shutdown) if the demo dies first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start podwired: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *podwired) pid() int { return p.cmd.Process.Pid }

func (p *podwired) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError says how podwired ended and shows the end of its log; call it
// after done.
func (p *podwired) exitError() error {
	return fmt.Errorf("podwired (pid %d) exited (%v); its last log lines:\n%s", p.pid(), p.waitErr, tail(p.log.String(), 15))
}

// waitAPI waits until podwired answers on its API socket.
func (p *podwired) waitAPI(ctx context.Context, client *api.Client) error {
	deadline := time.Now().Add(startTimeout)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.Status(actx)
		cancel()
		if err == nil {
			p.ready = true
			return nil
		}
		if p.exited() {
			return p.exitError()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podwired (pid %d) API not up on %s after %v: %v; its last log lines:\n%s",
				p.pid(), p.socket, startTimeout, err, tail(p.log.String(), 15))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// stop sends podwired SIGTERM and waits for it to exit, then SIGKILL by PID
// if it has not within podwiredGrace. An exit other than a clean one is an
// error. A podwired still starting is given time to finish first: a
// signal in the middle of its start-up (EAL init, hot-plug) is not a
// path worth exercising in a demo.
func (p *podwired) stop() error {
	if !p.ready && !p.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		client := api.New(p.socket)
		_ = p.waitAPI(ctx, client)
		client.CloseIdleConnections()
		cancel()
	}
	if p.exited() {
		if p.waitErr != nil {
			return p.exitError()
		}
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitErr != nil {
			return p.exitError()
		}
		if strings.Contains(p.log.String(), "mbufs still in use at shutdown") {
			return fmt.Errorf("podwired (pid %d) reported mbufs in use at shutdown; its last log lines:\n%s", p.pid(), tail(p.log.String(), 15))
		}
		return nil
	case <-time.After(podwiredGrace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("podwired (pid %d) did not exit within %v of SIGTERM; killed; its last log lines:\n%s", p.pid(), podwiredGrace, tail(p.log.String(), 15))
	case <-time.After(5 * time.Second):
		return fmt.Errorf("podwired (pid %d) did not die after SIGKILL", p.pid())
	}
}

// checkSystem says in one line what the machine lacks to run the demo.
func checkSystem() error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (hugepages, network namespaces, DPDK vdevs): try sudo")
	}
	if _, err := exec.LookPath("dpdk-testpmd"); err != nil {
		return errors.New("dpdk-testpmd not found on PATH: run `make setup` (installs Debian's dpdk package)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("ip (iproute2) not found on PATH: run `make setup`")
	}
	return checkResources()
}

// checkPodwired says in one line if bin is not a podwired we can run.
func checkPodwired(bin string) error {
	st, err := os.Stat(bin)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("podwired not found at %s: run `make build` first (it builds bin/podwired next to bin/%s)", bin, prog)
	case err != nil:
		return fmt.Errorf("podwired at %s: %w", bin, err)
	case st.IsDir() || st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("podwired at %s is not an executable file: run `make build`", bin)
	}
	return nil
}
