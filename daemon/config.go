package daemon

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/podwire/podwire/api"
)

// DefaultConfigYAML runs on any machine with hugepages and no NIC: its
// uplink is a tap interface on the host, and the pods' sockets live under
// /run/podwire.
//
//go:embed default.yaml
var DefaultConfigYAML []byte

// Config is podwired's configuration file. Every field has a default
// (DefaultConfigYAML); flags override single fields.
type Config struct {
	EAL       EALConfig     `json:"eal"`
	Workers   WorkersConfig `json:"workers"`
	Mempool   MempoolConfig `json:"mempool"`
	SocketDir string        `json:"socketDir"`
	API       APIConfig     `json:"api"`
	Metrics   MetricsConfig `json:"metrics"`
	StateDir  string        `json:"stateDir"`
	MAC       MACConfig     `json:"mac"`
	// ReconcileInterval is how often podwired removes attachments whose pod
	// netns is gone (0: never).
	ReconcileInterval Duration         `json:"reconcileInterval"`
	Uplink            *UplinkConfig    `json:"uplink,omitempty"`
	Networks          []api.Network    `json:"networks"`
	Ports             []api.Attachment `json:"ports"`
}

// EALConfig are DPDK EAL options.
type EALConfig struct {
	Lcores     []int    `json:"lcores"`
	MainLcore  *int     `json:"mainLcore,omitempty"`
	FilePrefix string   `json:"filePrefix"`
	InMemory   bool     `json:"inMemory"`
	NoHuge     bool     `json:"noHuge"`
	MemoryMB   int      `json:"memoryMB"`
	NoPCI      bool     `json:"noPCI"`
	Allow      []string `json:"allow"`
	Vdevs      []string `json:"vdevs"`
	LogLevel   string   `json:"logLevel"`
	Extra      []string `json:"extra"`
}

// WorkersConfig are the forwarding workers' settings.
type WorkersConfig struct {
	// Lcores are the EAL lcores that forward (default: every EAL worker lcore).
	Lcores []uint `json:"lcores"`
	Burst  int    `json:"burst"`
	// IdleSleep lets an idle worker sleep (0: busy-poll always).
	IdleSleep Duration `json:"idleSleep"`
	RxDesc    uint16   `json:"rxDesc"`
	TxDesc    uint16   `json:"txDesc"`
}

// MempoolConfig sizes the mbuf pool.
type MempoolConfig struct {
	Mbufs uint32 `json:"mbufs"`
	Cache uint32 `json:"cache"`
}

// APIConfig is the control API's unix socket.
type APIConfig struct {
	Socket string `json:"socket"`
	// Group owns the socket (name or gid); empty: root's group.
	Group string `json:"group"`
	Mode  string `json:"mode"`
}

// MetricsConfig is the Prometheus endpoint; empty Addr: off.
type MetricsConfig struct {
	Addr string `json:"addr"`
}

// MACConfig are MAC table defaults.
type MACConfig struct {
	Ageing  Duration `json:"ageing"`
	MaxMACs int      `json:"maxMACs"`
}

// UplinkConfig is the NIC side: a PCI device (listed in eal.allow too) or
// a vdev, carrying every network (tagged by each network's VLAN).
type UplinkConfig struct {
	Name     string `json:"name"`
	PCI      string `json:"pci,omitempty"`
	Vdev     string `json:"vdev,omitempty"`
	RxQueues uint16 `json:"rxQueues"`
}

// Duration is a time.Duration written as "300s" or "100us".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"300s\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads the default configuration and overlays the file at path
// (if not empty). Unknown fields are errors.
func LoadConfig(path string) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(DefaultConfigYAML, &c); err != nil {
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return &c, nil
}

// Validate checks the whole configuration before anything starts; the
// error names the bad field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config field %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.EAL.Lcores) < 2 {
		bad("eal.lcores", "need at least two cores (a main lcore and a forwarding lcore), got %v", c.EAL.Lcores)
	}
	if c.Workers.Burst < 1 || c.Workers.Burst > 64 {
		bad("workers.burst", "%d out of range 1..64", c.Workers.Burst)
	}
	if c.Workers.IdleSleep < 0 || time.Duration(c.Workers.IdleSleep) > 10*time.Millisecond {
		bad("workers.idleSleep", "%v out of range 0..10ms", time.Duration(c.Workers.IdleSleep))
	}
	for _, d := range []struct {
		name string
		v    uint16
	}{{"workers.rxDesc", c.Workers.RxDesc}, {"workers.txDesc", c.Workers.TxDesc}} {
		if d.v < 64 || d.v > 4096 || d.v&(d.v-1) != 0 {
			bad(d.name, "%d: want a power of two in 64..4096", d.v)
		}
	}
	if c.Mempool.Mbufs < 1024 || c.Mempool.Mbufs > 1<<22 {
		bad("mempool.mbufs", "%d out of range 1024..%d", c.Mempool.Mbufs, 1<<22)
	}
	if c.Mempool.Cache > 512 {
		bad("mempool.cache", "%d above 512", c.Mempool.Cache)
	}
	for _, p := range []struct{ field, path string }{
		{"socketDir", c.SocketDir}, {"api.socket", c.API.Socket}, {"stateDir", c.StateDir},
	} {
		if p.path == "" || !filepath.IsAbs(p.path) {
			bad(p.field, "%q must be an absolute path", p.path)
		}
	}
	if len(c.API.Socket) >= 108 {
		bad("api.socket", "path is %d bytes; a unix socket path must stay under 108", len(c.API.Socket))
	}
	if c.API.Mode != "" {
		if m, err := strconv.ParseUint(c.API.Mode, 8, 32); err != nil || m > 0o777 {
			bad("api.mode", "%q is not an octal mode like \"0660\"", c.API.Mode)
		}
	}
	if c.Metrics.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Addr); err != nil {
			bad("metrics.addr", "%q: %v", c.Metrics.Addr, err)
		}
	}
	if c.ReconcileInterval != 0 && (c.ReconcileInterval < Duration(100*time.Millisecond) || c.ReconcileInterval > Duration(24*time.Hour)) {
		bad("reconcileInterval", "%v out of range 100ms..24h (0 turns it off)", time.Duration(c.ReconcileInterval))
	}
	if c.MAC.Ageing < Duration(time.Second) {
		bad("mac.ageing", "%v: at least 1s", time.Duration(c.MAC.Ageing))
	}
	if c.MAC.MaxMACs < 8 || c.MAC.MaxMACs > 1<<22 {
		bad("mac.maxMACs", "%d out of range 8..%d", c.MAC.MaxMACs, 1<<22)
	}
	if u := c.Uplink; u != nil {
		if err := api.ValidateName("uplink.name", u.Name); err != nil {
			errs = append(errs, fmt.Errorf("config field %w", err))
		}
		if (u.PCI == "") == (u.Vdev == "") {
			bad("uplink", "give exactly one of pci and vdev")
		}
		if u.Vdev != "" && (strings.ContainsAny(u.Vdev, " \t\n") || !strings.HasPrefix(u.Vdev, "net_")) {
			bad("uplink.vdev", "%q is not a DPDK net vdev string like \"net_tap0,iface=pw0\"", u.Vdev)
		}
		if u.RxQueues > 16 {
			bad("uplink.rxQueues", "%d above 16", u.RxQueues)
		}
	}
	seen := map[string]bool{}
	for i, n := range c.Networks {
		if err := n.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("config field networks[%d]: %w", i, err))
		}
		if seen[n.Name] {
			bad(fmt.Sprintf("networks[%d].name", i), "%q listed twice", n.Name)
		}
		seen[n.Name] = true
	}
	keys := map[string]bool{}
	for i, p := range c.Ports {
		p = p.WithDefaults()
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("config field ports[%d]: %w", i, err))
		}
		if !seen[p.Network] {
			bad(fmt.Sprintf("ports[%d].network", i), "no network %q in networks", p.Network)
		}
		if keys[p.Key()] {
			bad(fmt.Sprintf("ports[%d]", i), "%s listed twice", p.Key())
		}
		keys[p.Key()] = true
	}
	return errors.Join(errs...)
}
