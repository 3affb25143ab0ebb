package l2

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is how the pod's two ports reach the forwarder.
type Kind string

// Kinds.
const (
	// Vhost: the forwarder is the vhost-user server (podwired attachments
	// with vhostMode "server", testpmd net_vhost), the pod connects with
	// net_virtio_user path=S.
	Vhost Kind = "vhost"
	// Memif: the forwarder is the memif server, the pod the client, on
	// filesystem sockets.
	Memif Kind = "memif"
)

// Scenario is one interface kind and frame size.
type Scenario struct {
	Kind Kind `json:"kind"`
	// Frame is the packet length the pod sends (testpmd --txpkts), as DPDK
	// counts it: the Ethernet frame without its FCS.
	Frame int `json:"frame"`
}

// Frame sizes the pod can send: one mbuf, at most a full-size frame.
const (
	MinFrame = 60
	MaxFrame = 1518
)

func (s Scenario) String() string { return fmt.Sprintf("%s-%d", s.Kind, s.Frame) }

// Label is the scenario for people: "vhost-user 64 B".
func (s Scenario) Label() string {
	k := string(s.Kind)
	if s.Kind == Vhost {
		k = "vhost-user"
	}
	return fmt.Sprintf("%s %d B", k, s.Frame)
}

// Target is the ratio podwired/testpmd-mac the scenario must reach: 0.85
// for small frames, where the forwarder's own per-packet work shows, 0.95
// from 1024 B up, where the copies in the PMDs dominate (issue 3).
func (s Scenario) Target() float64 {
	if s.Frame >= 1024 {
		return 0.95
	}
	return 0.85
}

// DefaultScenarios are the four the issue asks for.
var DefaultScenarios = []Scenario{{Vhost, 64}, {Vhost, 1518}, {Memif, 64}, {Memif, 1518}}

// ParseScenarios parses a comma-separated list like "vhost-64,memif-1518";
// "all" is DefaultScenarios.
func ParseScenarios(s string) ([]Scenario, error) {
	if strings.TrimSpace(s) == "all" {
		return append([]Scenario(nil), DefaultScenarios...), nil
	}
	var out []Scenario
	seen := map[Scenario]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		k, size, ok := strings.Cut(f, "-")
		if !ok {
			return nil, fmt.Errorf("scenario %q: want KIND-SIZE, like vhost-64 or memif-1518", f)
		}
		sc := Scenario{Kind: Kind(k)}
		if sc.Kind != Vhost && sc.Kind != Memif {
			return nil, fmt.Errorf("scenario %q: kind %q is not vhost or memif", f, k)
		}
		n, err := strconv.Atoi(size)
		if err != nil || n < MinFrame || n > MaxFrame {
			return nil, fmt.Errorf("scenario %q: frame size %q is not a number in %d..%d", f, size, MinFrame, MaxFrame)
		}
		sc.Frame = n
		if seen[sc] {
			return nil, fmt.Errorf("scenario %q listed twice", f)
		}
		seen[sc] = true
		out = append(out, sc)
	}
	return out, nil
}

// PodMACs are the pod's two port MACs. Each port's frames go to the other
// port's MAC, so a learning switch learns both and never floods.
var PodMACs = [2]string{"02:00:00:00:00:10", "02:00:00:00:00:11"}

// The cores: the pod forwards on lcore 0 (its main lcore 1 idles in the
// CLI), the forwarder on lcore 1 (its main lcore 0 runs the control plane
// or testpmd's CLI), as in the reference PVP setup.
const (
	PodLcore = 0
	FwdLcore = 1
)

// Setup is what both forwarders and the pod share in every trial.
type Setup struct {
	// Burst is the rx/tx burst of the forwarder and the pod.
	Burst int `json:"burst"`
	// TxFirst is how many bursts per port the pod sends to start the loop
	// (testpmd "start tx_first N"): Burst*TxFirst packets per port circulate.
	TxFirst int `json:"tx_first"`
	// Desc is the rx and tx descriptor count of the forwarder's queues
	// (podwired workers.rxDesc/txDesc, testpmd --rxd/--txd).
	Desc int `json:"desc"`
	// Mbufs and Cache size the forwarder's mbuf pool (podwired
	// mempool.mbufs/cache, testpmd --total-num-mbufs/--mbcache).
	Mbufs int `json:"mbufs"`
	Cache int `json:"cache"`
}

// DefaultSetup matches podwired's default config: burst 32, 1024
// descriptors, 16383 mbufs with a 256-mbuf cache; the pod starts 32 bursts
// per port (1024 packets per port in flight).
var DefaultSetup = Setup{Burst: 32, TxFirst: 32, Desc: 1024, Mbufs: 16383, Cache: 256}

func (s Setup) validate() error {
	switch {
	case s.Burst < 1 || s.Burst > 64:
		return fmt.Errorf("burst %d out of range 1..64 (podwired's limit)", s.Burst)
	case s.TxFirst < 1 || s.TxFirst > 256:
		return fmt.Errorf("tx_first %d out of range 1..256", s.TxFirst)
	case s.Desc < 64 || s.Desc > 4096 || s.Desc&(s.Desc-1) != 0:
		return fmt.Errorf("descriptors %d: want a power of two in 64..4096", s.Desc)
	case s.Mbufs <= 1024:
		return fmt.Errorf("mbufs %d: must be above 1024", s.Mbufs)
	case s.Cache < 0 || s.Cache > 512:
		return fmt.Errorf("mempool cache %d out of range 0..512", s.Cache)
	}
	return nil
}

// socketNames are the forwarder-testpmd's socket files in its directory.
func socketNames(k Kind) [2]string {
	if k == Memif {
		return [2]string{"m0.sock", "m1.sock"}
	}
	return [2]string{"v0.sock", "v1.sock"}
}

// PodVdevs are the pod's two ports on the forwarder's sockets: port i
// has MAC PodMACs[i].
func PodVdevs(k Kind, sockets [2]string) []string {
	v := make([]string, 2)
	for i, s := range sockets {
		if k == Memif {
			v[i] = fmt.Sprintf("net_memif%d,role=client,id=0,socket=%s,socket-abstract=no,mac=%s", i, s, PodMACs[i])
		} else {
			v[i] = fmt.Sprintf("net_virtio_user%d,path=%s,queues=1,queue_size=1024,mac=%s", i, s, PodMACs[i])
		}
	}
	return v
}

// PodArgs are the pod's testpmd arguments: forwarding on PodLcore, io
// mode, each port's tx_first frames addressed to the other port's MAC,
// frames of size s.Frame. The pod records burst statistics (the same for
// both forwarders), so that its rx bursts show how full the forwarder
// keeps the loop.
func PodArgs(s Scenario, setup Setup, prefix string, sockets [2]string) []string {
	a := []string{"-l", "0,1", "--main-lcore", "1", "--no-pci", "--in-memory", "--single-file-segments",
		"--no-telemetry", "--file-prefix", prefix, "--log-level=*:notice"}
	for _, v := range PodVdevs(s.Kind, sockets) {
		a = append(a, "--vdev="+v)
	}
	return append(a, "--", "-i", "--forward-mode=io", "--nb-cores=1",
		"--burst="+strconv.Itoa(setup.Burst), "--rxd=1024", "--txd=1024", "--total-num-mbufs=8191",
		"--eth-peer=0,"+PodMACs[1], "--eth-peer=1,"+PodMACs[0],
		"--txpkts="+strconv.Itoa(s.Frame), "--record-burst-stats")
}

// FwdTestpmdArgs are the arguments of testpmd in podwired's place: two
// server ports with sockets in dir, forwarding on FwdLcore in mac mode,
// each port's output addressed to the pod port behind it, with podwired's
// burst, descriptors and pool. burstStats adds --record-burst-stats, a
// small cost in testpmd's loop that podwired does not pay.
func FwdTestpmdArgs(s Scenario, setup Setup, prefix, dir string, burstStats bool) []string {
	a := []string{"-l", "0,1", "--main-lcore", "0", "--no-pci", "--in-memory", "--no-telemetry",
		"--file-prefix", prefix, "--log-level=*:notice"}
	for i, name := range socketNames(s.Kind) {
		sock := filepath.Join(dir, name)
		if s.Kind == Memif {
			a = append(a, fmt.Sprintf("--vdev=net_memif%d,role=server,id=0,socket=%s,socket-abstract=no", i, sock))
		} else {
			a = append(a, fmt.Sprintf("--vdev=net_vhost%d,iface=%s,queues=1", i, sock))
		}
	}
	a = append(a, "--", "-i", "--forward-mode=mac", "--nb-cores=1",
		"--eth-peer=0,"+PodMACs[0], "--eth-peer=1,"+PodMACs[1],
		"--burst="+strconv.Itoa(setup.Burst),
		"--rxd="+strconv.Itoa(setup.Desc), "--txd="+strconv.Itoa(setup.Desc),
		"--total-num-mbufs="+strconv.Itoa(setup.Mbufs), "--mbcache="+strconv.Itoa(setup.Cache))
	if burstStats {
		a = append(a, "--record-burst-stats")
	}
	return a
}

// PodwiredConfig is podwired's config overlay for one trial in dir:
// busy-polling worker on FwdLcore, main lcore 0, podwired's pool and
// descriptors from setup, sockets, API and state under dir.
func PodwiredConfig(setup Setup, prefix, dir string, metrics bool) string {
	m := `""`
	if metrics {
		m = "127.0.0.1:0"
	}
	return fmt.Sprintf(`eal:
  lcores: [0, %d]
  mainLcore: 0
  filePrefix: %s
workers:
  burst: %d
  idleSleep: 0s
  rxDesc: %d
  txDesc: %d
mempool:
  mbufs: %d
  cache: %d
socketDir: %s
api:
  socket: %s
stateDir: %s
metrics:
  addr: %s
`, FwdLcore, prefix, setup.Burst, setup.Desc, setup.Desc, setup.Mbufs, setup.Cache,
		filepath.Join(dir, "s"), filepath.Join(dir, "api.sock"), filepath.Join(dir, "state"), m)
}

// PodwiredFlags are podwired's flags besides -config: the same cores and
// busy polling as the config, spelled out.
func PodwiredFlags(config string) []string {
	return []string{"-config", config, "-lcores", "0," + strconv.Itoa(FwdLcore), "-idle-sleep", "0", "-log-level", "info"}
}
