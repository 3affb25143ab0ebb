package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/cni"
	"github.com/podwire/podwire/internal/testpmd"
)

const (
	prog = "podwire-demo"

	network = "default" // the network of podwired's default config
	ifName  = "net1"

	// txFirstBursts is n in `start tx_first n` on pod A: n bursts of 32
	// packets go round; 1024 fit every ring on the way (all 1024 deep).
	txFirstBursts = 32

	apiTimeout    = 5 * time.Second  // one API call
	startTimeout  = 20 * time.Second // podwired's API, a pod's prompt, the links
	podStopTime   = 5 * time.Second  // for testpmd to quit before SIGKILL
	cleanupSlow   = 15 * time.Second // a cleanup step that takes longer says so
	podwiredGrace = 15 * time.Second // for podwired to exit on SIGTERM before SIGKILL

	// dpdkRunDir is where EAL keeps a process's runtime directory (named by
	// its --file-prefix) when running as root.
	dpdkRunDir = "/var/run/dpdk"
)

type config struct {
	Seconds  int
	Verbose  bool
	Podwired string    // the podwired binary
	CNIPath  []string  // CNI_PATH: where libcni finds the podwire plugin
	Stdout   io.Writer // the summary
	Stderr   io.Writer // progress, notes, errors
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
	flag.BoolVar(&c.Verbose, "v", false, "show podwired's log and the pods' dpdk-testpmd output")
	flag.StringVar(&c.Podwired, "podwired", "", "`path` of the podwired binary (default: podwired next to this program, where make build puts it)")
	cniPath := flag.String("cni-path", "", "CNI_PATH: `dirs` (colon-separated) where libcni finds the podwire CNI plugin (default: the directory of this program, where make build puts bin/podwire)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-seconds N] [-v] [-podwired PATH] [-cni-path DIRS]\n\n"+
			"Starts podwired, attaches two dpdk-testpmd pods in network namespaces to it\n"+
			"through the podwire CNI plugin, run by libcni as a container runtime runs it\n"+
			"(one on vhost-user, one on memif), shows traffic between them through\n"+
			"podwired, prints a summary and removes everything it started. Needs root.\n\n", prog)
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
	if c.Podwired == "" {
		c.Podwired = filepath.Join(exeDir(), "podwired")
	}
	if *cniPath == "" {
		*cniPath = exeDir()
	}
	c.CNIPath = filepath.SplitList(*cniPath)

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
	// EPIPE instead. (Notify, unlike Ignore, is not inherited by children.)
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

// exeDir is the directory of this program's executable, where `make build`
// puts podwired and the podwire CNI plugin too.
func exeDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	return filepath.Dir(exe)
}

// podSpec is one of the demo's two pods.
type podSpec struct {
	name  string // "A" or "B"
	kind  string // api.KindVhostUser or api.KindMemif
	mac   string
	netns string
	key   api.Attachment // ContainerID and IfName: CNI_CONTAINERID, CNI_IFNAME

	socket string         // socketPath from the CNI ADD result
	vdev   string         // the pod's DPDK port, from the device-info next to socket
	att    api.Attachment // as podwired reports it (its port name for the counters)
	pmd    *testpmd.Pod

	detached bool     // CNI DEL done
	quiesced bool     // sent "stop"
	quit     bool     // stopped and reaped
	stats    podStats // testpmd's own count, if statsOK
	statsOK  bool
}

// netnsPath is the pod's CNI_NETNS.
func (p *podSpec) netnsPath() string { return filepath.Join(netnsDir, p.netns) }

// how says in words who is which side of the socket.
func (p *podSpec) how() string {
	if p.kind == api.KindMemif {
		return "memif (podwired is the server)"
	}
	return "vhost-user (the pod is the server)"
}

// run is the whole demo. Everything it creates is undone before it returns,
// on every path.
func run(ctx context.Context, c config) (err error) {
	if err := checkSystem(); err != nil {
		return err
	}
	if err := checkPodwired(c.Podwired); err != nil {
		return err
	}
	plugin, err := findCNIPlugin(c.CNIPath)
	if err != nil {
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

	// One short temporary directory for podwired's API socket, state and
	// socket directories: sun_path holds 108 bytes.
	dir, err := os.MkdirTemp(shortTempDir(), "pwdemo")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	undo.add("remove "+dir, func() error { return os.RemoveAll(dir) })
	note("temporary directory %s", dir)

	// EAL file prefixes hold the demo's pid: the runtime directories they
	// name under /var/run/dpdk are ours to remove.
	daemonPrefix := fmt.Sprintf("pwdemo%dd", pid)
	pods := []*podSpec{
		{name: "A", kind: api.KindVhostUser, mac: "02:70:77:00:00:0a"},
		{name: "B", kind: api.KindMemif, mac: "02:70:77:00:00:0b"},
	}
	prefixes := []string{daemonPrefix}
	for _, p := range pods {
		p.netns = fmt.Sprintf("pwdemo-%d-%s", pid, strings.ToLower(p.name))
		p.key = api.Attachment{ContainerID: fmt.Sprintf("pwdemo-%d-pod-%s", pid, strings.ToLower(p.name)), IfName: ifName}
		prefixes = append(prefixes, podPrefix(pid, p))
	}
	undo.add("remove EAL runtime directories", removeRunDirs(prefixes))

	for _, p := range pods {
		if err := addNetns(p.netns); err != nil {
			return err
		}
		undo.add("delete netns "+p.netns, func() error { return delNetns(p.netns) })
	}

	var log io.Writer
	if c.Verbose {
		log = c.Stderr
	}
	pw, err := startPodwired(c.Podwired, dir, daemonPrefix, log)
	if err != nil {
		return err
	}
	undo.add("stop podwired", pw.stop)
	note("podwired pid %d: API %s, EAL file prefix %s, forwarding lcore 1 (cpu 1), busy polling", pw.pid(), pw.socket, daemonPrefix)
	client := api.New(pw.socket)
	client.UserAgent = prog
	undo.add("close API connections", func() error { client.CloseIdleConnections(); return nil })
	if err := pw.waitAPI(ctx, client); err != nil {
		return err
	}

	// The runtime side: a network config list per kind, libcni with the
	// demo's CNI_PATH and a private cache directory.
	kinds := make([]string, len(pods))
	for i, p := range pods {
		kinds[i] = p.kind
	}
	rt, err := newCNIRuntime(dir, c.CNIPath, pw.socket, kinds, c.Stderr)
	if err != nil {
		return err
	}
	note("CNI runtime: libcni %s, CNI_PATH %s (plugin %s), cache %s, spec %s", libcniVersion(),
		strings.Join(c.CNIPath, string(os.PathListSeparator)), plugin, rt.cache, cniVersion)
	for _, p := range pods {
		note("CNI network %s: %s (type %s, kind %s, network %s)", rt.lists[p.kind].Name, rt.files[p.kind], cniPlugin, p.kind, network)
	}
	if err := rt.status(ctx); err != nil {
		return err
	}
	note("STATUS: podwired answers on %s and has network %s", pw.socket, network)

	// Cleanup order for the pods, last registered first: stop forwarding
	// in both pods, CNI DEL both attachments, then quit the pods. podwired
	// must have stopped polling a memif port before its client goes away:
	// its worker has crashed (SIGSEGV in rte_eth_rx_burst on the memif
	// port) when the pod quit first. If podwired is gone, there is nothing
	// to detach.
	undo.add("quit pods", func() error { quitPods(pods, c.Stderr, c.Verbose); return nil })
	// Attachments first (CNI ADD: podwired creates the ports and hands out
	// the sockets), then the pods on those sockets. DEL is registered
	// before ADD: an ADD cut short by a signal may have left an
	// attachment, and DEL of one that does not exist is a success.
	for _, p := range pods {
		undo.add("CNI DEL pod "+p.name, func() error { return detach(rt, pw, p, note) })
		if p.socket, err = rt.add(ctx, p); err != nil {
			return err
		}
		note("ADD pod %s (%s): container %s, netns %s, ifname %s -> socket %s",
			p.name, p.kind, p.key.ContainerID, p.netnsPath(), p.key.IfName, p.socket)
		var di cni.DeviceInfo
		if p.vdev, di, err = podDevargs(p.socket, p.mac); err != nil {
			return fmt.Errorf("pod %s: %w", p.name, err)
		}
		note("  device-info %s: %s -> --vdev=%s", cni.DeviceInfoFile, describe(di), p.vdev)
		actx, cancel := context.WithTimeout(ctx, apiTimeout)
		p.att, err = client.Attachment(actx, p.key.ContainerID, p.key.IfName)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return fmt.Errorf("attachment of pod %s after CNI ADD: %w", p.name, err)
		}
		if p.att.SocketPath != p.socket {
			return fmt.Errorf("pod %s: CNI result socketPath %s, podwired's attachment %s", p.name, p.socket, p.att.SocketPath)
		}
	}
	undo.add("stop forwarding in the pods", func() error { return quiesce(client, pw, pods) })
	for _, p := range pods {
		p.pmd, err = testpmd.Start(testpmd.Options{
			Vdevs:  []string{p.vdev},
			Netns:  p.netns,
			Prefix: podPrefix(pid, p),
			Args:   []string{"--forward-mode=mac", "--eth-peer=0," + peer(pods, p).mac},
		})
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.name, err)
		}
		note("pod %s: netns %s, dpdk-testpmd pid %d, %s, MAC %s, podwired port %s, socket %s",
			p.name, p.netns, p.pmd.PID(), p.how(), p.mac, p.att.PortName, p.socket)
		// A net_virtio_user server stays in EAL init until podwired has
		// connected; the prompt means the port is there.
		if err := waitPrompt(ctx, p); err != nil {
			return err
		}
	}
	if err := waitAttachmentsUp(ctx, client, pods); err != nil {
		return err
	}
	for _, p := range pods {
		if err := rt.check(ctx, p); err != nil {
			return err
		}
	}
	note("CHECK pod A, pod B: ok (attachments up, sockets and results match)")
	note("both attachments up; pod A: `start tx_first %d`, pod B: `start` (testpmd mac forwarding on cpu 0)", txFirstBursts)

	base, err := takeSample(ctx, client)
	if err != nil {
		return err
	}
	pods[1].pmd.Send("start")
	pods[0].pmd.Send(fmt.Sprintf("start tx_first %d", txFirstBursts))

	last, progressErr := showProgress(ctx, c, client, pw, pods, base)
	if progressErr != nil && !last.t.After(base.t) {
		return progressErr
	}
	// The summary shows the measured window (base to last). podwired's
	// tables are read once the pods have stopped forwarding, before
	// anything disconnects; then the pods are detached and quit (as in
	// cleanup, which then finds nothing left to do there), so that their
	// own counts, which testpmd prints on stop, can be shown too.
	rep := report{Seconds: last.t.Sub(base.t).Seconds(), Base: base, Last: last, Pods: pods}
	if err := quiesce(client, pw, pods); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	rep.Ports, err = client.Ports(rctx)
	if err == nil {
		rep.MACs, err = client.MACs(rctx, network)
	}
	if err == nil {
		rep.Workers, err = client.Workers(rctx)
	}
	cancel()
	if err != nil {
		return err
	}
	for i := len(pods) - 1; i >= 0; i-- {
		if err := detach(rt, pw, pods[i], note); err != nil {
			return err
		}
	}
	quitPods(pods, c.Stderr, c.Verbose)
	for _, p := range pods {
		if d := filepath.Dir(p.socket); !dirGone(d) {
			note("after pod %s quit: its socket directory %s is still there, holding %s (removed with %s)", p.name, d, dirList(d), dir)
		}
	}
	printSummary(c.Stdout, rep)

	if progressErr != nil {
		return progressErr
	}
	ab, ba := rep.direction(pods[0], pods[1]), rep.direction(pods[1], pods[0])
	if ab.TxPackets == 0 || ba.TxPackets == 0 {
		return fmt.Errorf("traffic did not flow both ways (A -> B %d packets, B -> A %d packets); run with -v to see podwired's log and the pods' output",
			ab.TxPackets, ba.TxPackets)
	}
	return nil
}

func podPrefix(pid int, p *podSpec) string {
	return fmt.Sprintf("pwdemo%d%s", pid, strings.ToLower(p.name))
}

func peer(pods []*podSpec, p *podSpec) *podSpec {
	if pods[0] == p {
		return pods[1]
	}
	return pods[0]
}

// waitPrompt waits for testpmd's prompt: its port exists and it takes
// commands.
func waitPrompt(ctx context.Context, p *podSpec) error {
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(p.pmd.Output(), "testpmd>") {
		if p.pmd.Exited() {
			return fmt.Errorf("pod %s: dpdk-testpmd (pid %d) exited at start; its last output:\n%s", p.name, p.pmd.PID(), tail(p.pmd.Output(), 15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s: dpdk-testpmd (pid %d) not ready after %v (did podwired connect to %s?); its last output:\n%s",
				p.name, p.pmd.PID(), startTimeout, p.socket, tail(p.pmd.Output(), 15))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// waitAttachmentsUp waits until podwired reports both attachments "up".
func waitAttachmentsUp(ctx context.Context, client *api.Client, pods []*podSpec) error {
	deadline := time.Now().Add(startTimeout)
	for {
		up := 0
		var states []string
		for _, p := range pods {
			actx, cancel := context.WithTimeout(ctx, apiTimeout)
			a, err := client.Attachment(actx, p.key.ContainerID, p.key.IfName)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				return fmt.Errorf("attachment of pod %s: %w", p.name, err)
			}
			p.att = a
			if a.State == api.StateUp {
				up++
			}
			s := fmt.Sprintf("pod %s %s", p.name, a.State)
			if a.Reason != "" {
				s += " (" + a.Reason + ")"
			}
			states = append(states, s)
		}
		if up == len(pods) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("attachments not up after %v: %s", startTimeout, strings.Join(states, ", "))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// sample is podwired's port counters at one time (podwired's clock).
type sample struct {
	t     time.Time
	ports map[string]api.Counters // by port name
}

func takeSample(ctx context.Context, client *api.Client) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	r, err := client.Counters(ctx)
	if err != nil {
		return sample{}, fmt.Errorf("read podwired's counters: %w", err)
	}
	s := sample{t: r.Time, ports: map[string]api.Counters{}}
	if s.t.IsZero() {
		s.t = time.Now()
	}
	for _, p := range r.Ports {
		s.ports[p.Port] = p.Counters
	}
	return s, nil
}

// drops is the sum of every drop counter over every port.
func (s sample) drops() uint64 {
	var n uint64
	for _, c := range s.ports {
		n += c.TotalDrops()
	}
	return n
}

// showProgress prints a line a second for c.Seconds seconds and returns the
// last sample. It stops early with an error if a signal arrives, podwired or
// a pod exits, or the API fails; the sample is then the last good one.
func showProgress(ctx context.Context, c config, client *api.Client, pw *podwired, pods []*podSpec, base sample) (sample, error) {
	eol := "\n"
	if f, ok := c.Stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			eol = "" // a terminal: rewrite one line
		}
	}
	defer func() {
		if eol == "" {
			fmt.Fprintln(c.Stderr)
		}
	}()
	a, b := pods[0], pods[1]
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev := base
	for i := 1; i <= c.Seconds; i++ {
		select {
		case <-ctx.Done():
			return prev, context.Cause(ctx)
		case <-pw.done:
			return prev, pw.exitError()
		case <-tick.C:
		}
		for _, p := range pods {
			if p.pmd.Exited() {
				return prev, fmt.Errorf("pod %s: dpdk-testpmd (pid %d) exited during traffic; its last output:\n%s", p.name, p.pmd.PID(), tail(p.pmd.Output(), 15))
			}
		}
		cur, err := takeSample(ctx, client)
		if err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return prev, err
		}
		dt := cur.t.Sub(prev.t).Seconds()
		ab := cur.ports[b.att.PortName].TxPackets - prev.ports[b.att.PortName].TxPackets
		ba := cur.ports[a.att.PortName].TxPackets - prev.ports[a.att.PortName].TxPackets
		line := fmt.Sprintf("t=%ds  A->B %.2f Mpps  B->A %.2f Mpps  drops %d", i, mpps(ab, dt), mpps(ba, dt), cur.drops()-base.drops())
		if eol == "" {
			fmt.Fprintf(c.Stderr, "\r%-72s", line)
		} else {
			fmt.Fprintln(c.Stderr, line)
		}
		prev = cur
	}
	return prev, nil
}

// detach runs CNI DEL for pod p once, unless podwired is gone (then there
// is nothing to detach), and says whether podwired removed the socket
// directory.
func detach(rt *cniRuntime, pw *podwired, p *podSpec, note func(string, ...any)) error {
	if p.detached || pw.exited() {
		return nil
	}
	if err := rt.del(p); err != nil {
		return err
	}
	p.detached = true
	switch {
	case p.socket == "":
		note("DEL pod %s (%s): container %s, ifname %s", p.name, p.kind, p.key.ContainerID, p.key.IfName)
	case dirGone(filepath.Dir(p.socket)):
		note("DEL pod %s (%s) -> port %s and socket directory %s removed", p.name, p.kind, p.att.PortName, filepath.Dir(p.socket))
	default:
		// In vhostMode client the socket is the pod's (it is the
		// vhost-user server), and podwired leaves it, and so its
		// directory, while the pod still listens on it.
		note("DEL pod %s (%s) -> port %s removed; socket directory %s kept, it holds %s", p.name, p.kind, p.att.PortName,
			filepath.Dir(p.socket), dirList(filepath.Dir(p.socket)))
	}
	return nil
}

// dirList names the entries of directory d, or says it is empty.
func dirList(d string) string {
	es, _ := os.ReadDir(d)
	if len(es) == 0 {
		return "nothing"
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return strings.Join(names, ", ")
}

func dirGone(d string) bool {
	_, err := os.Stat(d)
	return errors.Is(err, os.ErrNotExist)
}

// describe says in words what a device-info document tells the pod.
func describe(di cni.DeviceInfo) string {
	switch {
	case di.VhostUser != nil:
		return "vhost-user, the pod is the " + di.VhostUser.Mode
	case di.Memif != nil:
		return "memif, the pod's role " + di.Memif.Role + " (client), mode " + di.Memif.Mode
	}
	return di.Type
}

// quiesce stops forwarding in the pods (testpmd's "stop") and waits until
// podwired's counters of their ports stand still (unless podwired is
// gone). testpmd's own report of the stop reaches its (block-buffered)
// stdout only when it quits.
func quiesce(client *api.Client, pw *podwired, pods []*podSpec) error {
	sent := false
	for _, p := range pods {
		if p.pmd != nil && !p.quiesced && !p.pmd.Exited() {
			p.pmd.Send("stop")
			p.quiesced, sent = true, true
		}
	}
	if !sent || pw.exited() {
		return nil
	}
	moved := func(a, b sample) bool {
		for _, p := range pods {
			if a.ports[p.att.PortName].RxPackets != b.ports[p.att.PortName].RxPackets {
				return true
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), podStopTime)
	defer cancel()
	prev, err := takeSample(ctx, client)
	for err == nil {
		if err = sleep(ctx, 100*time.Millisecond); err != nil {
			break
		}
		var cur sample
		if cur, err = takeSample(ctx, client); err == nil && !moved(prev, cur) {
			return nil
		}
		prev = cur
	}
	return fmt.Errorf("stop forwarding in the pods: %w", err)
}

// quitPods quits every pod that runs (stop and quit on its stdin, SIGKILL
// to its process group after a timeout), last started first, and keeps
// the counts testpmd printed. With verbose, it shows their output.
func quitPods(pods []*podSpec, stderr io.Writer, verbose bool) {
	for i := len(pods) - 1; i >= 0; i-- {
		p := pods[i]
		if p.pmd == nil || p.quit {
			continue
		}
		p.pmd.Stop(podStopTime)
		p.quit = true
		out := p.pmd.Output()
		if j := strings.Index(out, "Forward statistics for port 0"); j >= 0 {
			p.stats, p.statsOK = parseForwardStats(out[j:])
		}
		if verbose {
			fmt.Fprintf(stderr, "%s: pod %s: dpdk-testpmd output:\n%s\n", prog, p.name, tail(out, 200))
		}
	}
}

var (
	reFwdRx = regexp.MustCompile(`RX-packets:\s*(\d+)`)
	reFwdTx = regexp.MustCompile(`TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)`)
)

// podStats is testpmd's own count for its port 0, as it prints on "stop".
type podStats struct{ RxPackets, TxPackets, TxDropped uint64 }

func parseForwardStats(block string) (podStats, bool) {
	rx, tx := reFwdRx.FindStringSubmatch(block), reFwdTx.FindStringSubmatch(block)
	if rx == nil || tx == nil {
		return podStats{}, false
	}
	var s podStats
	s.RxPackets, _ = strconv.ParseUint(rx[1], 10, 64)
	s.TxPackets, _ = strconv.ParseUint(tx[1], 10, 64)
	s.TxDropped, _ = strconv.ParseUint(tx[2], 10, 64)
	return s, true
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// shortTempDir is $TMPDIR, or /tmp when $TMPDIR is too long for socket
// paths under it.
func shortTempDir() string {
	if d := os.TempDir(); len(d) <= 40 {
		return d
	}
	return "/tmp"
}

// removeRunDirs returns a cleanup that removes EAL runtime directories,
// /var/run/dpdk/<prefix>: the prefixes hold this demo's pid, so the
// directories are ours.
func removeRunDirs(prefixes []string) func() error {
	return func() error {
		var errs []error
		for _, p := range prefixes {
			errs = append(errs, os.RemoveAll(filepath.Join(dpdkRunDir, p)))
		}
		return errors.Join(errs...)
	}
}

// tail returns the last n lines of s, indented.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
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
		// A step that hangs says so, once, rather than leave a silent demo.
		slow := time.AfterFunc(cleanupSlow, func() {
			fmt.Fprintf(stderr, "%s: cleanup: %s: still running after %v\n", prog, step.name, cleanupSlow)
		})
		err := step.fn()
		slow.Stop()
		if err != nil {
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
