package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/podwire/podwire/dpdk"
)

const (
	prog = "podwire-demo"

	mainLcore = 0 // EAL main thread: idle in the demo
	fwdLcore  = 1 // the Go forwarding loop; testpmd forwards on CPU 0

	poolMbufs = 8191 // 2^13-1; 1024 in flight plus rx/tx rings and caches
	poolCache = 256
	ringDescs = 1024

	linkTimeout = 15 * time.Second // testpmd start-up plus vhost-user handshake
	podTimeout  = 5 * time.Second  // for testpmd to quit before SIGKILL

	// hugepageNeedMiB is what the demo and its pod take together, with room
	// to spare: two 8191-mbuf pools (about 18 MiB each) and EAL's own heap.
	hugepageNeedMiB = 128

	// dpdkRunDir is where EAL keeps a process's runtime directory (named by
	// its --file-prefix) when running as root; --in-memory leaves it empty.
	dpdkRunDir = "/var/run/dpdk"
)

type config struct {
	Seconds int
	Verbose bool
	Stdout  io.Writer // the summary
	Stderr  io.Writer // progress, notes, errors
}

// signalError is the cause of the demo's context when a signal stopped it.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string {
	switch e.sig {
	case os.Interrupt:
		return "stopped by SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "stopped by SIGTERM"
	}
	return "stopped by signal " + e.sig.String()
}

func main() {
	c := config{Stdout: os.Stdout, Stderr: os.Stderr}
	flag.IntVar(&c.Seconds, "seconds", 5, "how long traffic runs, in seconds")
	flag.BoolVar(&c.Verbose, "v", false, "show the EAL's and dpdk-testpmd's logs")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-seconds N] [-v]\n\n"+
			"Runs a dpdk-testpmd pod in a network namespace on a vhost-user port and\n"+
			"forwards its packets back to it through podwire's Go loop. Needs root.\n\n", prog)
		flag.PrintDefaults()
	}
	flag.Parse()
	switch {
	case flag.NArg() > 0:
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", prog, flag.Args())
		flag.Usage()
		os.Exit(2)
	case c.Seconds < 1 || c.Seconds > 3600:
		fmt.Fprintf(os.Stderr, "%s: -seconds %d: want 1 to 3600\n", prog, c.Seconds)
		os.Exit(2)
	}

	// The first SIGINT or SIGTERM cancels ctx; the demo then cleans up and
	// exits. Later ones are swallowed, so that cleanup finishes.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigc {
			cancel(signalError{s})
		}
	}()
	// A closed stdout or stderr (`podwire-demo | head`) must not kill the
	// demo before it has cleaned up: with SIGPIPE notified, writes fail with
	// EPIPE instead. (Notify, unlike Ignore, is not inherited by testpmd.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	err := run(ctx, c)
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	if se := (signalError{}); errors.As(err, &se) {
		if s, ok := se.sig.(syscall.Signal); ok {
			os.Exit(128 + int(s))
		}
	}
	os.Exit(1)
}

// run is the whole demo. Everything it creates is undone before it returns,
// on every path.
func run(ctx context.Context, c config) (err error) {
	if err := checkPrereqs(); err != nil {
		return err
	}
	var undo cleanups
	defer func() {
		if cerr := undo.run(c.Stderr); cerr != nil && err == nil {
			err = cerr
		}
	}()
	pid := os.Getpid()
	note := func(format string, args ...any) { fmt.Fprintf(c.Stderr, prog+": "+format+"\n", args...) }

	// The socket directory: short, because sun_path holds 108 bytes.
	dir, err := os.MkdirTemp(shortTempDir(), "pwdemo")
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	undo.add("remove "+dir, func() error { return os.RemoveAll(dir) })
	sock := filepath.Join(dir, "pod1.sock")
	if len(sock) >= 108 {
		return fmt.Errorf("socket path %s is %d bytes; vhost-user needs fewer than 108 (set TMPDIR to a short directory)", sock, len(sock))
	}

	// EAL, in this process.
	prefix := fmt.Sprintf("pwdemo%d", pid)
	undo.add("remove EAL runtime dir", removeRunDir(prefix))
	logLevel := "*:warning"
	if c.Verbose {
		logLevel = "*:info"
	}
	opts := dpdk.Options{
		Lcores:       []int{mainLcore, fwdLcore},
		MainLcore:    mainLcore,
		HasMainLcore: true,
		FilePrefix:   prefix,
		InMemory:     true,
		NoPCI:        true,
		NoTelemetry:  true,
		LogLevel:     logLevel,
	}
	if err := dpdk.InitOptions(opts); err != nil {
		return fmt.Errorf("init EAL: %w", err)
	}
	undo.add("EAL cleanup", dpdk.Cleanup)
	if cpu := dpdk.LcoreCPU(fwdLcore); cpu != fwdLcore {
		return fmt.Errorf("lcore %d runs on cpu %d, want cpu %d", fwdLcore, cpu, fwdLcore)
	}

	pool, err := dpdk.NewMbufPool("pwdemo", dpdk.MbufPoolConfig{Mbufs: poolMbufs, Cache: poolCache, Socket: dpdk.SocketAny})
	if err != nil {
		return fmt.Errorf("mbuf pool: %w", err)
	}
	undo.add("free mbuf pool", func() error { pool.Free(); return nil })

	// The pod's port: a vhost-user server. Its socket appears at Start.
	devargs := "net_vhost0,iface=" + sock + ",queues=1"
	ports, err := dpdk.Probe(devargs)
	if err != nil {
		return fmt.Errorf("hot-plug vhost-user port: %w", err)
	}
	port := ports[0]
	undo.add(fmt.Sprintf("remove port %d", port), port.Remove)
	if err := startPort(port, pool); err != nil {
		return err
	}
	note("EAL up (lcores %d,%d, main %d); vhost-user port %d listening on %s", mainLcore, fwdLcore, mainLcore, port, sock)
	if err := context.Cause(ctx); err != nil {
		return err
	}

	// The pod: testpmd in its own network namespace.
	netns := fmt.Sprintf("pwdemo-%d", pid)
	if err := addNetns(ctx, netns); err != nil {
		return err
	}
	undo.add("delete netns "+netns, func() error { return delNetns(netns) })
	podPrefix := fmt.Sprintf("pwpod%d", pid)
	undo.add("remove pod's EAL runtime dir", removeRunDir(podPrefix))
	pc := podConfig{Netns: netns, Socket: sock, FilePrefix: podPrefix}
	if c.Verbose {
		pc.Log = c.Stderr
	}
	pod, err := startPod(pc)
	if err != nil {
		return err
	}
	undo.add("stop pod", func() error { return pod.Stop(podTimeout) })
	note("pod: netns %s, dpdk-testpmd pid %d (io forwarding on cpu 0)", netns, pod.PID())

	if err := waitLinkUp(ctx, port, pod, sock); err != nil {
		return err
	}

	// The forwarding loop on lcore 1.
	burst := dpdk.NewMbufArray(burstSize)
	undo.add("free burst array", func() error { burst.Free(); return nil })
	fwd := newForwarder(port, burst.Pkts)
	if err := dpdk.Launch(fwdLcore, fwd.run); err != nil {
		return fmt.Errorf("launch forwarding loop: %w", err)
	}
	var stopped time.Time
	stopLoop := sync.OnceValue(func() error {
		fwd.Stop()
		stopped = time.Now()
		if err := dpdk.Wait(fwdLcore); err != nil {
			return fmt.Errorf("forwarding loop: %w", err)
		}
		return nil
	})
	undo.add("stop forwarding loop", stopLoop)

	if err := pod.Send("start tx_first 32"); err != nil {
		return err
	}
	started := time.Now()
	note("link up; Go forwarding loop on lcore %d (cpu %d); sent `start tx_first 32` to the pod", fwdLcore, dpdk.LcoreCPU(fwdLcore))

	trafficErr := showProgress(ctx, c, fwd, pod, started)

	// Stop in order: our loop, then the pod (which prints its statistics),
	// then read the port's counters while the port still exists.
	if err := stopLoop(); err != nil {
		return err
	}
	total := fwd.snapshot()
	elapsed := stopped.Sub(started)
	inUse := pool.InUse()
	podErr := pod.Stop(podTimeout)
	podStats, statsErr := pod.Stats()
	if podErr != nil {
		statsErr = podErr
	}
	portStats, err := port.Stats()
	if err != nil {
		return err
	}
	name, _ := port.Name()
	printSummary(c.Stdout, summary{
		Elapsed: elapsed, Loop: total, Port: port, PortName: name, PortStats: portStats,
		Pod: podStats, PodErr: statsErr, InUse: inUse,
	})

	switch {
	case trafficErr != nil:
		return trafficErr
	case total.RxPkts == 0 || total.TxPkts == 0:
		return fmt.Errorf("no packets moved (pod -> podwire %d, podwire -> pod %d); run with -v to see the pod's log", total.RxPkts, total.TxPkts)
	case inUse != 0:
		return fmt.Errorf("mbuf leak: %d mbufs still in use after the loop stopped", inUse)
	}
	return nil
}

// startPort configures port with one rx and one tx queue and starts it.
func startPort(port dpdk.Port, pool *dpdk.Mempool) error {
	if err := port.Configure(1, 1, dpdk.PortConf{}); err != nil {
		return fmt.Errorf("configure port %d: %w", port, err)
	}
	if err := port.RxQueueSetup(0, ringDescs, dpdk.SocketAny, pool); err != nil {
		return fmt.Errorf("set up rx queue of port %d: %w", port, err)
	}
	if err := port.TxQueueSetup(0, ringDescs, dpdk.SocketAny); err != nil {
		return fmt.Errorf("set up tx queue of port %d: %w", port, err)
	}
	if err := port.Start(); err != nil {
		return fmt.Errorf("start port %d: %w", port, err)
	}
	return nil
}

// waitLinkUp waits until the pod's virtio_user has connected to the
// vhost-user port and the link is up.
func waitLinkUp(ctx context.Context, port dpdk.Port, pod *pod, sock string) error {
	deadline := time.NewTimer(linkTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		l, err := port.Link()
		if err != nil {
			return err
		}
		if l.Up {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-pod.done:
			return pod.ExitError()
		case <-deadline.C:
			return fmt.Errorf("vhost-user link of port %d still down after %v: dpdk-testpmd (pid %d) did not connect to %s; its last output:\n%s",
				port, linkTimeout, pod.PID(), sock, pod.out.Tail(15))
		case <-tick.C:
		}
	}
}

// showProgress prints a line a second for c.Seconds seconds. It returns the
// signal error if a signal ended it early, or the pod's exit if the pod died.
func showProgress(ctx context.Context, c config, fwd *forwarder, pod *pod, started time.Time) error {
	eol := "\n"
	if f, ok := c.Stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			eol = "" // a terminal: rewrite one line
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev, prevT := counters{}, started
	defer func() {
		if eol == "" {
			fmt.Fprintln(c.Stderr)
		}
	}()
	for i := 1; i <= c.Seconds; i++ {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-pod.done:
			return pod.ExitError()
		case now := <-tick.C:
			cur := fwd.snapshot()
			dt := now.Sub(prevT).Seconds()
			line := fmt.Sprintf("t=%ds  pod->podwire %.2f Mpps  podwire->pod %.2f Mpps  drops %d",
				i, mpps(cur.RxPkts-prev.RxPkts, dt), mpps(cur.TxPkts-prev.TxPkts, dt), cur.TxDrops)
			if eol == "" {
				fmt.Fprintf(c.Stderr, "\r%-72s", line)
			} else {
				fmt.Fprintln(c.Stderr, line)
			}
			prev, prevT = cur, now
		}
	}
	return nil
}

func mpps(pkts uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(pkts) / secs / 1e6
}

func gbps(bytes uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(bytes) * 8 / secs / 1e9
}

type summary struct {
	Elapsed   time.Duration
	Loop      counters
	Port      dpdk.Port
	PortName  string
	PortStats dpdk.Stats
	Pod       podStats
	PodErr    error
	InUse     int
}

// printSummary prints the result table. The test reads the "pod -> podwire"
// and "podwire -> pod" rows: direction, then packets.
func printSummary(w io.Writer, s summary) {
	secs := s.Elapsed.Seconds()
	fmt.Fprintf(w, "\n%s: %.1f s of traffic: dpdk-testpmd pod (cpu 0) <-> vhost-user <-> Go loop (lcore %d, cpu %d)\n\n",
		prog, secs, fwdLcore, fwdLcore)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "direction\tpackets\tbytes\tMpps\tGbit/s\t")
	fmt.Fprintf(tw, "pod -> podwire\t%d\t%d\t%.2f\t%.2f\t\n", s.Loop.RxPkts, s.Loop.RxBytes, mpps(s.Loop.RxPkts, secs), gbps(s.Loop.RxBytes, secs))
	fmt.Fprintf(tw, "podwire -> pod\t%d\t%d\t%.2f\t%.2f\t\n", s.Loop.TxPkts, s.Loop.TxBytes, mpps(s.Loop.TxPkts, secs), gbps(s.Loop.TxBytes, secs))
	tw.Flush()
	fmt.Fprintf(w, "tx drops (refused by tx, freed by the loop): %d\n", s.Loop.TxDrops)

	ps := s.PortStats
	fmt.Fprintf(w, "\nvhost port %d (%s) ethdev stats\n", s.Port, s.PortName)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ipackets\topackets\tibytes\tobytes\timissed\tierrors\toerrors\trx_nombuf\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
		ps.IPackets, ps.OPackets, ps.IBytes, ps.OBytes, ps.IMissed, ps.IErrors, ps.OErrors, ps.RxNoMbuf)
	tw.Flush()

	fmt.Fprintln(w)
	if s.PodErr != nil {
		fmt.Fprintf(w, "pod's own count: unavailable (%v)\n", s.PodErr)
	} else {
		fmt.Fprintf(w, "pod's own count (testpmd port 0, incl. tx_first): rx %d  tx %d  tx dropped %d\n",
			s.Pod.RxPackets, s.Pod.TxPackets, s.Pod.TxDropped)
	}
	fmt.Fprintf(w, "mbufs in use after the loop stopped: %d of %d\n", s.InUse, poolMbufs)
}

// checkPrereqs says in one line what is missing to run the demo.
func checkPrereqs() error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (hugepages, network namespaces, vhost-user): try sudo")
	}
	if _, err := exec.LookPath("dpdk-testpmd"); err != nil {
		return errors.New("dpdk-testpmd not found on PATH: run `make setup` (installs Debian's dpdk package)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("ip (iproute2) not found on PATH: run `make setup`")
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("needs CPUs 0 and 1, this process may use %d CPU: run on a machine (or cpuset) with two", runtime.NumCPU())
	}
	total, free, pageKB, err := hugepages()
	if err != nil {
		return fmt.Errorf("read hugepage state: %w", err)
	}
	if total == 0 {
		return errors.New("no hugepages reserved (HugePages_Total is 0): run `make setup`")
	}
	if !hugetlbfsMounted() {
		return errors.New("no hugetlbfs mount (expected at /dev/hugepages): run `make setup`")
	}
	if freeMiB := free * pageKB / 1024; freeMiB < hugepageNeedMiB {
		return fmt.Errorf("only %d MiB of hugepages free (%d of %d pages), the demo needs %d MiB: run `make setup`, or wait for other DPDK processes to finish",
			freeMiB, free, total, hugepageNeedMiB)
	}
	return nil
}

// hugepages reads the default-size hugepage counts from /proc/meminfo.
func hugepages() (total, free, pageKB int, err error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "HugePages_Total:":
			total = v
		case "HugePages_Free:":
			free = v
		case "Hugepagesize:":
			pageKB = v
		}
	}
	return total, free, pageKB, sc.Err()
}

func hugetlbfsMounted() bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "hugetlbfs" {
			return true
		}
	}
	return false
}

// shortTempDir is $TMPDIR, or /tmp when $TMPDIR is too long for a socket path.
func shortTempDir() string {
	if d := os.TempDir(); len(d) <= 64 {
		return d
	}
	return "/tmp"
}

// removeRunDir returns a cleanup that removes an EAL process's runtime
// directory, /var/run/dpdk/<prefix>: the prefix holds this demo's pid, so
// the directory is ours.
func removeRunDir(prefix string) func() error {
	return func() error { return os.RemoveAll(filepath.Join(dpdkRunDir, prefix)) }
}

// cleanups undoes setup steps in reverse order.
type cleanups []struct {
	name string
	fn   func() error
}

func (c *cleanups) add(name string, fn func() error) {
	*c = append(*c, struct {
		name string
		fn   func() error
	}{name, fn})
}

// run runs every cleanup, last added first, even after failures; it prints
// each failure and returns an error that counts them.
func (c *cleanups) run(stderr io.Writer) error {
	failed := 0
	for i := len(*c) - 1; i >= 0; i-- {
		step := (*c)[i]
		if err := step.fn(); err != nil {
			fmt.Fprintf(stderr, "%s: cleanup: %s: %v\n", prog, step.name, err)
			failed++
		}
	}
	*c = nil
	if failed > 0 {
		return fmt.Errorf("cleanup: %d step(s) failed (see above)", failed)
	}
	return nil
}
