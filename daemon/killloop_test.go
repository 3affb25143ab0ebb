package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

// killRoundsEnv sets TestKillDuringAPIChanges' number of rounds (default
// 20); scripts/kill-loop.sh runs it with 200.
const killRoundsEnv = "PODWIRE_KILL_ROUNDS"

// objects is what podwired holds: "net <name>" for a network, "att
// <containerID>/<ifName> <network>" for an attachment.
type objects map[string]bool

// killOp is one API change and what it does to objects once acknowledged.
type killOp struct {
	desc  string
	do    func(ctx context.Context, c *api.Client) error
	apply func(o objects)
}

// TestKillDuringAPIChanges: a client changes networks and memif
// attachments through the API without pause while podwired is SIGKILLed at
// a random moment, then started again, round after round. podwired must
// always start (its state file loads), and what it has after the start must
// be what the API had acknowledged before the kill, with or without the one
// request that was in flight when it died.
func TestKillDuringAPIChanges(t *testing.T) {
	rounds := 20
	if s := os.Getenv(killRoundsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", killRoundsEnv, s)
		}
		rounds = n
	}
	in := newInstance(t, "workers:\n  idleSleep: 1ms\n")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	t.Logf("%d rounds", rounds)

	var acked objects    // what the API acknowledged last
	var inFlight *killOp // sent when podwired died: may or may not have been applied
	kills, applied, changes := 0, 0, 0
	for round := range rounds {
		in.start()
		have := snapshot(t, in)
		switch {
		case acked == nil:
			acked = have // the config's networks
		case maps.Equal(have, acked):
		case inFlight != nil && maps.Equal(have, with(acked, inFlight)):
			acked = have
			applied++
		default:
			t.Fatalf("round %d: after the kill podwired has\n  %v\nbut the API had acknowledged\n  %v\n(in flight: %v)\n%s",
				round, slices.Sorted(maps.Keys(have)), slices.Sorted(maps.Keys(acked)), inFlight, in.log)
		}
		inFlight = nil

		// Change things until podwired dies under the client.
		wait := time.Duration(20+rng.IntN(300)) * time.Millisecond
		opRng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		done := make(chan struct{})
		var clientErr error
		go func() {
			defer close(done)
			for {
				op := randomOp(opRng, acked)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := op.do(ctx, in.client)
				cancel()
				var apiErr *api.Error
				switch {
				case err == nil:
					op.apply(acked)
					changes++
				case errors.As(err, &apiErr) && apiErr.Status < 500:
					// refused (a network still in use, say): nothing changed
				case errors.As(err, &apiErr):
					clientErr = fmt.Errorf("%s: %w", op.desc, err)
					return
				default: // podwired is gone
					inFlight = &op
					return
				}
			}
		}()
		time.Sleep(wait)
		in.stop(syscall.SIGKILL)
		kills++
		<-done
		if clientErr != nil {
			t.Fatalf("round %d: %v\n%s", round, clientErr, in.log)
		}
	}
	in.start()
	if have := snapshot(t, in); !maps.Equal(have, acked) && (inFlight == nil || !maps.Equal(have, with(acked, inFlight))) {
		t.Fatalf("after the last kill podwired has %v, the API had acknowledged %v", slices.Sorted(maps.Keys(have)), slices.Sorted(maps.Keys(acked)))
	}
	if changes < rounds {
		t.Errorf("only %d changes acknowledged in %d rounds: the kills came too early to test anything", changes, rounds)
	}
	t.Logf("%d kills mid-change after %d acknowledged changes; every restart loaded its state and matched the API; the request in flight had been applied %d times", kills, changes, applied)
}

// snapshot lists podwired's networks and attachments.
func snapshot(t *testing.T, in *instance) objects {
	t.Helper()
	ctx := ctxT(t)
	o := objects{}
	nets, err := in.client.Networks(ctx)
	if err != nil {
		t.Fatalf("networks: %v\n%s", err, in.log)
	}
	for _, n := range nets {
		o["net "+n.Name] = true
	}
	atts, err := in.client.Attachments(ctx)
	if err != nil {
		t.Fatalf("attachments: %v\n%s", err, in.log)
	}
	for _, a := range atts {
		o["att "+a.ContainerID+"/"+a.IfName+" "+a.Network] = true
	}
	return o
}

// with is o after op.
func with(o objects, op *killOp) objects {
	c := maps.Clone(o)
	op.apply(c)
	return c
}

// randomOp picks a change: add or delete one of four networks, attach or
// detach one of six memif interfaces (on "default" or one of those
// networks).
func randomOp(rng *rand.Rand, o objects) killOp {
	switch rng.IntN(4) {
	case 0:
		name := fmt.Sprintf("kn%d", rng.IntN(4))
		return killOp{desc: "PUT network " + name,
			do: func(ctx context.Context, c *api.Client) error {
				_, err := c.PutNetwork(ctx, api.Network{Name: name})
				return err
			},
			apply: func(o objects) { o["net "+name] = true }}
	case 1:
		name := fmt.Sprintf("kn%d", rng.IntN(4))
		return killOp{desc: "DELETE network " + name,
			do:    func(ctx context.Context, c *api.Client) error { return c.DeleteNetwork(ctx, name) },
			apply: func(o objects) { delete(o, "net "+name) }}
	case 2:
		cid := fmt.Sprintf("kc%d", rng.IntN(6))
		nets := []string{"default"}
		for k := range o {
			if name, ok := strings.CutPrefix(k, "net "); ok && name != "default" {
				nets = append(nets, name)
			}
		}
		slices.Sort(nets)
		network := nets[rng.IntN(len(nets))]
		return killOp{desc: "PUT attachment " + cid + " on " + network,
			do: func(ctx context.Context, c *api.Client) error {
				_, err := c.PutAttachment(ctx, api.Attachment{ContainerID: cid, IfName: "net1", Network: network, Kind: api.KindMemif})
				return err
			},
			apply: func(o objects) {
				for k := range o {
					if _, ok := strings.CutPrefix(k, "att "+cid+"/net1 "); ok {
						delete(o, k)
					}
				}
				o["att "+cid+"/net1 "+network] = true
			}}
	default:
		cid := fmt.Sprintf("kc%d", rng.IntN(6))
		return killOp{desc: "DELETE attachment " + cid,
			do: func(ctx context.Context, c *api.Client) error { return c.DeleteAttachment(ctx, cid, "net1") },
			apply: func(o objects) {
				for k := range o {
					if _, ok := strings.CutPrefix(k, "att "+cid+"/net1 "); ok {
						delete(o, k)
					}
				}
			}}
	}
}
