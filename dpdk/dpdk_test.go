package dpdk_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

func TestOptionsArgs(t *testing.T) {
	tests := []struct {
		name    string
		o       dpdk.Options
		want    string
		wantErr string
	}{
		{name: "empty", o: dpdk.Options{}, want: ""},
		{
			name: "full",
			o: dpdk.Options{Lcores: []int{0, 1}, MainLcore: 1, HasMainLcore: true, FilePrefix: "pw1",
				InMemory: true, MemoryMB: 256, NoPCI: true, Vdevs: []string{"net_null0", "net_tap0,iface=t0"},
				LogLevel: "*:notice", NoTelemetry: true},
			want: "-l 0,1 --main-lcore 1 --file-prefix pw1 --in-memory -m 256 --no-pci --vdev=net_null0 --vdev=net_tap0,iface=t0 --log-level=*:notice --no-telemetry",
		},
		{name: "nohuge", o: dpdk.Options{NoHuge: true, MemoryMB: 64}, want: "--no-huge -m 64"},
		{name: "pci allow", o: dpdk.Options{Allow: []string{"0000:01:00.0"}}, want: "-a 0000:01:00.0"},
		{name: "negative lcore", o: dpdk.Options{Lcores: []int{-1}}, wantErr: "out of range"},
		{name: "lcore too big", o: dpdk.Options{Lcores: []int{100000}}, wantErr: "out of range"},
		{name: "duplicate lcore", o: dpdk.Options{Lcores: []int{1, 1}}, wantErr: "twice"},
		{name: "main not in lcores", o: dpdk.Options{Lcores: []int{0}, MainLcore: 3, HasMainLcore: true}, wantErr: "not in lcores"},
		{name: "prefix with slash", o: dpdk.Options{FilePrefix: "../x"}, wantErr: "file prefix"},
		{name: "negative memory", o: dpdk.Options{MemoryMB: -1}, wantErr: "negative"},
		{name: "nopci and allow", o: dpdk.Options{NoPCI: true, Allow: []string{"0000:01:00.0"}}, wantErr: "exclude"},
		{name: "empty vdev", o: dpdk.Options{Vdevs: []string{""}}, wantErr: "bad vdev"},
		{name: "vdev with space", o: dpdk.Options{Vdevs: []string{"net_null0 x"}}, wantErr: "bad vdev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := tt.o.Args()
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Args() = %q, want error containing %q", args, tt.wantErr)
				}
				mustContain(t, err.Error(), tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tt.want {
				t.Fatalf("Args() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInitTwice(t *testing.T) {
	if err := dpdk.InitOptions(testEALOptions()); !errors.Is(err, dpdk.ErrAlreadyInitialized) {
		t.Fatalf("second Init: %v, want ErrAlreadyInitialized", err)
	}
	if !dpdk.Initialized() {
		t.Fatal("Initialized() = false")
	}
}

// TestInitBadArgs runs rte_eal_init with bad arguments in a child process
// (EAL initializes once per process): each must come back as an error that
// names rte_eal_init, never a crash or exit.
func TestInitBadArgs(t *testing.T) {
	base := []string{"--no-pci", "--in-memory", "--no-telemetry", "-l", "0", "--log-level=*:error"}
	cases := map[string][]string{
		"unknown option": append(slices.Clone(base), "--no-such-option"),
		"bad lcore":      {"--no-pci", "--in-memory", "-l", "77"},
		"bad main lcore": append(slices.Clone(base), "--main-lcore", "5"),
		"unknown vdev":   append(slices.Clone(base), "--vdev=net_nosuchdriver0"),
	}
	type child struct {
		mode string
		args []string
	}
	runs := map[string]child{"bad vdev args (options)": {"options", []string{"net_null0", "net_null1,nosuchkey=1"}}}
	for name, args := range cases {
		runs[name] = child{"init", args}
	}
	for name, c := range runs {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, c.args...)...)
			cmd.Env = append(os.Environ(), helperEnv+"="+c.mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child exited with %v:\n%s", err, out)
			}
			if !strings.Contains(string(out), "INIT-ERR rte_eal_init") {
				t.Fatalf("child did not report an rte_eal_init error:\n%s", out)
			}
		})
	}
}

func TestErrorWrapsErrno(t *testing.T) {
	_, err := dpdk.PortByName("no_such_port")
	if err == nil {
		t.Fatal("PortByName of a missing port succeeded")
	}
	var de *dpdk.Error
	if !errors.As(err, &de) || de.Op == "" || de.Text == "" {
		t.Fatalf("error %v is not a *dpdk.Error with op and text", err)
	}
	if !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("error %v does not wrap ENODEV", err)
	}
	mustContain(t, err.Error(), "rte_eth_dev_get_port_by_name")
}

func TestBadCalls(t *testing.T) {
	checkPool(t)
	null0, err := dpdk.PortByName("net_null0")
	if err != nil {
		t.Fatal(err)
	}
	bad := dpdk.Port(dpdk.MaxPorts - 1)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"probe unknown driver", second(dpdk.Probe("net_nosuchdriver0")), nil},
		{"probe empty", second(dpdk.Probe("")), nil},
		{"probe bad args", second(dpdk.Probe("net_null99,nosuchkey=1")), nil},
		{"info of missing port", second(bad.Info()), syscall.ENODEV},
		{"start missing port", bad.Start(), syscall.ENODEV},
		{"stats of missing port", second(bad.Stats()), syscall.ENODEV},
		{"remove missing port", bad.Remove(), nil},
		{"configure unsupported offload", null0.Configure(1, 1, dpdk.PortConf{RxOffloads: dpdk.RxOffloadRSSHash | dpdk.RxOffloadScatter}), syscall.ENOTSUP},
		{"configure too many queues", null0.Configure(60000, 1, dpdk.PortConf{}), syscall.EINVAL},
		{"mac wrong length", null0.SetMAC([]byte{1, 2, 3}), nil},
		{"pool cache too big", second(dpdk.NewMbufPool("pwbad1", dpdk.MbufPoolConfig{Mbufs: 1023, Cache: 100000})), nil},
		{"pool duplicate name", second(dpdk.NewMbufPool("pwtest", dpdk.MbufPoolConfig{Mbufs: 1023})), syscall.EEXIST},
		{"pool lookup missing", second(dpdk.LookupMempool("pw-none")), syscall.ENOENT},
		{"ring not power of two", second(dpdk.NewRing("pwbadring", 1000, dpdk.SocketAny, 0)), syscall.EINVAL},
		{"ring lookup missing", second(dpdk.LookupRing("pw-none")), syscall.ENOENT},
		{"launch on main lcore", dpdk.Launch(dpdk.MainLcore(), func() error { return nil }), nil},
		{"launch on unknown lcore", dpdk.Launch(100, func() error { return nil }), nil},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.want != nil && !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	// The port rejected above still works.
	startPort(t, null0)
	pkts := make([]*dpdk.Mbuf, 8)
	n := null0.RxBurst(0, pkts)
	dpdk.FreeBulk(pkts[:n])
}

func second[T any](_ T, err error) error { return err }

func TestNullRoundTrip(t *testing.T) {
	checkPool(t)
	null0, err := dpdk.PortByName("net_null0")
	if err != nil {
		t.Fatal(err)
	}
	null1, err := dpdk.PortByName("net_null1")
	if err != nil {
		t.Fatal(err)
	}
	startPort(t, null0)
	startPort(t, null1)
	for _, p := range []dpdk.Port{null0, null1} {
		if err := p.ResetStats(); err != nil {
			t.Fatal(err)
		}
	}
	pkts := make([]*dpdk.Mbuf, 32)
	var rx, tx int
	for range 100 {
		n := null0.RxBurst(0, pkts)
		for _, m := range pkts[:n] {
			if m.DataLen() != 64 || m.PktLen() != 64 || m.Port() != uint16(null0) {
				t.Fatalf("null rx mbuf: len %d/%d port %d", m.DataLen(), m.PktLen(), m.Port())
			}
		}
		rx += n
		sent := null1.TxBurst(0, pkts[:n])
		tx += sent
		dpdk.FreeBulk(pkts[sent:n])
	}
	if rx == 0 || tx == 0 {
		t.Fatalf("rx %d tx %d", rx, tx)
	}
	s0, _ := null0.Stats()
	s1, _ := null1.Stats()
	if s0.IPackets != uint64(rx) || s1.OPackets != uint64(tx) {
		t.Fatalf("stats: null0 ipackets %d (rx %d), null1 opackets %d (tx %d)", s0.IPackets, rx, s1.OPackets, tx)
	}
	xs, err := null1.XStats()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range xs {
		if x.Name == "tx_good_packets" {
			found = x.Value == uint64(tx)
		}
	}
	if !found {
		t.Fatalf("xstats lack tx_good_packets = %d: %v", tx, xs)
	}
	l, err := null0.Link()
	if err != nil || !l.Up {
		t.Fatalf("null link %v %v", l, err)
	}
	info, err := null0.Info()
	if err != nil || info.Driver != "net_null" {
		t.Fatalf("info %+v %v", info, err)
	}
	name, err := null0.Name()
	if err != nil || name != "net_null0" {
		t.Fatalf("name %q %v", name, err)
	}
	if !slices.Contains(dpdk.Ports(), null0) {
		t.Fatalf("Ports() %v lacks %d", dpdk.Ports(), null0)
	}
	if err := null0.SetPromiscuous(true); err != nil {
		t.Fatal(err)
	}
	if on, err := null0.Promiscuous(); err != nil || !on {
		t.Fatalf("promiscuous %v %v", on, err)
	}
	mac, err := null0.MAC()
	if err != nil || len(mac) != 6 {
		t.Fatalf("mac %v %v", mac, err)
	}
	want := []byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	if err := null0.SetMAC(want); err != nil {
		t.Fatal(err)
	}
	if mac, _ := null0.MAC(); mac.String() != "02:11:22:33:44:55" {
		t.Fatalf("mac after set: %v", mac)
	}
}

func TestRingPMDRoundTrip(t *testing.T) {
	checkPool(t)
	ring0, err := dpdk.PortByName("net_ring0")
	if err != nil {
		t.Fatal(err)
	}
	startPort(t, ring0)
	for round := range 3 {
		pkts := dpdktest.MakeFrames(t, testPool, 32, 60+round*500, uint32(round*100))
		dpdktest.SendAll(t, ring0, pkts)
		seqs := receiveFrames(t, ring0, 32, time.Second)
		for i, s := range seqs {
			if s != uint32(round*100+i) {
				t.Fatalf("round %d: frame %d has seq %d", round, i, s)
			}
		}
	}
}

func TestRing(t *testing.T) {
	checkPool(t)
	r, err := dpdk.NewRing("pwtestring", 64, dpdk.SocketAny, dpdk.RingSingleProducer|dpdk.RingSingleConsumer)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	if r.Name() != "pwtestring" || r.Capacity() != 63 || r.Count() != 0 || r.FreeCount() != 63 {
		t.Fatalf("ring %s cap %d count %d free %d", r.Name(), r.Capacity(), r.Count(), r.FreeCount())
	}
	if l, err := dpdk.LookupRing("pwtestring"); err != nil || l != r {
		t.Fatalf("lookup: %p %v", l, err)
	}
	pkts := dpdktest.MakeFrames(t, testPool, 80, 64, 0)
	n := r.Enqueue(pkts)
	if n != 63 || r.Count() != 63 {
		t.Fatalf("enqueued %d, count %d, want 63", n, r.Count())
	}
	dpdk.FreeBulk(pkts[n:])
	out := make([]*dpdk.Mbuf, 100)
	got := r.Dequeue(out)
	if got != 63 {
		t.Fatalf("dequeued %d", got)
	}
	for i, m := range out[:got] {
		if m != pkts[i] {
			t.Fatalf("dequeue order: %d", i)
		}
	}
	dpdk.FreeBulk(out[:got])
}

func TestMbuf(t *testing.T) {
	checkPool(t)
	m := testPool.Alloc()
	if m == nil {
		t.Fatal("alloc failed")
	}
	defer m.Free()
	if m.DataLen() != 0 || m.Headroom() != 128 || m.RefCnt() != 1 || m.NumSegs() != 1 || m.Pool() != testPool {
		t.Fatalf("fresh mbuf: len %d headroom %d refcnt %d segs %d", m.DataLen(), m.Headroom(), m.RefCnt(), m.NumSegs())
	}
	room := m.Tailroom()
	b := m.Append(100)
	if len(b) != 100 || m.DataLen() != 100 || m.PktLen() != 100 || m.Tailroom() != room-100 {
		t.Fatalf("append: %d %d %d", len(b), m.DataLen(), m.Tailroom())
	}
	b[0] = 0xAB
	if m.Data()[0] != 0xAB {
		t.Fatal("Data() is not the mbuf's memory")
	}
	if h := m.Prepend(14); len(h) != 14 || m.DataLen() != 114 || m.Headroom() != 114 {
		t.Fatalf("prepend: %d %d", m.DataLen(), m.Headroom())
	}
	if m.Prepend(1000) != nil {
		t.Fatal("prepend beyond headroom succeeded")
	}
	if !m.Adj(14) || m.Data()[0] != 0xAB {
		t.Fatal("adj")
	}
	if m.Adj(5000) {
		t.Fatal("adj beyond data succeeded")
	}
	if m.Append(100000) != nil {
		t.Fatal("append beyond tailroom succeeded")
	}
	if m.SetLen(60) == nil || m.PktLen() != 60 {
		t.Fatal("setlen")
	}
	m.SetOLFlags(dpdk.MbufTxIPv4 | dpdk.MbufTxIPCksum)
	if m.OLFlags() != dpdk.MbufTxIPv4|dpdk.MbufTxIPCksum {
		t.Fatal("ol_flags")
	}
	if _, ok := m.RSSHash(); ok {
		t.Fatal("rss hash reported without flag")
	}
	m.SetRSSHash(0xdeadbeef)
	if h, ok := m.RSSHash(); !ok || h != 0xdeadbeef {
		t.Fatalf("rss hash %x %v", h, ok)
	}
	m.SetVLANTCI(100)
	if m.VLANTCI() != 100 {
		t.Fatal("vlan tci")
	}
	m.SetPort(7)
	if m.Port() != 7 {
		t.Fatal("port")
	}
}

func TestChainedMbuf(t *testing.T) {
	checkPool(t)
	head := dpdktest.MakeFrames(t, testPool, 1, 1000, 42)[0]
	tail := testPool.Alloc()
	copy(tail.Append(500), make([]byte, 500))
	for i := range tail.Data() {
		tail.Data()[i] = byte(i)
	}
	if err := head.Chain(tail); err != nil {
		t.Fatal(err)
	}
	if !head.IsChained() || head.NumSegs() != 2 || head.PktLen() != 1500 || head.DataLen() != 1000 || head.Next() != tail {
		t.Fatalf("chain: segs %d pkt %d data %d", head.NumSegs(), head.PktLen(), head.DataLen())
	}
	// Chained mbufs are refused where a single segment is assumed...
	if head.Append(10) != nil || head.SetLen(10) != nil {
		t.Fatal("append/setlen on a chained mbuf succeeded")
	}
	// ...and handled where the API can.
	buf := make([]byte, 2000)
	if n := head.CopyTo(buf); n != 1500 || buf[1000] != 0 || buf[1001] != 1 {
		t.Fatalf("copyto %d", n)
	}
	if err := head.Linearize(); err != nil {
		t.Fatal(err)
	}
	if head.IsChained() || head.DataLen() != 1500 || head.Data()[1499] != byte(499%256) {
		t.Fatalf("linearize: segs %d len %d", head.NumSegs(), head.DataLen())
	}
	if seq, ok := dpdktest.FrameSeq(head.Data()[:1000]); !ok || seq != 42 {
		t.Fatalf("first segment damaged by linearize")
	}
	head.Free() // frees both buffers: linearize returned the tail to the pool
}

func TestLaunchOnLcore(t *testing.T) {
	checkPool(t)
	workers := dpdk.WorkerLcores()
	if len(workers) == 0 {
		t.Fatal("no worker lcore")
	}
	lc := workers[0]
	if cpu := dpdk.LcoreCPU(lc); cpu != 1 {
		t.Fatalf("worker lcore %d on cpu %d, want 1", lc, cpu)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	err := dpdk.Launch(lc, func() error {
		close(started)
		<-release
		if id := dpdk.LcoreID(); id != lc {
			return errors.New("wrong lcore id")
		}
		// Per-lcore cache: alloc and free go through this lcore's cache.
		pkts := make([]*dpdk.Mbuf, 64)
		if err := testPool.AllocBulk(pkts); err != nil {
			return err
		}
		dpdk.FreeBulk(pkts)
		return errors.New("done on lcore")
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := dpdk.Launch(lc, func() error { return nil }); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("launch on a busy lcore: %v, want EBUSY", err)
	}
	close(release)
	if err := dpdk.Wait(lc); err == nil || err.Error() != "done on lcore" {
		t.Fatalf("Wait: %v", err)
	}
	// The lcore is free again.
	if err := dpdk.Launch(lc, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := dpdk.Wait(lc); err != nil {
		t.Fatal(err)
	}
}

func TestStartThread(t *testing.T) {
	checkPool(t)
	var inside uint
	th, err := dpdk.StartThread(0, func(lcore uint) {
		inside = dpdk.LcoreID()
		pkts := make([]*dpdk.Mbuf, 64)
		if testPool.AllocBulk(pkts) == nil {
			dpdk.FreeBulk(pkts)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	th.Wait()
	if th.Lcore == dpdk.LcoreAny || inside != th.Lcore {
		t.Fatalf("thread lcore %d, rte_lcore_id inside %d", th.Lcore, inside)
	}
	if _, err := dpdk.StartThread(100000, func(uint) {}); err == nil {
		t.Fatal("StartThread on a cpu that does not exist succeeded")
	}
}

// TestZeroAllocsPerBurst checks that the burst calls allocate nothing in Go.
func TestZeroAllocsPerBurst(t *testing.T) {
	checkPool(t)
	null0, _ := dpdk.PortByName("net_null0")
	null1, _ := dpdk.PortByName("net_null1")
	startPort(t, null0)
	startPort(t, null1)
	r, err := dpdk.NewRing("pwallocring", 1024, dpdk.SocketAny, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	arr := dpdk.NewMbufArray(32)
	defer arr.Free()
	goPkts := make([]*dpdk.Mbuf, 32)
	for name, pkts := range map[string][]*dpdk.Mbuf{"c array": arr.Pkts, "go slice": goPkts} {
		allocs := testing.AllocsPerRun(1000, func() {
			n := null0.RxBurst(0, pkts)
			_ = pkts[0].Data()
			n = r.Enqueue(pkts[:n])
			n = r.Dequeue(pkts[:n])
			sent := null1.TxBurst(0, pkts[:n])
			dpdk.FreeBulk(pkts[sent:n])
			if testPool.AllocBulk(pkts) == nil {
				dpdk.FreeBulk(pkts)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per burst, want 0", name, allocs)
		}
	}
}

func TestConfineThreads(t *testing.T) {
	n, err := dpdk.ConfineThreads([]int{0})
	if err != nil || n == 0 {
		t.Fatalf("ConfineThreads: %d %v", n, err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	workers := 0
	for _, tk := range tasks {
		st, err := os.ReadFile("/proc/self/task/" + tk.Name() + "/status")
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/self/task/" + tk.Name() + "/comm")
		var allowed string
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				allowed = strings.TrimSpace(v)
			}
		}
		if strings.HasPrefix(string(comm), "rte-worker-") {
			workers++
			if allowed != "1" {
				t.Errorf("worker thread %s moved to %q", tk.Name(), allowed)
			}
		} else if allowed != "0" {
			t.Errorf("thread %s (%s) allowed on %q, want 0", tk.Name(), strings.TrimSpace(string(comm)), allowed)
		}
	}
	if workers != 1 {
		t.Fatalf("%d worker threads, want 1", workers)
	}
	if _, err := dpdk.ConfineThreads(nil); err == nil {
		t.Fatal("ConfineThreads(nil) succeeded")
	}
}
