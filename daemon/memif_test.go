package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/internal/testpmd"
)

// TestMemifPodQuitsMidTraffic: a memif pod that quits cleanly (testpmd
// "quit": its port sends DISCONNECT) while podwired sends to it and
// receives from it, twenty times in a row, must not take podwired down.
// DPDK 22.11's memif PMD unmaps the pod's memory on EAL's interrupt
// thread while a worker may still copy into it. A busy process on the
// worker's cpu during each quit preempts the worker mid-burst, which
// widens that window: without dpdk's unmap guard podwired died with
// SIGSEGV (in pw_rx_multi) within 16 quits in 4 of 4 runs.
func TestMemifPodQuitsMidTraffic(t *testing.T) {
	const cycles = 20
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for metrics
	if err != nil {
		t.Fatal(err)
	}
	metrics := ln.Addr().String()
	ln.Close()
	in := newInstance(t, "workers:\n  idleSleep: 0s\nmetrics:\n  addr: "+metrics+"\n")
	in.start()
	// Twenty pod starts take 15-25 s on a busy 2-core machine: more than
	// ctxT's 20 s.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	macs := [2]string{"02:00:00:00:0b:01", "02:00:00:00:0b:02"}
	var socks [2]string
	for i := range socks {
		a, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: fmt.Sprintf("mq%d", i), IfName: "net1",
			Network: "default", Kind: api.KindMemif})
		if err != nil {
			t.Fatal(err)
		}
		socks[i] = a.SocketPath
	}
	ns := fmt.Sprintf("pwmq%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// Pod 1 sends to pod 0 without pause (txonly); pod 0 sends what it
	// receives back (mac forwarding): podwired copies into pod 0's memory
	// and out of it all the time.
	pod := func(i int, mode string) *testpmd.Pod {
		p, err := testpmd.Start(testpmd.Options{
			Netns: ns,
			Vdevs: []string{fmt.Sprintf("net_memif0,role=client,id=0,socket=%s,socket-abstract=no,mac=%s", socks[i], macs[i])},
			Args:  []string{"--forward-mode=" + mode, "--eth-peer=0," + macs[1-i], "--total-num-mbufs=4096", "--txpkts=1500"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop(5 * time.Second) })
		if err := p.WaitFor("testpmd>", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		p.Send("start")
		return p
	}
	portTx := func(container string) uint64 {
		a, err := in.client.Attachment(ctx, container, "net1")
		if err != nil {
			t.Fatalf("podwired: %v\n%s", err, in.log)
		}
		ports, err := in.client.Ports(ctx)
		if err != nil {
			t.Fatalf("podwired: %v\n%s", err, in.log)
		}
		for _, p := range ports {
			if p.Name == a.PortName {
				return p.Counters.TxPackets
			}
		}
		t.Fatalf("no port %s", a.PortName)
		return 0
	}
	pod(1, "txonly")
	for cycle := range cycles {
		p := pod(0, "mac")
		before := portTx("mq0")
		deadline := time.Now().Add(15 * time.Second)
		for portTx("mq0") < before+10000 {
			if time.Now().After(deadline) {
				ports, _ := in.client.Ports(ctx)
				t.Fatalf("cycle %d: no traffic to the memif pod: %+v\n%s", cycle, ports, p.Output())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// "quit" while forwarding: testpmd stops and closes its port at
		// once, a clean DISCONNECT while podwired is still sending. The
		// hog shares cpu 1 with podwired's worker (default lcores 0,1).
		hog := exec.Command("taskset", "-c", "1", "sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		err := p.Quit(10 * time.Second)
		hog.Process.Kill()
		hog.Wait()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		select {
		case <-in.done:
			t.Fatalf("cycle %d: podwired died when the memif pod quit: %v\n%s", cycle, in.cmd.ProcessState, in.log)
		default:
		}
		if _, err := in.client.Status(ctx); err != nil {
			t.Fatalf("cycle %d: podwired not answering: %v\n%s", cycle, err, in.log)
		}
	}
	// The guard did its job: unmaps waited for the worker (and none
	// gave up), as the metrics say.
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	waits := regexp.MustCompile(`(?m)^podwire_unmap_guard_waits_total (\d+)`).FindSubmatch(body)
	timeouts := regexp.MustCompile(`(?m)^podwire_unmap_guard_timeouts_total (\d+)`).FindSubmatch(body)
	if waits == nil || timeouts == nil {
		t.Fatalf("no unmap guard metrics in:\n%s", body)
	}
	t.Logf("unmap guard: %s waits, %s timeouts", waits[1], timeouts[1])
	if string(waits[1]) == "0" || string(timeouts[1]) != "0" {
		t.Errorf("unmap guard: %s waits, %s timeouts; want some waits and no timeouts", waits[1], timeouts[1])
	}
}

// TestMemifPeerHangsUp: clients that connect to a memif socket and hang up
// at once, before the handshake, must not take podwired down (DPDK 22.11's
// memif server left a closed socket registered with EAL's interrupt
// thread, which then panicked) nor leave descriptors behind; a real memif
// pod connects afterwards.
func TestMemifPeerHangsUp(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	ctx := ctxT(t)
	a, err := in.client.PutAttachment(ctx, api.Attachment{ContainerID: "hangup", IfName: "net1",
		Network: "default", Kind: api.KindMemif})
	if err != nil {
		t.Fatal(err)
	}
	idle := in.fdCount(t)
	for i := range 100 {
		c, err := net.Dial("unixpacket", a.SocketPath)
		for try := 0; errors.Is(err, syscall.EAGAIN) && try < 100; try++ {
			time.Sleep(5 * time.Millisecond) // the listener's backlog is short
			c, err = net.Dial("unixpacket", a.SocketPath)
		}
		if err != nil {
			t.Fatalf("connect %d: %v\n%s", i, err, in.log)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-in.done:
			t.Fatalf("podwired died: %v\n%s", in.cmd.ProcessState, in.log)
		default:
		}
		n := in.fdCount(t)
		if n <= idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("podwired holds %d descriptors 5s after 100 hang-ups, %d before", n, idle)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p, err := testpmd.Start(testpmd.Options{
		Vdevs: []string{"net_memif0,role=client,id=0,socket=" + a.SocketPath + ",socket-abstract=no"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	if err := p.WaitFor("testpmd>", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for {
		att, err := in.client.Attachment(ctx, "hangup", "net1")
		if err != nil {
			t.Fatalf("podwired: %v\n%s", err, in.log)
		}
		if att.State == api.StateUp {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("memif pod not connected after the hang-ups: state %s (%s)\n%s", att.State, att.Reason, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
