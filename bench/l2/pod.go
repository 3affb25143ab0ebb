package l2

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/podwire/podwire/bench/iofwd"
)

// runner starts the processes of a run. Its methods run on the caller's
// goroutine; each trial stops what it started, by PID.
type runner struct {
	testpmd, stdbuf, podwired string
	setup                     Setup
	burstStats                bool
	seq                       int // for unique EAL file prefixes
	prefix                    string
}

func (r *runner) nextPrefix(what string) string {
	r.seq++
	return fmt.Sprintf("%s%s%d", r.prefix, what, r.seq)
}

// testpmdProc starts a dpdk-testpmd with args and EAL file prefix.
func (r *runner) testpmdProc(ctx context.Context, args []string, prefix string) (*iofwd.Process, error) {
	return iofwd.StartProcess(ctx, iofwd.ProcessOptions{Path: r.testpmd, Stdbuf: r.stdbuf, Args: args, Prefix: prefix,
		StartTimeout: 30 * time.Second, CmdTimeout: 10 * time.Second})
}

// pod is the traffic source and sink: testpmd looping between two ports.
type pod struct{ *iofwd.Process }

func (r *runner) startPod(ctx context.Context, s Scenario, sockets [2]string) (*pod, error) {
	prefix := r.nextPrefix("pod")
	p, err := r.testpmdProc(ctx, PodArgs(s, r.setup, prefix, sockets), prefix)
	if err != nil {
		return nil, fmt.Errorf("pod: %w", err)
	}
	return &pod{p}, nil
}

// waitLinks polls "show port info all" until every port of p is up. A
// memif client connects after its port started, and frames sent before
// the link is up are lost: the loop would run with fewer in flight.
func waitLinks(ctx context.Context, p *iofwd.Process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		mark := p.Mark()
		if _, err := p.Do(ctx, "show port info all"); err != nil {
			return p.Fail("show port info", err)
		}
		up, n := LinksUp(p.Output(mark))
		if n > 0 && up == n {
			return nil
		}
		if time.Now().After(deadline) {
			return p.Fail("links", fmt.Errorf("%d of %d ports up after %v", up, n, timeout))
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// startLoop starts io forwarding after sending txFirst bursts per port.
func (p *pod) startLoop(ctx context.Context, txFirst int) error {
	if _, err := p.Do(ctx, "start tx_first "+strconv.Itoa(txFirst)); err != nil {
		return p.Fail("start tx_first", err)
	}
	return nil
}

// clearFwdStats zeroes testpmd's forward statistics (and burst
// statistics), so that those stopFwd returns cover the window.
func clearFwdStats(ctx context.Context, p *iofwd.Process) error {
	if _, err := p.Do(ctx, "clear fwd stats all"); err != nil {
		return p.Fail("clear fwd stats", err)
	}
	return nil
}

// stopFwd stops forwarding (pod or testpmd forwarder) and returns its
// forward statistics.
func stopFwd(ctx context.Context, p *iofwd.Process) (FwdStats, error) {
	mark := p.Mark()
	if _, err := p.Do(ctx, "stop"); err != nil {
		return FwdStats{}, p.Fail("stop", err)
	}
	s, err := ParseFwdStats(p.Output(mark))
	if err != nil {
		return FwdStats{}, p.Fail("stop", err)
	}
	return s, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
