package forwarder

import (
	"fmt"
	"sort"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// PortStatus is a port as the control plane reports it.
type PortStatus struct {
	Name     string
	ID       uint16
	Kind     PortKind
	Network  string
	Trunk    bool
	Up       bool
	MAC      string
	RxQueues uint16
	TxQueues uint16
	// SharedTx is true when workers share tx queues under a lock.
	SharedTx bool
	Counters Counters
	Stats    dpdk.Stats // the ethdev's own counters
	Added    time.Time
}

// NetworkStatus is a network with its MAC table figures.
type NetworkStatus struct {
	Name        string
	VLAN        uint16
	Ports       []string
	MACs        int
	MACCapacity int
	TableFull   uint64 // learn attempts refused because a bucket was full
	MACMoves    uint64
	MACAgeing   time.Duration
}

// MACEntry is a MAC table entry.
type MACEntry struct {
	MAC    string
	Port   string
	Static bool
	Age    time.Duration
}

// WorkerStatus is a worker's assignment and load.
type WorkerStatus struct {
	ID        int
	Lcore     uint
	CPU       int
	RxQueues  []QueueRef
	Loops     uint64
	BusyLoops uint64 // loops that received at least one packet
	Packets   uint64
	Counters  Counters
}

// QueueRef names one rx queue of a port.
type QueueRef struct {
	Port  string
	Queue uint16
}

// Ports lists the ports, sorted by name.
func (e *Engine) Ports() []PortStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []PortStatus
	for _, name := range e.sortedPortNames() {
		out = append(out, e.portStatus(e.ports[name]))
	}
	return out
}

// Port returns one port's status.
func (e *Engine) Port(name string) (PortStatus, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.ports[name]
	if !ok {
		return PortStatus{}, false
	}
	return e.portStatus(p), true
}

// portStatus reports p. Called with e.mu held.
func (e *Engine) portStatus(p *port) PortStatus {
	ps := PortStatus{
		Name: p.spec.Name, ID: p.id, Kind: p.spec.Kind, Network: p.spec.Network, Trunk: p.spec.Trunk,
		Up: p.up, RxQueues: p.rxq, TxQueues: p.txq, SharedTx: p.locks != nil, Added: p.added,
	}
	if p.mac != nil {
		ps.MAC = p.mac.String()
	}
	for _, w := range e.workers {
		ps.Counters.addFrom(&w.counters[p.id])
	}
	ps.Stats, _ = dpdk.Port(p.id).Stats()
	return ps
}

// Networks lists the networks, sorted by name.
func (e *Engine) Networks() []NetworkStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []NetworkStatus
	names := make([]string, 0, len(e.networks))
	for n := range e.networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		n := e.networks[name]
		ns := NetworkStatus{
			Name: name, VLAN: n.spec.VLAN, MACs: len(n.macs.entries()), MACCapacity: n.macs.capacity(),
			TableFull: n.macs.full.Load(), MACMoves: n.macs.moves.Load(), MACAgeing: n.spec.MACAgeing,
		}
		for _, pn := range e.sortedPortNames() {
			if p := e.ports[pn]; p.net == n {
				ns.Ports = append(ns.Ports, pn)
			}
		}
		out = append(out, ns)
	}
	return out
}

// MACs lists a network's MAC table.
func (e *Engine) MACs(network string) ([]MACEntry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.networks[network]
	if !ok {
		return nil, fmt.Errorf("no network %q", network)
	}
	now := e.clock.Load()
	var out []MACEntry
	for _, en := range n.macs.entries() {
		me := MACEntry{MAC: u64ToMAC(en.MAC).String(), Static: en.Static}
		if p := e.byID[en.Port]; p != nil {
			me.Port = p.spec.Name
		} else {
			me.Port = fmt.Sprintf("ethdev%d", en.Port)
		}
		if !en.Static && now >= en.Seen {
			me.Age = time.Duration(now-en.Seen) * time.Second
		}
		out = append(out, me)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out, nil
}

// Workers reports each worker's queues and load.
func (e *Engine) Workers() []WorkerStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]WorkerStatus, len(e.workers))
	for i, w := range e.workers {
		ws := WorkerStatus{ID: i, Lcore: w.lcore, CPU: dpdk.LcoreCPU(w.lcore),
			Loops: w.loops.Load(), BusyLoops: w.busyLoops.Load(), Packets: w.pkts.Load()}
		for id := range w.counters {
			ws.Counters.addFrom(&w.counters[id])
		}
		out[i] = ws
	}
	for _, name := range e.sortedPortNames() {
		p := e.ports[name]
		for q, w := range p.rxOwner {
			if w >= 0 {
				out[w].RxQueues = append(out[w].RxQueues, QueueRef{Port: name, Queue: uint16(q)})
			}
		}
	}
	return out
}
