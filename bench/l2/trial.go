package l2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/bench/iofwd"
	"github.com/podwire/podwire/internal/syncbuf"
)

// Sides.
const (
	SidePodwired = "podwired"
	SideTestpmd  = "testpmd-mac"
)

// Trial is one side's figures for one trial.
type Trial struct {
	// Measurement is the forwarder's total RX packets of both ports over
	// the window, and the forwarding thread's share of cpu 1.
	iofwd.Measurement
	// PodCPUShare is the pod's forwarding thread's share of cpu 0; -1 if
	// unknown.
	PodCPUShare float64 `json:"pod_cpu_share"`
	// FwdCtlShare is what the forwarder's other threads (control plane,
	// Go runtime) used, in cpus, -1 if unknown. They run on cpu 0, beside
	// the pod: podwired's Go runtime takes a few percent there, testpmd's
	// CLI thread nothing.
	FwdCtlShare float64 `json:"fwd_ctl_share"`
	// Steal is the largest share of the window the hypervisor took from
	// cpu 0 or cpu 1 (/proc/stat); -1 if unknown.
	Steal float64 `json:"steal"`
	// SetupSeconds runs from starting the forwarder to the pod's tx_first.
	SetupSeconds float64 `json:"setup_seconds"`
	// BusyBefore is how busy the busier of cpu 0 and 1 was (other
	// processes: ours were not running) just before the trial; -1 unknown.
	BusyBefore float64 `json:"busy_before"`
	// Tries is how many attempts the trial took (see MaxTries);
	// TrialSeconds is how long the last one took, waiting for quiet
	// included.
	Tries        int     `json:"tries"`
	TrialSeconds float64 `json:"trial_seconds"`
	// Pod is the pod's forward statistics from the start of the window to
	// its stop, just after the window.
	Pod FwdStats `json:"pod"`
	// PodPktsPerPoll is the mean rx burst of the pod, empty polls included.
	PodPktsPerPoll float64 `json:"pod_pkts_per_poll"`
	// FwdDrops are podwired's drops by reason over the window.
	FwdDrops map[string]uint64 `json:"fwd_drops,omitempty"`
	// Worker is podwired's worker over the window.
	Worker *WorkerWindow `json:"worker,omitempty"`
	// Fwd is testpmd's forward statistics from the start of the window to
	// its stop.
	Fwd *FwdStats `json:"fwd,omitempty"`
	// ReportedMpps is testpmd's own total Rx-pps at the second show.
	ReportedMpps float64 `json:"reported_mpps,omitempty"`
	// GC is podwired's Go runtime over the window, in GC runs.
	GC *GCWindow `json:"gc,omitempty"`
	// PID is the forwarder's process (podwired or testpmd), PodPID the pod's.
	PID    int `json:"pid"`
	PodPID int `json:"pod_pid"`
}

// WorkerWindow is podwired's worker (GET /v1/workers) over the window.
type WorkerWindow struct {
	Loops   uint64 `json:"loops"`
	Packets uint64 `json:"packets"`
	// PktsPerPoll is packets per rx burst, empty polls included: packets /
	// (loops * 2 rx queues). Burst caps it.
	PktsPerPoll float64 `json:"pkts_per_poll"`
	// MLoopsPerSec is loop iterations per second, in millions.
	MLoopsPerSec float64 `json:"mloops_per_sec"`
	// Busy is podwired's recent busy share at the end, in percent.
	Busy float64 `json:"busy"`
}

// GCWindow is podwired's Go runtime counters (Prometheus Go collector)
// over a window.
type GCWindow struct {
	// Cycles are completed GC cycles (go_gc_duration_seconds_count).
	Cycles float64 `json:"cycles"`
	// Mallocs are heap allocations (go_memstats_mallocs_total) in the whole
	// process: API and metrics requests included.
	Mallocs float64 `json:"mallocs"`
}

// errBackwards is a counter that decreased within a window (a port's
// counters reset when its peer went away).
var errBackwards = errors.New("rx packets went backwards")

// ContendedShare is iofwd's: below it a thread did not have its cpu.
const ContendedShare = iofwd.ContendedShare

// MaxSteal is the steal share above which a trial counts as contended.
const MaxSteal = 0.05

// Contended reports whether something other than the forwarder and the
// pod had the cpus during the window: the forwarding thread below
// ContendedShare of cpu 1, the pod's thread and the forwarder's other
// threads together below it on cpu 0, or steal above MaxSteal.
func (t Trial) Contended() bool {
	low := func(s float64) bool { return s >= 0 && s < ContendedShare }
	cpu0 := t.PodCPUShare
	if cpu0 >= 0 && t.FwdCtlShare > 0 {
		cpu0 += t.FwdCtlShare
	}
	return low(t.FwdCPUShare) || low(cpu0) || t.Steal > MaxSteal
}

// Note is a one-line summary of the diagnostics, for progress lines.
func (t Trial) Note() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cpu fwd %s pod %s fwd-ctl %s steal %s, busy before %s; pod rx %.1f/poll, tx drops %d",
		iofwd.FormatShare(t.FwdCPUShare), iofwd.FormatShare(t.PodCPUShare), iofwd.FormatShare(t.FwdCtlShare), iofwd.FormatShare(t.Steal),
		iofwd.FormatShare(t.BusyBefore), t.PodPktsPerPoll, t.Pod.TxDropped)
	if t.Tries > 1 {
		fmt.Fprintf(&b, "; try %d", t.Tries)
	}
	if w := t.Worker; w != nil {
		fmt.Fprintf(&b, "; worker %.1f pkts/poll, %.2f Mloops/s", w.PktsPerPoll, w.MLoopsPerSec)
	}
	if f := t.Fwd; f != nil {
		if f.RxBursts > 0 {
			fmt.Fprintf(&b, "; fwd %.1f pkts/poll", f.PktsPerPoll())
		}
		fmt.Fprintf(&b, "; fwd tx drops %d", f.TxDropped)
	}
	if n := sumDrops(t.FwdDrops); n > 0 {
		fmt.Fprintf(&b, "; fwd drops %v", t.FwdDrops)
	}
	if g := t.GC; g != nil {
		fmt.Fprintf(&b, "; gc cycles %.0f, mallocs %.0f", g.Cycles, g.Mallocs)
	}
	return b.String()
}

func sumDrops(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// podwiredProc is one podwired process with its own directory.
type podwiredProc struct {
	prefix string // EAL file prefix
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	done   chan struct{}
	client *api.Client
}

func (r *runner) startPodwired(ctx context.Context, dir string, metrics bool) (*podwiredProc, error) {
	cfg := filepath.Join(dir, "podwired.yaml")
	prefix := r.nextPrefix("pw")
	if err := os.WriteFile(cfg, []byte(PodwiredConfig(r.setup, prefix, dir, metrics)), 0o644); err != nil {
		return nil, err
	}
	p := &podwiredProc{prefix: prefix, log: &syncbuf.Buffer{}, done: make(chan struct{}), client: api.New(filepath.Join(dir, "api.sock"))}
	p.cmd = exec.Command(r.podwired, PodwiredFlags(cfg)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start podwired: %w", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := p.client.Status(cctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, p.fail("start-up", fmt.Errorf("exited: %v", p.cmd.ProcessState))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.kill()
			return nil, p.fail("start-up", fmt.Errorf("API not up: %w", errors.Join(err, ctx.Err())))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			p.kill()
			return nil, err
		}
	}
}

func (p *podwiredProc) fail(what string, err error) error {
	return fmt.Errorf("podwired (pid %d) %s: %w\n--- podwired log (last 20 lines) ---\n%s", p.cmd.Process.Pid, what, err, tail(p.log.String(), 20))
}

// stop sends SIGTERM and waits for podwired to exit, then SIGKILL. A
// non-zero exit is an error: podwired must shut down cleanly.
func (p *podwiredProc) stop() error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.kill()
			return p.fail("stop", errors.New("no exit 15 s after SIGTERM; killed"))
		}
	}
	if !p.cmd.ProcessState.Success() {
		return p.fail("stop", fmt.Errorf("exit: %v", p.cmd.ProcessState))
	}
	return nil
}

// kill ends podwired by its PID if it still runs and removes its EAL
// runtime directory (the prefix is its own).
func (p *podwiredProc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = os.RemoveAll(iofwd.RuntimeDir(p.prefix))
}

// sample is podwired's counters at one time.
type sample struct {
	t       time.Time
	rx      uint64
	drops   map[string]uint64
	loops   uint64
	packets uint64
	busy    float64
}

func (p *podwiredProc) sample(ctx context.Context, ports []string) (sample, error) {
	t0 := time.Now()
	l, err := p.client.Ports(ctx)
	t1 := time.Now()
	if err != nil {
		return sample{}, p.fail("ports", err)
	}
	s := sample{t: t0.Add(t1.Sub(t0) / 2), drops: map[string]uint64{}}
	found := 0
	for _, pt := range l {
		for _, name := range ports {
			if pt.Name == name {
				found++
				s.rx += pt.Counters.RxPackets
				for k, v := range pt.Counters.Drops {
					s.drops[k] += v
				}
			}
		}
	}
	if found != len(ports) {
		return sample{}, p.fail("ports", fmt.Errorf("%d of the ports %v listed", found, ports))
	}
	ws, err := p.client.Workers(ctx)
	if err != nil {
		return sample{}, p.fail("workers", err)
	}
	for _, w := range ws {
		if w.Lcore == FwdLcore {
			s.loops, s.packets, s.busy = w.Loops, w.Packets, w.Busy
		}
	}
	return s, nil
}

// gcCounters scrapes podwired's metrics for the Go runtime's counters.
func (p *podwiredProc) gcCounters(ctx context.Context) (GCWindow, error) {
	addr := MetricsAddr(p.log.String())
	if addr == "" {
		return GCWindow{}, p.fail("metrics", errors.New("no metrics address in the log"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return GCWindow{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return GCWindow{}, p.fail("metrics", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return GCWindow{}, p.fail("metrics", fmt.Errorf("status %s: %v", resp.Status, err))
	}
	m, err := ParseMetrics(string(body), "go_gc_duration_seconds_count", "go_memstats_mallocs_total")
	if err != nil {
		return GCWindow{}, p.fail("metrics", err)
	}
	return GCWindow{Cycles: m["go_gc_duration_seconds_count"], Mallocs: m["go_memstats_mallocs_total"]}, nil
}

// podwiredTrial: podwired with two attachments (static MACs, network
// "default"), the pod on their sockets, the loop started, the window
// measured from the API's port counters. With gc, podwired serves metrics
// and the Go runtime's counters are read around the window.
func (r *runner) podwiredTrial(ctx context.Context, s Scenario, warmup, window time.Duration, gc bool) (res Trial, err error) {
	dir, err := os.MkdirTemp("", "pwl2")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	pw, err := r.startPodwired(ctx, dir, gc)
	if err != nil {
		return res, err
	}
	res.PID = pw.cmd.Process.Pid
	var pd *pod
	// Teardown: the pod stops forwarding (below), podwired goes first
	// (it stops polling before the memif peers go away), then the pod.
	defer func() {
		if serr := pw.stop(); serr != nil && err == nil {
			err = serr
		}
		pw.kill()
		if pd != nil {
			pd.Close()
		}
	}()
	var sockets [2]string
	var names []string
	for i := range 2 {
		a := api.Attachment{ContainerID: "l2pod", IfName: fmt.Sprintf("net%d", i), Network: "default", MAC: PodMACs[i]}
		if s.Kind == Memif {
			a.Kind = api.KindMemif
		} else {
			a.Kind, a.VhostMode = api.KindVhostUser, api.VhostServer
		}
		got, err := pw.client.PutAttachment(ctx, a)
		if err != nil {
			return res, pw.fail("attach", err)
		}
		sockets[i], names = got.SocketPath, append(names, got.PortName)
	}
	if pd, err = r.startPod(ctx, s, sockets); err != nil {
		return res, err
	}
	res.PodPID = pd.PID()
	if err := waitLinks(ctx, pd.Process, 15*time.Second); err != nil {
		return res, err
	}
	if err := pw.waitUp(ctx, 15*time.Second); err != nil {
		return res, err
	}
	if err := pd.startLoop(ctx, r.setup.TxFirst); err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(start).Seconds()
	if err := sleep(ctx, warmup); err != nil {
		return res, err
	}
	fwdShare, podShare := threadShare(res.PID, fmt.Sprintf("rte-worker-%d", FwdLcore)), threadShare(pd.PID(), fmt.Sprintf("rte-worker-%d", PodLcore))
	if err := clearFwdStats(ctx, pd.Process); err != nil {
		return res, err
	}
	var steal stealMeter
	var all procShare
	steal.start()
	all.start(res.PID)
	var g0 GCWindow
	if gc {
		if g0, err = pw.gcCounters(ctx); err != nil {
			return res, err
		}
	}
	s0, err := pw.sample(ctx, names)
	if err != nil {
		return res, err
	}
	if err := sleep(ctx, time.Until(s0.t.Add(window))); err != nil {
		return res, err
	}
	s1, err := pw.sample(ctx, names)
	if err != nil {
		return res, err
	}
	if gc {
		g1, err := pw.gcCounters(ctx)
		if err != nil {
			return res, err
		}
		res.GC = &GCWindow{Cycles: g1.Cycles - g0.Cycles, Mallocs: g1.Mallocs - g0.Mallocs}
	}
	res.PodCPUShare, res.Steal = podShare.Stop(), steal.stop()
	fwdCPU, allCPU := fwdShare.Stop(), all.stop()
	res.FwdCtlShare = ctlShare(allCPU, fwdCPU)
	if res.Pod, err = stopFwd(ctx, pd.Process); err != nil {
		return res, err
	}
	res.PodPktsPerPoll = res.Pod.PktsPerPoll()
	if s1.rx < s0.rx || s1.loops < s0.loops {
		return res, pw.fail("counters", errBackwards)
	}
	m, err := measure(s1.rx-s0.rx, s1.t.Sub(s0.t))
	if err != nil {
		return res, err
	}
	res.Measurement, res.FwdCPUShare = m, fwdCPU
	res.FwdDrops = map[string]uint64{}
	for k, v := range s1.drops {
		if d := v - s0.drops[k]; d > 0 {
			res.FwdDrops[k] = d
		}
	}
	w := &WorkerWindow{Loops: s1.loops - s0.loops, Packets: s1.packets - s0.packets, Busy: s1.busy}
	if w.Loops > 0 {
		w.PktsPerPoll = float64(w.Packets) / float64(w.Loops) / 2
	}
	w.MLoopsPerSec = float64(w.Loops) / m.Seconds / 1e6
	res.Worker = w
	return res, nil
}

// waitUp waits until every attachment is up (the pod connected).
func (p *podwiredProc) waitUp(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := p.client.Attachments(ctx)
		if err != nil {
			return p.fail("attachments", err)
		}
		up := 0
		for _, a := range l {
			if a.State == api.StateUp {
				up++
			}
		}
		if up == len(l) && up > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return p.fail("attachments", fmt.Errorf("%d of %d up after %v: %+v", up, len(l), timeout, l))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// testpmdTrial: testpmd --forward-mode=mac in podwired's place, the same
// pod on its sockets, the window measured from testpmd's port stats.
func (r *runner) testpmdTrial(ctx context.Context, s Scenario, warmup, window time.Duration) (res Trial, err error) {
	dir, err := os.MkdirTemp("", "pwl2")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	prefix := r.nextPrefix("fwd")
	fwd, err := r.testpmdProc(ctx, FwdTestpmdArgs(s, r.setup, prefix, dir, r.burstStats), prefix)
	if err != nil {
		return res, fmt.Errorf("forwarder: %w", err)
	}
	res.PID = fwd.PID()
	var pd *pod
	// Teardown: both stop forwarding (below), the forwarder quits first,
	// then the pod (see podwiredTrial).
	defer func() {
		fwd.Close()
		if pd != nil {
			pd.Close()
		}
	}()
	if _, err := fwd.Do(ctx, "start"); err != nil {
		return res, fwd.Fail("start", err)
	}
	var sockets [2]string
	for i, name := range socketNames(s.Kind) {
		sockets[i] = filepath.Join(dir, name)
	}
	if pd, err = r.startPod(ctx, s, sockets); err != nil {
		return res, err
	}
	res.PodPID = pd.PID()
	if err := waitLinks(ctx, pd.Process, 15*time.Second); err != nil {
		return res, err
	}
	if err := waitLinks(ctx, fwd, 15*time.Second); err != nil {
		return res, err
	}
	if err := pd.startLoop(ctx, r.setup.TxFirst); err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(start).Seconds()
	if err := sleep(ctx, warmup); err != nil {
		return res, err
	}
	fwdShare, podShare := threadShare(res.PID, fmt.Sprintf("rte-worker-%d", FwdLcore)), threadShare(pd.PID(), fmt.Sprintf("rte-worker-%d", PodLcore))
	for _, p := range []*iofwd.Process{pd.Process, fwd} {
		if err := clearFwdStats(ctx, p); err != nil {
			return res, err
		}
	}
	var steal stealMeter
	var all procShare
	steal.start()
	all.start(res.PID)
	mark := fwd.Mark()
	t0, err := fwd.Do(ctx, "show port stats all")
	if err != nil {
		return res, fwd.Fail("show port stats", err)
	}
	if err := sleep(ctx, time.Until(t0.Add(window))); err != nil {
		return res, err
	}
	t1, err := fwd.Do(ctx, "show port stats all")
	if err != nil {
		return res, fwd.Fail("show port stats", err)
	}
	res.FwdCPUShare, res.PodCPUShare, res.Steal = fwdShare.Stop(), podShare.Stop(), steal.stop()
	res.FwdCtlShare = ctlShare(all.stop(), res.FwdCPUShare)
	shows := fwd.Output(mark)
	if res.Pod, err = stopFwd(ctx, pd.Process); err != nil {
		return res, err
	}
	res.PodPktsPerPoll = res.Pod.PktsPerPoll()
	fs, err := stopFwd(ctx, fwd)
	if err != nil {
		return res, err
	}
	res.Fwd = &fs
	if err := fwd.Quit(ctx); err != nil {
		return res, fwd.Fail("quit", err)
	}
	snaps, err := iofwd.ParsePortStats(shows)
	if err != nil {
		return res, fwd.Fail("output", err)
	}
	if len(snaps) != 2 {
		return res, fwd.Fail("output", fmt.Errorf("%d port stats snapshots, want 2", len(snaps)))
	}
	delta, err := iofwd.RxDelta(snaps[0], snaps[1], []int{0, 1})
	if err != nil {
		return res, fwd.Fail("output", err)
	}
	res.ReportedMpps = float64(snaps[1].RxPPS()) / 1e6
	cpu := res.FwdCPUShare
	if res.Measurement, err = measure(delta, t1.Sub(t0)); err != nil {
		return res, err
	}
	res.FwdCPUShare = cpu
	return res, nil
}

// ctlShare is the share of the forwarder's threads but the worker, -1 if
// either is unknown.
func ctlShare(all, worker float64) float64 {
	if all < 0 || worker < 0 {
		return -1
	}
	return max(0, all-worker)
}

func measure(packets uint64, d time.Duration) (iofwd.Measurement, error) {
	if d <= 0 {
		return iofwd.Measurement{}, fmt.Errorf("measured window is %v", d)
	}
	sec := d.Seconds()
	return iofwd.Measurement{Packets: packets, Seconds: sec, Mpps: float64(packets) / sec / 1e6, FwdCPUShare: -1}, nil
}
