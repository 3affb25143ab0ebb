package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// genCPU is the CPU of the kernel-side generator; the DPDK loop runs on
// EAL lcore 1 (CPU 1).
const genCPU = 0

// sample is one measurement of one candidate in one mode.
type sample struct {
	Cand  string `json:"candidate"`
	Mode  string `json:"mode"`
	Round int    `json:"round"`
	// Rates in packets per second over the window.
	GenPPS        float64 `json:"gen_pps,omitempty"`        // generator: frames the kernel took
	GenBusyPS     float64 `json:"gen_busy_per_s,omitempty"` // generator: sendmmsg calls refused (ENOBUFS: backpressure)
	DPDKRxPPS     float64 `json:"dpdk_rx_pps,omitempty"`    // DPDK loop received
	DPDKTxPPS     float64 `json:"dpdk_tx_pps,omitempty"`    // DPDK loop sent (PMD accepted)
	TxRefusedPPS  float64 `json:"tx_refused_pps,omitempty"` // PMD refused (freed)
	KernRxPPS     float64 `json:"kernel_rx_pps,omitempty"`  // pod netdev rx_packets
	KernRxDropPPS float64 `json:"kernel_rx_drop_pps,omitempty"`
	Seconds       float64 `json:"seconds"`
	Load          string  `json:"loadavg"`
}

type result struct {
	Started    time.Time         `json:"started"`
	Kernel     string            `json:"kernel"`
	Duration   string            `json:"duration"`
	Rounds     int               `json:"rounds"`
	Samples    []sample          `json:"samples"`
	Failures   map[string]string `json:"failures,omitempty"` // candidate -> why it does not work
	SetupMs    map[string][]int  `json:"setup_ms,omitempty"` // probe to link up
	Survives   map[string]bool   `json:"netdev_survives_port_removal,omitempty"`
	Leaked     map[string]int    `json:"mbufs_not_returned,omitempty"` // pool in-use growth per candidate run
	VhostNet   string            `json:"vhost_net_facts"`
	GenCPU     int               `json:"generator_cpu"`
	DPDKLcore  uint              `json:"dpdk_lcore"`
	FrameBytes int               `json:"frame_bytes"`
}

func main() {
	var (
		duration = flag.Duration("duration", time.Second, "measurement window per mode")
		warmup   = flag.Duration("warmup", 300*time.Millisecond, "traffic before the window opens")
		rounds   = flag.Int("rounds", 9, "rounds; the candidate order alternates between rounds")
		cands    = flag.String("candidates", strings.Join(defaultCandidates, ","), "candidates to measure: "+strings.Join(allCandidates, ", "))
		jsonOut  = flag.String("json", "", "also write every sample as JSON to this file")
		verbose  = flag.Bool("v", false, "show EAL and PMD logs")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, strings.Split(*cands, ","), *rounds, *duration, *warmup, *jsonOut, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "kernelport:", err)
		os.Exit(1)
	}
}

func runBench(ctx context.Context, cands []string, rounds int, dur, warmup time.Duration, jsonOut string, verbose bool) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, tap, AF_PACKET, XDP)")
	}
	for _, c := range cands {
		if !slices.Contains(allCandidates, c) {
			return fmt.Errorf("unknown candidate %q (have %s)", c, strings.Join(allCandidates, ", "))
		}
	}
	logLevel := "*:error"
	if verbose {
		logLevel = "*:notice"
	}
	prefix := fmt.Sprintf("pwkp%d", os.Getpid())
	err := dpdk.InitOptions(dpdk.Options{
		Lcores: []int{0, 1}, MainLcore: 0, HasMainLcore: true,
		FilePrefix: prefix, InMemory: true, NoPCI: true, NoTelemetry: true, LogLevel: logLevel,
	})
	if err != nil {
		return err
	}
	defer dpdk.Cleanup()
	res := newResult(rounds, dur)
	fmt.Printf("kernel %s, %d-byte frames (+FCS), window %v after %v warm-up, %d rounds; generator cpu %d, DPDK lcore %d; load %s\n",
		res.Kernel, frameLen, dur, warmup, rounds, genCPU, res.DPDKLcore, loadAvg())
	for round := range rounds {
		if err := runRound(ctx, res, cands, prefix, round, dur, warmup); err != nil {
			return err
		}
	}
	printSummary(os.Stdout, res, cands)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newResult starts the record of a run; the EAL must be running.
func newResult(rounds int, dur time.Duration) *result {
	return &result{
		Started: time.Now().UTC(), Kernel: kernelRelease(), Duration: dur.String(), Rounds: rounds,
		Failures: map[string]string{}, SetupMs: map[string][]int{}, Survives: map[string]bool{}, Leaked: map[string]int{},
		VhostNet: vhostNetFacts(), GenCPU: genCPU, DPDKLcore: dpdk.WorkerLcores()[0], FrameBytes: frameLen,
	}
}

// runRound sets up every candidate at once, each in its own namespaces on
// a mempool of its own; measures each mode on all candidates back to back,
// so that the candidates of one mode see nearly the same background load
// (the machine is shared); then tears them down. Teardown reports the
// mbufs that removing a port did not give back (the pool is freed anyway,
// which is how a forwarder can contain such a leak) and whether the pod's
// netdev outlives the DPDK port (it must, for podwired to restart without
// touching pods). The candidate order alternates between rounds and modes.
func runRound(ctx context.Context, res *result, cands []string, prefix string, round int, dur, warmup time.Duration) (err error) {
	type rigPool struct {
		r    *rig
		pool *dpdk.Mempool
	}
	rigs := map[string]rigPool{}
	var order []string
	defer func() {
		for _, c := range order {
			rp := rigs[c]
			if rerr := rp.r.removePort(); rerr != nil && err == nil {
				err = rerr
			}
			res.Leaked[c] += rp.pool.InUse()
			if round == 0 {
				res.Survives[c] = rp.r.podIfExists()
			}
			if cerr := rp.r.Close(); cerr != nil && err == nil {
				err = cerr
			}
			rp.pool.Free()
		}
	}()
	for i, c := range cands {
		if _, failed := res.Failures[c]; failed {
			continue
		}
		pool, err := dpdk.NewMbufPool(fmt.Sprintf("kp%d_%d", round, i), dpdk.MbufPoolConfig{Mbufs: 8191, Cache: 256, Socket: dpdk.SocketAny})
		if err != nil {
			return err
		}
		// Each candidate has its own namespaces: interface names repeat.
		r, err := newRig(c, pool, fmt.Sprintf("%s_%d", prefix, i))
		if err != nil { // newRig has cleaned up after itself
			pool.Free()
			if round == 0 {
				res.Failures[c] = err.Error()
				fmt.Printf("%-10s does not work here: %v\n", c, err)
				continue
			}
			return fmt.Errorf("%s round %d: %w", c, round, err)
		}
		rigs[c] = rigPool{r, pool}
		order = append(order, c)
		res.SetupMs[c] = append(res.SetupMs[c], int(r.setupTime.Milliseconds()))
	}
	for mi, mode := range []loopMode{modeRx, modeTx, modeReflect} {
		mord := slices.Clone(order)
		if (round+mi)%2 == 1 {
			slices.Reverse(mord)
		}
		for _, c := range mord {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rp := rigs[c]
			s, err := measure(rp.r, rp.pool, mode, dur, warmup)
			if err != nil {
				return fmt.Errorf("%s round %d %s: %w", c, round, mode, err)
			}
			s.Round = round
			res.Samples = append(res.Samples, s)
			fmt.Printf("round %d %-10s %-13s %s\n", round, c, s.Mode, s.brief())
		}
	}
	return nil
}

// measure runs one mode for warmup+dur and returns the rates over dur.
func measure(r *rig, pool *dpdk.Mempool, mode loopMode, dur, warmup time.Duration) (sample, error) {
	s := sample{Cand: r.cand, Mode: mode.String()}
	l := &loop{port: r.port, pool: pool, mode: mode, frame: makeFrame(r.podMAC, r.portMAC)}
	stopLoop, err := startLoop(l)
	if err != nil {
		return s, err
	}
	loopStopped := false
	defer func() {
		if !loopStopped {
			_ = stopLoop()
		}
	}()
	var g *generator
	if mode != modeTx {
		gt, err := newNSThread(r.podNS, genCPU)
		if err != nil {
			return s, err
		}
		defer gt.Close()
		frame := makeFrame(r.portMAC, r.podMAC)
		if err := gt.Do(func() (err error) { g, err = newGenerator(podIf, frame); return err }); err != nil {
			return s, err
		}
		gt.Go(g.Run)
		defer func() {
			g.Stop()
			_ = gt.Do(func() error { g.Close(); return nil }) // after Run returned
		}()
	}
	time.Sleep(warmup)
	k0, err := r.podCounters()
	if err != nil {
		return s, err
	}
	rx0, tx0, ref0 := l.c.rx.Load(), l.c.tx.Load(), l.c.txRefused.Load()
	var gen0, busy0 uint64
	if g != nil {
		gen0, busy0 = g.sent.Load(), g.errs.Load()
	}
	t0 := time.Now()
	time.Sleep(dur)
	k1, err := r.podCounters()
	if err != nil {
		return s, err
	}
	rx1, tx1, ref1 := l.c.rx.Load(), l.c.tx.Load(), l.c.txRefused.Load()
	var gen1, busy1 uint64
	if g != nil {
		gen1, busy1 = g.sent.Load(), g.errs.Load()
	}
	secs := time.Since(t0).Seconds()
	loopStopped = true
	if err := stopLoop(); err != nil {
		return s, err
	}
	rate := func(a, b uint64) float64 { return float64(b-a) / secs }
	s.Seconds = secs
	s.GenPPS = rate(gen0, gen1)
	s.GenBusyPS = rate(busy0, busy1)
	s.DPDKRxPPS = rate(rx0, rx1)
	s.DPDKTxPPS = rate(tx0, tx1)
	s.TxRefusedPPS = rate(ref0, ref1)
	if mode != modeRx {
		s.KernRxPPS = rate(k0.RxPackets, k1.RxPackets)
		s.KernRxDropPPS = rate(k0.RxDropped, k1.RxDropped)
	}
	s.Load = loadAvg()
	return s, nil
}

func mpps(v float64) string { return fmt.Sprintf("%.3f", v/1e6) }

// brief is one line of a sample for the progress output.
func (s sample) brief() string {
	switch s.Mode {
	case modeRx.String():
		return fmt.Sprintf("dpdk rx %s Mpps (generator %s, refused %.0f calls/s)  load %s", mpps(s.DPDKRxPPS), mpps(s.GenPPS), s.GenBusyPS, s.Load)
	case modeTx.String():
		return fmt.Sprintf("kernel rx %s Mpps (dpdk tx %s, refused %s, kernel drop %s)  load %s",
			mpps(s.KernRxPPS), mpps(s.DPDKTxPPS), mpps(s.TxRefusedPPS), mpps(s.KernRxDropPPS), s.Load)
	}
	return fmt.Sprintf("k->d %s, d->k %s Mpps (generator %s, dpdk tx %s)  load %s",
		mpps(s.DPDKRxPPS), mpps(s.KernRxPPS), mpps(s.GenPPS), mpps(s.DPDKTxPPS), s.Load)
}

// stat is median, min and max.
type stat struct{ med, lo, hi float64 }

func summarize(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med: med, lo: s[0], hi: s[len(s)-1]}
}

func (s stat) String() string {
	return fmt.Sprintf("%.3f (%.3f-%.3f)", s.med/1e6, s.lo/1e6, s.hi/1e6)
}

// ref is the candidate the others are compared with, round by round: the
// one the project had verified before (af_packet on a veth).
const ref = candAFPacket

// ratioStat is a median (min-max) of ratios.
type ratioStat struct{ s stat }

func (r ratioStat) String() string {
	if r.s == (stat{}) {
		return "-"
	}
	return fmt.Sprintf("%.2f (%.2f-%.2f)", r.s.med, r.s.lo, r.s.hi)
}

// ratios compares candidate c with ref in each round, for one mode and
// metric.
func ratios(res *result, c string, mode loopMode, f func(sample) float64) ratioStat {
	byRound := map[int]float64{}
	for _, s := range res.Samples {
		if s.Cand == ref && s.Mode == mode.String() {
			byRound[s.Round] = f(s)
		}
	}
	var v []float64
	for _, s := range res.Samples {
		if s.Cand == c && s.Mode == mode.String() && byRound[s.Round] > 0 {
			v = append(v, f(s)/byRound[s.Round])
		}
	}
	return ratioStat{summarize(v)}
}

// printSummary prints one row per candidate: medians (min-max) in Mpps.
func printSummary(w io.Writer, res *result, cands []string) {
	fmt.Fprintf(w, "\nMpps, median (min-max) over %d rounds of %s:\n", res.Rounds, res.Duration)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "candidate\tk->d: dpdk rx\t(generator)\td->k: kernel rx\t(dpdk tx)\treflect k->d\treflect d->k\tsetup ms\tnetdev survives port removal")
	for _, c := range cands {
		if why, ok := res.Failures[c]; ok {
			fmt.Fprintf(tw, "%s\tdoes not work: %s\n", c, why)
			continue
		}
		get := func(mode loopMode, f func(sample) float64) stat {
			var v []float64
			for _, s := range res.Samples {
				if s.Cand == c && s.Mode == mode.String() {
					v = append(v, f(s))
				}
			}
			return summarize(v)
		}
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\n", c,
			get(modeRx, func(s sample) float64 { return s.DPDKRxPPS }),
			get(modeRx, func(s sample) float64 { return s.GenPPS }),
			get(modeTx, func(s sample) float64 { return s.KernRxPPS }),
			get(modeTx, func(s sample) float64 { return s.DPDKTxPPS }),
			get(modeReflect, func(s sample) float64 { return s.DPDKRxPPS }),
			get(modeReflect, func(s sample) float64 { return s.KernRxPPS }),
			res.SetupMs[c], res.Survives[c])
	}
	tw.Flush()
	if slices.Contains(cands, ref) {
		fmt.Fprintf(w, "\nratio to %s in the same round and mode, median (min-max):\n", ref)
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "candidate\tk->d: dpdk rx\td->k: kernel rx\treflect")
		for _, c := range cands {
			if _, failed := res.Failures[c]; failed || c == ref {
				continue
			}
			fmt.Fprintf(tw, "%s\t%v\t%v\t%v\n", c,
				ratios(res, c, modeRx, func(s sample) float64 { return s.DPDKRxPPS }),
				ratios(res, c, modeTx, func(s sample) float64 { return s.KernRxPPS }),
				ratios(res, c, modeReflect, func(s sample) float64 { return s.KernRxPPS }))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "vhost-net: %s\n", res.VhostNet)
	for _, c := range cands {
		if n := res.Leaked[c]; n != 0 {
			fmt.Fprintf(w, "%s: %d mbufs not returned to the port's pool when it was removed (%d runs; the pools were freed)\n",
				c, n, len(res.SetupMs[c]))
		}
	}
}
