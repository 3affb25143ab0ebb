package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// Candidate names.
const (
	candTap      = "tap"
	candAFPacket = "af_packet"
	candAFPktQB  = "af_packet_qb" // af_packet with qdisc_bypass=1
	candAFXDP    = "af_xdp"
	candVhostNet = "vhost-net"
)

// defaultCandidates are measured unless -candidates says otherwise.
var defaultCandidates = []string{candTap, candAFPacket, candAFXDP, candVhostNet}

var allCandidates = append(slices.Clone(defaultCandidates), candAFPktQB)

// Interface names (IFNAMSIZ 16). podIf is the pod's netdev, hostIf the
// veth end podwired drives.
const (
	podIf  = "pwkpod0"
	hostIf = "pwkhost0"
)

var vdevSeq atomic.Int32

// rig is one candidate set up: a pod netns with the pod's netdev, a node
// netns standing in for the host (veth candidates), the DPDK port, and
// threads in each netns.
type rig struct {
	cand      string
	devargs   string
	podNS     string
	nodeNS    string // "" for tap
	pod       *nsThread
	portT     *nsThread // the thread that probed the port (pod's netns for tap)
	port      dpdk.Port
	portMAC   net.HardwareAddr
	podMAC    net.HardwareAddr
	probed    bool
	closed    bool
	setupTime time.Duration // probe + configure + start until link up
}

// newRig creates namespaces and interfaces and probes, configures and
// starts the port on pool. On error it tears down what it made.
func newRig(cand string, pool *dpdk.Mempool, prefix string) (r *rig, err error) {
	r = &rig{cand: cand, podNS: prefix + "pod"}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := addNetns(r.podNS); err != nil {
		return r, err
	}
	if r.pod, err = newNSThread(r.podNS, -1); err != nil {
		return r, err
	}
	n := vdevSeq.Add(1)
	switch cand {
	case candTap:
		// net_tap makes the interface in the calling thread's netns: probe
		// and set up from a thread in the pod's.
		r.portT = r.pod
		r.devargs = fmt.Sprintf("net_tap%d,iface=%s", n, podIf)
	case candAFPacket, candAFPktQB, candAFXDP:
		r.nodeNS = prefix + "node"
		if err := addNetns(r.nodeNS); err != nil {
			return r, err
		}
		if err := run("ip", "-n", r.nodeNS, "link", "add", hostIf, "type", "veth", "peer", "name", podIf, "netns", r.podNS); err != nil {
			return r, err
		}
		if err := run("ip", "-n", r.nodeNS, "link", "set", hostIf, "up"); err != nil {
			return r, err
		}
		if err := run("ip", "-n", r.podNS, "link", "set", podIf, "up"); err != nil {
			return r, err
		}
		if r.portT, err = newNSThread(r.nodeNS, -1); err != nil {
			return r, err
		}
		switch cand {
		case candAFPacket:
			r.devargs = fmt.Sprintf("net_af_packet%d,iface=%s", n, hostIf)
		case candAFPktQB:
			r.devargs = fmt.Sprintf("net_af_packet%d,iface=%s,qdisc_bypass=1", n, hostIf)
		default:
			r.devargs = fmt.Sprintf("net_af_xdp%d,iface=%s,start_queue=0,queue_count=1", n, hostIf)
		}
	case candVhostNet:
		r.portT = r.pod
		r.devargs = fmt.Sprintf("net_virtio_user%d,path=/dev/vhost-net,queues=1,queue_size=1024,iface=%s", n, podIf)
	default:
		return r, fmt.Errorf("unknown candidate %q", cand)
	}
	if cand == candVhostNet {
		// Two tries: the exception path's usual devargs, and without
		// iface= (which 22.11 accepts only once it has found a vhost-net
		// device). Both must fail where there is no /dev/vhost-net.
		var errs []string
		second := fmt.Sprintf("net_virtio_user%d,path=/dev/vhost-net,queues=1,queue_size=1024", vdevSeq.Add(1))
		for _, a := range []string{r.devargs, second} {
			err := r.portT.Do(func() error {
				ports, err := dpdk.Probe(a)
				if err == nil {
					r.port, r.probed = ports[0], true
				}
				return err
			})
			if err == nil {
				return r, fmt.Errorf("%s probed: measuring vhost-net is not implemented", a)
			}
			errs = append(errs, err.Error())
		}
		return r, fmt.Errorf("%s (%s)", strings.Join(errs, "; "), vhostNetFacts())
	}
	t0 := time.Now()
	err = r.portT.Do(func() error {
		ports, err := dpdk.Probe(r.devargs)
		if err != nil {
			return err
		}
		r.port, r.probed = ports[0], true
		if cand == candTap {
			// Before the tun queues exist (see fixSignalStacks).
			for _, sig := range fixSignalStacks() {
				fmt.Printf("tap: added SA_ONSTACK to DPDK's handler of signal %d\n", sig)
			}
		}
		if err := r.port.Configure(1, 1, dpdk.PortConf{}); err != nil {
			return err
		}
		if err := r.port.RxQueueSetup(0, 1024, dpdk.SocketAny, pool); err != nil {
			return err
		}
		if err := r.port.TxQueueSetup(0, 1024, dpdk.SocketAny); err != nil {
			return err
		}
		return r.port.Start()
	})
	if err != nil {
		return r, fmt.Errorf("%s: %w", r.devargs, err)
	}
	if err := r.waitLinkUp(5 * time.Second); err != nil {
		return r, err
	}
	r.setupTime = time.Since(t0)
	if r.portMAC, err = r.port.MAC(); err != nil {
		return r, err
	}
	err = r.pod.Do(func() error {
		ifi, err := net.InterfaceByName(podIf)
		if err != nil {
			return fmt.Errorf("pod interface: %w", err)
		}
		r.podMAC = ifi.HardwareAddr
		if ifi.Flags&net.FlagUp == 0 {
			return fmt.Errorf("pod interface %s is down", podIf)
		}
		return nil
	})
	return r, err
}

func (r *rig) waitLinkUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := r.port.Link()
		if err != nil {
			return err
		}
		if l.Up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: link still down after %v", r.devargs, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// podCounters reads the pod interface's kernel counters.
func (r *rig) podCounters() (ifCounters, error) {
	var c ifCounters
	err := r.pod.Do(func() (err error) {
		c, err = readIfCounters(podIf)
		return err
	})
	return c, err
}

// podIfExists reports whether the pod's netdev still exists.
func (r *rig) podIfExists() bool {
	ok := false
	_ = r.pod.Do(func() error {
		_, err := net.InterfaceByName(podIf)
		ok = err == nil
		return nil
	})
	return ok
}

// removePort removes the DPDK port from the thread that probed it (af_xdp
// detaches its XDP program through the netns's netlink).
func (r *rig) removePort() error {
	if !r.probed {
		return nil
	}
	r.probed = false
	return r.portT.Do(func() error { return r.port.Remove() })
}

// Close removes the port, the threads and the namespaces (and with them
// the veth pair).
func (r *rig) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	if r.portT != nil {
		if err := r.removePort(); err != nil {
			errs = append(errs, err)
		}
		if r.portT != r.pod {
			r.portT.Close()
		}
	}
	if r.pod != nil {
		r.pod.Close()
	}
	for _, ns := range []string{r.nodeNS, r.podNS} {
		if ns == "" {
			continue
		}
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			if err := delNetns(ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// vhostNetFacts says why the vhost-net exception path can or cannot work
// here: /dev/vhost-net and the kernel's CONFIG_VHOST_NET.
func vhostNetFacts() string {
	var facts []string
	if _, err := os.Stat("/dev/vhost-net"); err != nil {
		facts = append(facts, "no /dev/vhost-net")
	} else {
		facts = append(facts, "/dev/vhost-net exists")
	}
	for _, f := range []string{"/proc/config.gz", "/boot/config-" + kernelRelease()} {
		if cfg := kernelConfig(f, "CONFIG_VHOST_NET"); cfg != "" {
			facts = append(facts, cfg)
			break
		}
	}
	return strings.Join(facts, ", ")
}
