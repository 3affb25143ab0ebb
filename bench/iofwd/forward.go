package iofwd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// The EAL layout both sides use: lcores 0 and 1, main lcore 0 (idle in the
// control plane, or in testpmd's CLI), forwarding on lcore 1, which EAL pins
// to cpu 1.
const (
	MainLcore = 0
	FwdLcore  = 1
)

// Vdevs are the two ports both sides forward between.
var Vdevs = []string{"net_null0", "net_null1"}

// Setup is what both sides share.
type Setup struct {
	// Mbufs is the size of the one mbuf pool (testpmd --total-num-mbufs).
	Mbufs uint32
	// Cache is the per-lcore mempool cache (testpmd --mbcache).
	Cache uint32
	// Burst is the rx and tx burst size (testpmd --burst).
	Burst int
}

// DefaultSetup is burst 32 and a pool of 8191 mbufs (2^13-1) with a
// 256-mbuf per-lcore cache.
var DefaultSetup = Setup{Mbufs: 8191, Cache: 256, Burst: 32}

func (s Setup) validate() error {
	if s.Burst < 1 || s.Burst > 512 {
		return fmt.Errorf("burst %d out of range 1..512", s.Burst)
	}
	// testpmd refuses --total-num-mbufs <= 1024.
	if s.Mbufs <= 1024 {
		return fmt.Errorf("mbufs %d: must be above 1024", s.Mbufs)
	}
	if s.Cache > 512 {
		return fmt.Errorf("mempool cache %d above 512", s.Cache)
	}
	return nil
}

// EALArgs are the EAL arguments of both sides with a file prefix.
func EALArgs(prefix string) []string {
	a := []string{"-l", strconv.Itoa(MainLcore) + "," + strconv.Itoa(FwdLcore),
		"--main-lcore", strconv.Itoa(MainLcore), "--no-pci", "--in-memory", "--file-prefix", prefix}
	for _, v := range Vdevs {
		a = append(a, "--vdev="+v)
	}
	return a
}

// Measurement is one side's figure for one trial: the total RX packets of
// both ports over the measured window.
type Measurement struct {
	Packets uint64  `json:"packets"`
	Seconds float64 `json:"seconds"`
	Mpps    float64 `json:"mpps"`
	// FwdCPUShare is the share of the window the forwarding thread ran on
	// its cpu (from /proc schedstat), -1 if unknown. Below ContendedShare
	// something else took the cpu: a noisy trial.
	FwdCPUShare float64 `json:"fwd_cpu_share"`
}

func measure(packets uint64, d time.Duration) (Measurement, error) {
	if d <= 0 {
		return Measurement{}, fmt.Errorf("measured window is %v", d)
	}
	s := d.Seconds()
	return Measurement{Packets: packets, Seconds: s, Mpps: float64(packets) / s / 1e6, FwdCPUShare: -1}, nil
}

// Forwarder is the Go io forward loop between two ports on one EAL worker
// lcore, and the EAL, pool and ports it needs.
type Forwarder struct {
	log    *slog.Logger
	setup  Setup
	pool   *dpdk.Mempool
	ports  []dpdk.Port // the ports set up so far, for Close
	a, b   dpdk.Port
	ab, ba *dpdk.MbufArray // burst arrays in C memory, one per direction
	lcore  uint
	prefix string // EAL file prefix

	stop    atomic.Bool
	dropped atomic.Uint64 // packets tx refused and the loop freed; loop writes
	tid     atomic.Int32  // the loop's thread, set when it starts
	running bool
}

// NewForwarder initializes the EAL in this process with EALArgs (a file
// prefix unique to the process), creates the pool and starts both ports with
// one rx and one tx queue of the driver's default size, as testpmd does. It
// can be called once per process. The caller must Close the Forwarder.
func NewForwarder(log *slog.Logger, s Setup) (*Forwarder, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	o := dpdk.Options{
		Lcores:       []int{MainLcore, FwdLcore},
		MainLcore:    MainLcore,
		HasMainLcore: true,
		FilePrefix:   fmt.Sprintf("pwiofwd%d", os.Getpid()),
		InMemory:     true,
		NoPCI:        true,
		Vdevs:        Vdevs,
	}
	if err := dpdk.InitOptions(o); err != nil {
		return nil, fmt.Errorf("eal init: %w", err)
	}
	// Keep the Go runtime's threads off the forwarding core, as podwired
	// does: testpmd's forwarding thread has its core to itself too.
	if n, err := dpdk.ConfineThreads([]int{MainLcore}); err != nil {
		log.Warn("confine threads", "err", err)
	} else {
		log.Debug("threads confined to the main lcore's cpu", "threads", n)
	}
	f := &Forwarder{log: log, setup: s, lcore: FwdLcore, prefix: o.FilePrefix}
	if err := f.init(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Forwarder) init() error {
	if cpu := dpdk.LcoreCPU(f.lcore); cpu != FwdLcore {
		return fmt.Errorf("lcore %d runs on cpu %d, want cpu %d", f.lcore, cpu, FwdLcore)
	}
	var err error
	f.pool, err = dpdk.NewMbufPool("pwiofwd", dpdk.MbufPoolConfig{Mbufs: f.setup.Mbufs, Cache: f.setup.Cache, Socket: dpdk.SocketAny})
	if err != nil {
		return fmt.Errorf("mbuf pool: %w", err)
	}
	for _, v := range Vdevs {
		p, err := dpdk.PortByName(v)
		if err != nil {
			return fmt.Errorf("port %s: %w", v, err)
		}
		f.ports = append(f.ports, p)
		if err := startPort(p, f.pool); err != nil {
			return err
		}
		f.log.Info("port started", "port", p, "vdev", v)
	}
	f.a, f.b = f.ports[0], f.ports[1]
	f.ab, f.ba = dpdk.NewMbufArray(f.setup.Burst), dpdk.NewMbufArray(f.setup.Burst)
	return nil
}

func startPort(p dpdk.Port, mp *dpdk.Mempool) error {
	if err := p.Configure(1, 1, dpdk.PortConf{}); err != nil {
		return fmt.Errorf("configure port %d: %w", p, err)
	}
	// 0 descriptors: the driver's default, as testpmd uses.
	if err := p.RxQueueSetup(0, 0, dpdk.SocketAny, mp); err != nil {
		return fmt.Errorf("rx queue of port %d: %w", p, err)
	}
	if err := p.TxQueueSetup(0, 0, dpdk.SocketAny); err != nil {
		return fmt.Errorf("tx queue of port %d: %w", p, err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("start port %d: %w", p, err)
	}
	return nil
}

// Start launches the forward loop on the forwarding lcore.
func (f *Forwarder) Start() error {
	if f.running {
		return errors.New("forwarder already running")
	}
	f.stop.Store(false)
	f.tid.Store(0)
	if err := dpdk.Launch(f.lcore, f.run); err != nil {
		return fmt.Errorf("launch forward loop: %w", err)
	}
	f.running = true
	f.log.Debug("forward loop started", "lcore", f.lcore)
	return nil
}

// Stop makes the loop return and waits until the lcore is idle again.
func (f *Forwarder) Stop() error {
	if !f.running {
		return nil
	}
	f.stop.Store(true)
	err := dpdk.Wait(f.lcore)
	f.running = false
	if err != nil {
		return fmt.Errorf("forward loop on lcore %d: %w", f.lcore, err)
	}
	return nil
}

// run is the forward loop. It allocates nothing; one atomic load of the stop
// flag per iteration.
func (f *Forwarder) run() error {
	f.tid.Store(int32(syscall.Gettid()))
	for !f.stop.Load() {
		f.poll()
	}
	return nil
}

// poll is one iteration: A -> B, then B -> A.
func (f *Forwarder) poll() {
	f.forward(f.a, f.b, f.ab.Pkts)
	f.forward(f.b, f.a, f.ba.Pkts)
}

// forward moves one burst from rx to tx: one cgo call each, and a third to
// free what tx refused, which is counted.
func (f *Forwarder) forward(rx, tx dpdk.Port, pkts []*dpdk.Mbuf) {
	n := rx.RxBurst(0, pkts)
	if n == 0 {
		return
	}
	if sent := tx.TxBurst(0, pkts[:n]); sent < n {
		dpdk.FreeBulk(pkts[sent:n])
		f.dropped.Add(uint64(n - sent))
	}
}

// Dropped is the number of packets tx refused and the loop freed, since the
// Forwarder was made.
func (f *Forwarder) Dropped() uint64 { return f.dropped.Load() }

// RxPackets is the total ethdev RX packet counter of both ports.
func (f *Forwarder) RxPackets() (uint64, error) {
	var n uint64
	for _, p := range []dpdk.Port{f.a, f.b} {
		s, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("stats of port %d: %w", p, err)
		}
		n += s.IPackets
	}
	return n, nil
}

// sample reads RxPackets and the time in the middle of the read.
func (f *Forwarder) sample() (uint64, time.Time, error) {
	t0 := time.Now()
	n, err := f.RxPackets()
	t1 := time.Now()
	return n, t0.Add(t1.Sub(t0) / 2), err
}

// Trial starts the loop, lets it warm up, measures the RX rate of both ports
// over window and stops the loop again. It also returns how many packets tx
// refused during the trial.
func (f *Forwarder) Trial(ctx context.Context, warmup, window time.Duration) (m Measurement, dropped uint64, err error) {
	d0 := f.Dropped()
	if err := f.Start(); err != nil {
		return m, 0, err
	}
	defer func() {
		if serr := f.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := sleep(ctx, warmup); err != nil {
		return m, 0, err
	}
	var share CPUShare
	share.Start(os.Getpid(), int(f.tid.Load()))
	n0, t0, err := f.sample()
	if err != nil {
		return m, 0, err
	}
	if err := sleep(ctx, time.Until(t0.Add(window))); err != nil {
		return m, 0, err
	}
	n1, t1, err := f.sample()
	if err != nil {
		return m, 0, err
	}
	cpu := share.Stop()
	if err := f.Stop(); err != nil {
		return m, 0, err
	}
	if n1 < n0 {
		return m, 0, fmt.Errorf("rx packets went backwards: %d, then %d", n0, n1)
	}
	m, err = measure(n1-n0, t1.Sub(t0))
	m.FwdCPUShare = cpu
	return m, f.Dropped() - d0, err
}

// Close stops the loop, stops and closes the ports, frees the pool and the
// burst arrays and cleans the EAL up.
func (f *Forwarder) Close() error {
	errs := []error{f.Stop()}
	for _, p := range f.ports {
		if err := p.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop port %d: %w", p, err))
		}
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close port %d: %w", p, err))
		}
	}
	if f.pool != nil {
		if n := f.pool.InUse(); n != 0 {
			errs = append(errs, fmt.Errorf("mempool: %d mbufs still in use", n))
		}
		f.pool.Free()
		f.pool = nil
	}
	for _, a := range []*dpdk.MbufArray{f.ab, f.ba} {
		if a != nil {
			a.Free()
		}
	}
	dir := dpdk.RuntimeDir()
	if err := dpdk.Cleanup(); err != nil {
		errs = append(errs, fmt.Errorf("eal cleanup: %w", err))
	}
	// dpdk.Cleanup removes the runtime directory only when empty, but the
	// telemetry socket in it is unlinked by an atexit handler that a Go
	// exit never runs. The prefix is this process's own.
	if dir != "" && filepath.Base(dir) == f.prefix {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("eal runtime directory: %w", err))
		}
	}
	return errors.Join(errs...)
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
