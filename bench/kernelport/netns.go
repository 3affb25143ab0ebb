package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// run runs a command (ip, sysctl) and returns its error with its output.
func run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// addNetns creates a named network namespace (ip netns add) with IPv6 off,
// so that no router or neighbour solicitations add to the counted frames.
// A leftover of the same name (names carry this process's pid) is deleted
// first.
func addNetns(name string) error {
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		_ = run("ip", "netns", "del", name)
	}
	if err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	return run("ip", "netns", "exec", name, "sysctl", "-qw",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
}

func delNetns(name string) error { return run("ip", "netns", "del", name) }

// nsThread is an OS thread inside a network namespace (and optionally
// pinned to a CPU) that runs the functions given to Do. The tap PMD creates
// its interface, and af_packet/af_xdp find theirs, in the calling thread's
// network namespace; kernel counters are read there too.
type nsThread struct {
	name string
	work chan func()
}

// newNSThread starts a thread in the named netns; cpu < 0 leaves the
// affinity alone.
func newNSThread(netns string, cpu int) (*nsThread, error) {
	t := &nsThread{name: netns, work: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: a thread in another netns must not go back to
		// Go's pool; it exits with this goroutine.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", netns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", netns, err)
			return
		}
		if cpu >= 0 {
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				errc <- fmt.Errorf("pin thread to cpu %d: %w", cpu, err)
				return
			}
		}
		errc <- nil
		for f := range t.work {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// Do runs f on the thread and returns its error.
func (t *nsThread) Do(f func() error) error {
	errc := make(chan error, 1)
	t.work <- func() { errc <- f() }
	return <-errc
}

// Go runs f on the thread without waiting; the thread is busy until f
// returns.
func (t *nsThread) Go(f func()) { t.work <- f }

// Close ends the thread (after the function it runs, if any).
func (t *nsThread) Close() { close(t.work) }

// ifCounters are a network interface's counters from /proc/net/dev.
type ifCounters struct {
	RxPackets, RxDropped, TxPackets, TxDropped uint64
}

// readIfCounters reads interface ifname's counters in the calling thread's
// netns (/proc/thread-self/net/dev is the thread's own namespace).
func readIfCounters(ifname string) (ifCounters, error) {
	b, err := os.ReadFile("/proc/thread-self/net/dev")
	if err != nil {
		return ifCounters{}, err
	}
	return parseNetDev(b, ifname)
}

// parseNetDev finds ifname in /proc/net/dev's format: "name: rx bytes
// packets errs drop fifo frame compressed multicast, tx bytes packets errs
// drop ...".
func parseNetDev(b []byte, ifname string) (ifCounters, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != ifname {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			return ifCounters{}, fmt.Errorf("/proc/net/dev: short line for %s", ifname)
		}
		var v [16]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return ifCounters{}, fmt.Errorf("/proc/net/dev: %s field %d: %w", ifname, i, err)
			}
			v[i] = n
		}
		return ifCounters{RxPackets: v[1], RxDropped: v[3], TxPackets: v[9], TxDropped: v[11]}, nil
	}
	return ifCounters{}, fmt.Errorf("/proc/net/dev: no interface %s", ifname)
}
