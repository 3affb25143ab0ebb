package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// Config configures an Engine.
type Config struct {
	// Lcores are the EAL worker lcores that run the poll loops, one worker
	// each. Empty: every EAL worker lcore.
	Lcores []uint
	// Pool supplies the rx queues and the copies made for tagged floods.
	Pool *dpdk.Mempool
	// Burst is the rx burst size (default 32, at most MaxBurst).
	Burst int
	// RxDesc and TxDesc are descriptor ring sizes (default 1024).
	RxDesc, TxDesc uint16
	// IdleSleep, when nonzero, lets a worker that found no packet for
	// IdleLoops loops in a row sleep that long, so an idle node does not
	// burn a core. Zero busy-polls (benchmarks).
	IdleSleep time.Duration
	// MACAgeing is the default MAC ageing time (default 300 s).
	MACAgeing time.Duration
	// MaxMACs is the default MAC table size per network (default 8192).
	MaxMACs int
	Logger  *slog.Logger
}

// Limits.
const (
	MaxBurst  = 64
	IdleLoops = 1024
	txCap     = 2 * MaxBurst // per destination buffer, per worker
)

// PortKind says what is behind a port; the engine treats all alike.
type PortKind string

const (
	KindUplink    PortKind = "uplink"
	KindVhostUser PortKind = "vhostuser"
	KindMemif     PortKind = "memif"
	KindKernel    PortKind = "kernel"
)

// PortSpec describes a port to forward on. The ethdev must be probed and
// stopped; the engine configures, starts and stops it, and the caller
// removes the device after RemovePort.
type PortSpec struct {
	Name string
	Port dpdk.Port
	Kind PortKind
	// Network is an access port's network. Empty with Trunk.
	Network string
	// Trunk ports (the uplink) carry every network: untagged for networks
	// with VLAN 0, 802.1Q-tagged for the others.
	Trunk bool
	// MAC, when set, is installed as a static entry in the port's network:
	// the pod behind the port owns it.
	MAC net.HardwareAddr
	// RxQueues is the number of rx queues (default 1).
	RxQueues uint16
}

// NetworkSpec describes a network: one bridge domain.
type NetworkSpec struct {
	Name      string
	VLAN      uint16 // tag on trunk ports; 0 untagged
	MaxMACs   int
	MACAgeing time.Duration
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,63}$`)

// Engine is the forwarding engine: ports, networks, MAC tables and the
// workers that poll. Its methods are the control plane and may be called
// from any goroutine; they serialize on one mutex and publish each change
// as a new immutable snapshot that workers pick up at their next loop.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ports    map[string]*port
	byID     [dpdk.MaxPorts]*port
	networks map[string]*network
	workers  []*worker
	gen      uint64
	started  bool
	stopHK   chan struct{}
	hkDone   chan struct{}

	snap  atomic.Pointer[snapshot]
	clock atomic.Uint32 // seconds since New, for MAC ageing
	t0    time.Time
}

type port struct {
	spec     PortSpec
	id       uint16
	rxq, txq uint16
	locks    []txLock // one per tx queue when workers share queues
	net      *network
	up       bool
	mac      net.HardwareAddr
	rxOwner  []int // worker per rx queue
	added    time.Time
}

// txLock serializes workers on a shared tx queue.
type txLock struct {
	held atomic.Bool
	_    [60]byte
}

type network struct {
	spec  NetworkSpec
	macs  *macTable
	index int
}

// New creates an engine. Workers start with Start.
func New(cfg Config) (*Engine, error) {
	if cfg.Pool == nil {
		return nil, errors.New("forwarder: config needs a mempool")
	}
	if cfg.Burst == 0 {
		cfg.Burst = 32
	}
	if cfg.Burst < 1 || cfg.Burst > MaxBurst {
		return nil, fmt.Errorf("forwarder: burst %d out of range 1..%d", cfg.Burst, MaxBurst)
	}
	if cfg.RxDesc == 0 {
		cfg.RxDesc = 1024
	}
	if cfg.TxDesc == 0 {
		cfg.TxDesc = 1024
	}
	if cfg.MACAgeing == 0 {
		cfg.MACAgeing = 300 * time.Second
	}
	if cfg.MaxMACs == 0 {
		cfg.MaxMACs = 8192
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Lcores) == 0 {
		cfg.Lcores = dpdk.WorkerLcores()
	}
	if len(cfg.Lcores) == 0 {
		return nil, errors.New("forwarder: no worker lcore (give EAL at least two cores, e.g. -l 0,1)")
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		ports:    map[string]*port{},
		networks: map[string]*network{},
		t0:       time.Now(),
	}
	for i, lc := range cfg.Lcores {
		w, err := newWorker(e, i, lc)
		if err != nil {
			for _, w := range e.workers {
				w.free()
			}
			return nil, err
		}
		e.workers = append(e.workers, w)
	}
	e.snap.Store(&snapshot{rx: make([][]rxQueue, len(e.workers))})
	return e, nil
}

// Start launches one worker per lcore and the housekeeping goroutine
// (clock, link state, MAC ageing).
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("forwarder: already started")
	}
	for i, w := range e.workers {
		if err := dpdk.Launch(w.lcore, w.run); err != nil {
			for _, w := range e.workers[:i] {
				w.stop.Store(true)
				_ = dpdk.Wait(w.lcore)
			}
			return fmt.Errorf("start worker %d: %w", i, err)
		}
		w.running.Store(true)
		e.log.Info("worker started", "worker", i, "lcore", w.lcore, "cpu", dpdk.LcoreCPU(w.lcore))
	}
	e.started = true
	e.stopHK = make(chan struct{})
	e.hkDone = make(chan struct{})
	go e.housekeeping()
	return nil
}

// Close stops the workers and stops every port still added; it does not
// remove devices. The engine cannot be started again.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		close(e.stopHK)
		e.mu.Unlock()
		<-e.hkDone
		e.mu.Lock()
	}
	var errs []error
	for _, w := range e.workers {
		if w.running.Load() {
			w.stop.Store(true)
			if err := dpdk.Wait(w.lcore); err != nil {
				errs = append(errs, err)
			}
			w.running.Store(false)
		}
	}
	for _, p := range e.ports {
		if err := dpdk.Port(p.id).Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, w := range e.workers {
		w.free()
	}
	e.workers = nil
	e.started = false
	return errors.Join(errs...)
}

// AddNetwork adds a network, or checks that an existing one matches.
func (e *Engine) AddNetwork(ctx context.Context, spec NetworkSpec) error {
	if !nameRE.MatchString(spec.Name) {
		return fmt.Errorf("network name %q: want 1-63 of [a-zA-Z0-9_.-]", spec.Name)
	}
	if spec.VLAN > 4094 {
		return fmt.Errorf("network %s: vlan %d out of range 0..4094", spec.Name, spec.VLAN)
	}
	if spec.MaxMACs == 0 {
		spec.MaxMACs = e.cfg.MaxMACs
	}
	if spec.MaxMACs < 0 || spec.MaxMACs > 1<<22 {
		return fmt.Errorf("network %s: max MACs %d out of range 1..%d", spec.Name, spec.MaxMACs, 1<<22)
	}
	if spec.MACAgeing == 0 {
		spec.MACAgeing = e.cfg.MACAgeing
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, ok := e.networks[spec.Name]; ok {
		if n.spec != spec {
			return fmt.Errorf("network %s exists with another configuration", spec.Name)
		}
		return nil
	}
	for _, n := range e.networks {
		if spec.VLAN != 0 && n.spec.VLAN == spec.VLAN {
			return fmt.Errorf("network %s: vlan %d already used by network %s", spec.Name, spec.VLAN, n.spec.Name)
		}
	}
	e.networks[spec.Name] = &network{spec: spec, macs: newMACTable(spec.MaxMACs)}
	return e.publish(ctx)
}

// RemoveNetwork removes a network that no port uses.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.networks[name]; !ok {
		return nil
	}
	for _, p := range e.ports {
		if p.net != nil && p.net.spec.Name == name {
			return fmt.Errorf("network %s is used by port %s", name, p.spec.Name)
		}
	}
	delete(e.networks, name)
	return e.publish(ctx)
}

// AddPort configures and starts a port and adds it to forwarding. Its rx
// queues go to the least loaded workers; each worker gets its own tx queue
// where the device has enough, else workers share tx queues under a lock.
func (e *Engine) AddPort(ctx context.Context, spec PortSpec) error {
	if !nameRE.MatchString(spec.Name) {
		return fmt.Errorf("port name %q: want 1-63 of [a-zA-Z0-9_.-]", spec.Name)
	}
	if spec.RxQueues == 0 {
		spec.RxQueues = 1
	}
	if spec.Trunk == (spec.Network != "") {
		return fmt.Errorf("port %s: give either a network (access port) or trunk, not both or neither", spec.Name)
	}
	if spec.MAC != nil && (len(spec.MAC) != 6 || spec.MAC[0]&1 != 0) {
		return fmt.Errorf("port %s: mac %s is not a unicast Ethernet address", spec.Name, spec.MAC)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.ports[spec.Name]; ok {
		return fmt.Errorf("port %s already exists", spec.Name)
	}
	if int(spec.Port) >= len(e.byID) || e.byID[spec.Port] != nil {
		return fmt.Errorf("port %s: ethdev %d is invalid or already in use", spec.Name, spec.Port)
	}
	var nw *network
	if !spec.Trunk {
		var ok bool
		if nw, ok = e.networks[spec.Network]; !ok {
			return fmt.Errorf("port %s: no network %q", spec.Name, spec.Network)
		}
		// A static MAC belongs to one port: taking it over would steal the
		// owner's traffic, and removing the thief would remove the entry.
		if spec.MAC != nil {
			if id := nw.macs.staticPort(macToU64(spec.MAC)); id >= 0 {
				owner := fmt.Sprint("ethdev ", id)
				if op := e.byID[id]; op != nil {
					owner = op.spec.Name
				}
				return fmt.Errorf("port %s: mac %s is already the static MAC of port %s in network %s", spec.Name, spec.MAC, owner, nw.spec.Name)
			}
		}
	}
	p := &port{spec: spec, id: uint16(spec.Port), net: nw, added: time.Now()}
	if err := e.setupPort(p); err != nil {
		return fmt.Errorf("port %s: %w", spec.Name, err)
	}
	if nw != nil && spec.MAC != nil {
		if !nw.macs.setStatic(macToU64(spec.MAC), p.id) {
			_ = dpdk.Port(p.id).Stop()
			return fmt.Errorf("port %s: MAC table of network %s has no room for %s", spec.Name, nw.spec.Name, spec.MAC)
		}
	}
	// Assign rx queues to the workers with the fewest.
	p.rxOwner = make([]int, p.rxq)
	for q := range p.rxOwner {
		p.rxOwner[q] = e.leastLoadedWorker()
	}
	e.ports[spec.Name] = p
	e.byID[p.id] = p
	e.log.Info("port added", "port", spec.Name, "ethdev", p.id, "kind", spec.Kind, "network", spec.Network,
		"rxq", p.rxq, "txq", p.txq, "link", p.up)
	return e.publish(ctx)
}

func (e *Engine) setupPort(p *port) error {
	dp := dpdk.Port(p.id)
	info, err := dp.Info()
	if err != nil {
		return err
	}
	p.rxq = min(p.spec.RxQueues, max(info.MaxRxQueues, 1))
	p.txq = min(uint16(len(e.workers)), max(info.MaxTxQueues, 1))
	if p.txq < uint16(len(e.workers)) {
		p.locks = make([]txLock, p.txq)
	}
	conf := dpdk.PortConf{RSS: p.rxq > 1}
	if err := dp.Configure(p.rxq, p.txq, conf); err != nil {
		return err
	}
	for q := range p.rxq {
		if err := dp.RxQueueSetup(q, e.cfg.RxDesc, dpdk.SocketAny, e.cfg.Pool); err != nil {
			return err
		}
	}
	for q := range p.txq {
		if err := dp.TxQueueSetup(q, e.cfg.TxDesc, dpdk.SocketAny); err != nil {
			return err
		}
	}
	if err := dp.Start(); err != nil {
		return err
	}
	_ = dp.SetPromiscuous(true) // not every PMD supports it (virtio_user); it is not needed there
	p.mac, _ = dp.MAC()
	l, _ := dp.Link()
	p.up = l.Up
	return nil
}

// RemovePort takes a port out of forwarding, waits until no worker polls
// or sends to it any more, flushes its MAC entries and stops it. The caller
// then owns the stopped ethdev and removes the device.
func (e *Engine) RemovePort(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.ports[name]
	if !ok {
		return nil
	}
	delete(e.ports, name)
	e.byID[p.id] = nil
	if err := e.publish(ctx); err != nil {
		return err // a worker did not pass a quiescent point: leave the port alone
	}
	for _, n := range e.networks {
		n.macs.flushPort(p.id)
	}
	for _, w := range e.workers {
		w.resetPort(p.id)
	}
	if err := dpdk.Port(p.id).Stop(); err != nil {
		e.log.Warn("stop port", "port", name, "err", err)
	}
	e.log.Info("port removed", "port", name, "ethdev", p.id)
	e.rebalance(ctx)
	return nil
}

func (e *Engine) leastLoadedWorker() int {
	load := e.workerLoad()
	best := 0
	for i := range load {
		if load[i] < load[best] {
			best = i
		}
	}
	return best
}

func (e *Engine) workerLoad() []int {
	load := make([]int, len(e.workers))
	for _, p := range e.ports {
		for _, w := range p.rxOwner {
			load[w]++
		}
	}
	return load
}

// rebalance moves rx queues from the busiest to the least busy worker
// until their counts differ by at most one. A queue is first taken from
// its old worker and published, and only after every worker has passed a
// quiescent point given to the new one, so that no two workers ever poll
// the same queue.
func (e *Engine) rebalance(ctx context.Context) {
	for {
		load := e.workerLoad()
		hi, lo := 0, 0
		for i := range load {
			if load[i] > load[hi] {
				hi = i
			}
			if load[i] < load[lo] {
				lo = i
			}
		}
		if load[hi]-load[lo] <= 1 {
			return
		}
		var mp *port
		mq := -1
		for _, name := range e.sortedPortNames() {
			p := e.ports[name]
			for q, w := range p.rxOwner {
				if w == hi {
					mp, mq = p, q
				}
			}
		}
		mp.rxOwner[mq] = -1
		if err := e.publish(ctx); err != nil {
			mp.rxOwner[mq] = hi
			return
		}
		mp.rxOwner[mq] = lo
		if err := e.publish(ctx); err != nil {
			return
		}
		e.log.Info("rx queue moved", "port", mp.spec.Name, "queue", mq, "from_worker", hi, "to_worker", lo)
	}
}

func (e *Engine) sortedPortNames() []string {
	names := make([]string, 0, len(e.ports))
	for n := range e.ports {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// publish builds a snapshot from the current state, swaps it in and waits
// until every running worker has picked it up. Called with e.mu held.
func (e *Engine) publish(ctx context.Context) error {
	e.gen++
	s := &snapshot{gen: e.gen, rx: make([][]rxQueue, len(e.workers))}
	netNames := make([]string, 0, len(e.networks))
	for n := range e.networks {
		netNames = append(netNames, n)
	}
	sort.Strings(netNames)
	views := map[*network]*netView{}
	for i, name := range netNames {
		n := e.networks[name]
		n.index = i
		v := &netView{macs: n.macs, vlan: n.spec.VLAN, name: name}
		views[n] = v
		s.nets = append(s.nets, v)
		s.vlanNet[n.spec.VLAN] = v
	}
	for _, name := range e.sortedPortNames() {
		p := e.ports[name]
		pv := &portView{id: p.id, trunk: p.spec.Trunk, up: p.up, txq: p.txq, locks: p.locks, rxIfUp: p.spec.Kind == KindMemif}
		if p.net != nil {
			pv.net = views[p.net]
			pv.net.members = append(pv.net.members, p.id)
		}
		s.ports[p.id] = pv
		for q, w := range p.rxOwner {
			if w >= 0 && p.up {
				s.rx[w] = append(s.rx[w], rxQueue{port: p.id, queue: uint16(q)})
			}
		}
	}
	for _, v := range s.nets {
		for _, name := range e.sortedPortNames() {
			if p := e.ports[name]; p.spec.Trunk {
				v.members = append(v.members, p.id)
			}
		}
	}
	e.snap.Store(s)
	return e.waitQuiescent(ctx, s.gen)
}

// waitQuiescent waits until every running worker has started a loop with
// snapshot gen or later, so that nothing of an older snapshot is in use.
func (e *Engine) waitQuiescent(ctx context.Context, gen uint64) error {
	deadline := time.Now().Add(2*time.Second + 2*e.cfg.IdleSleep)
	for _, w := range e.workers {
		for w.running.Load() && w.seen.Load() < gen {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("wait for worker %d: %w", w.id, err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("worker %d (lcore %d) did not pick up configuration %d", w.id, w.lcore, gen)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	return nil
}

// housekeeping advances the clock, follows link state and ages MACs.
func (e *Engine) housekeeping() {
	defer close(e.hkDone)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastAge := time.Now()
	for {
		select {
		case <-e.stopHK:
			return
		case now := <-tick.C:
			e.clock.Store(uint32(now.Sub(e.t0) / time.Second))
			e.mu.Lock()
			if err := e.updateLinks(context.Background()); err != nil {
				e.log.Warn("publish link change", "err", err)
			}
			if now.Sub(lastAge) >= time.Second {
				lastAge = now
				clk := e.clock.Load()
				for _, n := range e.networks {
					n.macs.age(clk, uint32(n.spec.MACAgeing/time.Second))
				}
			}
			e.mu.Unlock()
		}
	}
}

// updateLinks reads every port's link state and publishes a snapshot if
// one changed: workers poll only ports whose link is up. Called with e.mu held.
func (e *Engine) updateLinks(ctx context.Context) error {
	changed := false
	for _, p := range e.ports {
		l, err := dpdk.Port(p.id).Link()
		if err == nil && l.Up != p.up {
			p.up = l.Up
			changed = true
			e.log.Info("link changed", "port", p.spec.Name, "up", l.Up)
		}
	}
	if !changed {
		return nil
	}
	return e.publish(ctx)
}

func macToU64(m net.HardwareAddr) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func u64ToMAC(v uint64) net.HardwareAddr {
	return net.HardwareAddr{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
