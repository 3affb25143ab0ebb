// Package podwiredtest runs a real podwired as a child process for tests
// that drive it from outside (the CNI plugin, cnitool, Multus): it starts
// the binary, waits until its control API answers, and stops it by PID.
//
// A child gets Pdeathsig SIGKILL, so a crashed test binary leaves no
// podwired behind. Pdeathsig fires when the thread that forked the child
// ends, not the process, and code that enters network namespaces ends
// threads (a goroutine that returns while locked to its thread takes the
// thread with it), so every child is started from one locked thread that
// never exits. CGO-free: it needs only the api package.
package podwiredtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/syncbuf"
)

// InCI reports whether a missing prerequisite must fail instead of skip
// (CI=true).
func InCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// Need skips the test (or, under CI=true, fails it) with why unless ok.
func Need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatal(why)
	}
	t.Skip(why)
}

var spawner = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread()
		for f := range spawner {
			f()
		}
	}()
}

// Start starts cmd, with Pdeathsig SIGKILL, from the one thread that never
// exits. The caller waits for it and stops it.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error)
	spawner <- func() { done <- cmd.Start() }
	return <-done
}

// Process is a running podwired.
type Process struct {
	Cmd    *exec.Cmd
	Log    *syncbuf.Buffer // its stdout and stderr
	Client *api.Client     // on its API socket
	done   chan struct{}
}

// Launch runs bin with args (which must make it serve its API on
// apiSocket) and waits up to 30 s for the API to answer. On error nothing
// is left running.
func Launch(bin, apiSocket string, args ...string) (*Process, error) {
	p := &Process{Cmd: exec.Command(bin, args...), Log: &syncbuf.Buffer{}, Client: api.New(apiSocket), done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Log, p.Log
	if err := Start(p.Cmd); err != nil {
		return nil, err
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := p.Client.Status(ctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("podwired %q exited at start: %v\n%s", args, p.Cmd.ProcessState, p.Log)
		default:
		}
		if time.Now().After(deadline) {
			_ = p.Stop(syscall.SIGKILL)
			return nil, fmt.Errorf("podwired API not up in 30s: %v\n%s", err, p.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends sig to podwired by PID and waits for it to exit; after 15 s
// it kills it and says so.
func (p *Process) Stop(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("podwired pid %d did not exit on %v; killed it", p.Cmd.Process.Pid, sig)
	}
}
