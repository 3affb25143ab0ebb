package iofwd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ProcessOptions describe one dpdk-testpmd child driven through its prompt.
type ProcessOptions struct {
	// Path is the dpdk-testpmd binary.
	Path string
	// Stdbuf, if set, is coreutils' stdbuf: testpmd then runs as
	// "stdbuf -oL dpdk-testpmd ..." (stdbuf execs it, the PID stays), so
	// that its output arrives line by line. The parser copes without it.
	Stdbuf string
	// Args are testpmd's arguments, EAL part included; they must hold -i.
	Args []string
	// Prefix is the EAL file prefix in Args: Close removes the runtime
	// directory DPDK keeps under it. Empty: nothing is removed.
	Prefix string
	// StartTimeout bounds the start-up until the first prompt; CmdTimeout
	// each command until the next prompt, and quit until the exit. Zero:
	// 60 s and 15 s.
	StartTimeout, CmdTimeout time.Duration
}

// Process is a running dpdk-testpmd in interactive mode. Every command
// ends with a new prompt, which is how Do knows testpmd is done with it.
// The caller must Close it, which stops it by its PID if it still runs.
type Process struct {
	o       ProcessOptions
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *transcript
	errOut  *transcript
	exited  chan struct{}
	waitErr error
	prompts int      // prompts seen and waited for so far
	sent    []string // distinct commands sent, for CleanTranscript
}

// StartProcess starts testpmd and waits for its first prompt. testpmd
// gets SIGKILL if this process dies first.
func StartProcess(ctx context.Context, o ProcessOptions) (*Process, error) {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.CmdTimeout <= 0 {
		o.CmdTimeout = 15 * time.Second
	}
	name, argv := o.Path, o.Args
	if o.Stdbuf != "" {
		name, argv = o.Stdbuf, append([]string{"-oL", o.Path}, argv...)
	}
	p := &Process{o: o, out: newTranscript(), errOut: newTranscript(), exited: make(chan struct{})}
	p.cmd = exec.Command(name, argv...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("testpmd stdin: %w", err)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Path, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	if err := p.waitPrompts(ctx, 1, o.StartTimeout); err != nil {
		err = p.Fail("start-up", err)
		p.Close()
		return nil, err
	}
	return p, nil
}

// PID is testpmd's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Do sends cmd and waits for the prompt after it. It returns the middle of
// the time between sending and seeing the prompt: testpmd ran the command
// in between, and for "show port stats all" that is the best estimate of
// when it read the counters (the error is half the round trip, well under a
// millisecond).
func (p *Process) Do(ctx context.Context, cmd string) (time.Time, error) {
	t0 := time.Now()
	if !slices.Contains(p.sent, cmd) {
		p.sent = append(p.sent, cmd)
	}
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return t0, err
	}
	if err := p.waitPrompts(ctx, p.prompts+1, p.o.CmdTimeout); err != nil {
		return t0, err
	}
	return t0.Add(time.Since(t0) / 2), nil
}

// Output returns what testpmd printed since mark (a value of Mark), with
// prompts and the echoes of the commands sent removed (CleanTranscript).
func (p *Process) Output(mark int) string {
	s := p.out.String()
	return CleanTranscript(s[min(mark, len(s)):], p.sent)
}

// Mark is the current length of testpmd's raw output, for Output.
func (p *Process) Mark() int { return len(p.out.String()) }

// Quit sends quit, closes testpmd's stdin and waits for it to exit.
func (p *Process) Quit(ctx context.Context) error {
	p.sent = append(p.sent, cmdQuit)
	if _, err := io.WriteString(p.stdin, cmdQuit+"\n"); err != nil {
		return err
	}
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(p.o.CmdTimeout):
		return errors.New("did not exit")
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.waitErr
}

// Close kills testpmd by its PID if it still runs, waits for it and removes
// its EAL runtime directory. It is safe to call more than once.
func (p *Process) Close() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	// EAL leaves its runtime directory even with --in-memory, and
	// sockets in it when killed; the prefix is this process's own.
	if p.o.Prefix != "" {
		_ = os.RemoveAll(RuntimeDir(p.o.Prefix))
	}
}

// Fail wraps err with what failed, testpmd's PID and the last lines of its
// output.
func (p *Process) Fail(what string, err error) error {
	return fmt.Errorf("testpmd (pid %d) %s: %w%s", p.PID(), what, err, tails(p.errOut, p.out))
}

func (p *Process) waitPrompts(ctx context.Context, n int, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if got := p.out.prompts(); got >= n {
			p.prompts = n
			return nil
		}
		select {
		case <-p.out.notify:
		case <-p.exited:
			if p.out.prompts() >= n {
				continue
			}
			if n == 1 {
				return errNoPrompt
			}
			return errors.New("testpmd exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("no prompt after %v", timeout)
		}
	}
}

// tails formats the last lines of testpmd's stderr and stdout for an error.
func tails(stderr, stdout *transcript) string {
	var b strings.Builder
	for _, x := range []struct {
		name string
		t    *transcript
	}{{"stderr", stderr}, {"stdout", stdout}} {
		lines := strings.Split(strings.TrimRight(x.t.String(), "\n"), "\n")
		if len(lines) == 1 && lines[0] == "" {
			continue
		}
		lines = lines[max(0, len(lines)-15):]
		fmt.Fprintf(&b, "\n--- testpmd %s (last %d lines) ---\n%s", x.name, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}
