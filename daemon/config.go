package daemon

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/dpdk"
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
	Lcores []int `json:"lcores"`
	// MainLcore is EAL's main lcore, one of Lcores; null: EAL's default
	// (the first of Lcores). Not omitempty: a re-encoded config that left
	// it out would get the default config's 0 back.
	MainLcore  *int     `json:"mainLcore"`
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
	if path == "" {
		return parseConfig(nil, "")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseConfig(b, path)
}

// parseConfig is LoadConfig on the file's contents b (nil: no file): the
// default configuration overlaid with b. name is the file's path for
// errors.
func parseConfig(b []byte, name string) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(DefaultConfigYAML, &c); err != nil {
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	if b != nil {
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			return nil, fmt.Errorf("config %s: %w", name, err)
		}
	}
	return &c, nil
}

// ConfigError is one invalid field of a Config: Field is its path
// ("workers.burst", "networks[1].name", "ports[0]"), and either Msg says
// what is wrong or Err is the error of the field's own validation (an
// *api.FieldError for networks and ports).
type ConfigError struct {
	Field string
	Msg   string
	Err   error
}

func (e *ConfigError) Error() string {
	msg := e.Msg
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return "config field " + e.Field + ": " + msg
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks the whole configuration before anything starts. The
// error is a *ConfigError naming the bad field, or several joined
// (errors.Join), one per bad field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(c.EAL.Lcores) < 2 {
		bad("eal.lcores", "need at least two cores (a main lcore and a forwarding lcore), got %v", c.EAL.Lcores)
	} else if _, err := (dpdk.Options{Lcores: c.EAL.Lcores}).Args(); err != nil {
		// EAL's own checks (range, duplicates), before anything starts.
		bad("eal.lcores", "%s", strings.TrimPrefix(err.Error(), "eal options: "))
	}
	if m := c.EAL.MainLcore; m != nil && !slices.Contains(c.EAL.Lcores, *m) {
		bad("eal.mainLcore", "%d is not one of eal.lcores %v", *m, c.EAL.Lcores)
	}
	// The other EAL options as Start passes them, checked as EAL init
	// would check them.
	e := c.EAL
	if _, err := (dpdk.Options{FilePrefix: e.FilePrefix, InMemory: e.InMemory, NoHuge: e.NoHuge, MemoryMB: e.MemoryMB,
		NoPCI: e.NoPCI, Allow: e.Allow, Vdevs: e.Vdevs, LogLevel: e.LogLevel, Extra: e.Extra}).Args(); err != nil {
		bad("eal", "%s", strings.TrimPrefix(err.Error(), "eal options: "))
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
		var fe *api.FieldError
		if err := api.ValidateName("uplink.name", u.Name); errors.As(err, &fe) {
			bad(fe.Field, "%s", fe.Message)
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
	vlans := map[uint16]string{}
	for i, n := range c.Networks {
		if err := n.Validate(); err != nil {
			errs = append(errs, &ConfigError{Field: fmt.Sprintf("networks[%d]", i), Err: err})
		}
		if seen[n.Name] {
			bad(fmt.Sprintf("networks[%d].name", i), "%q listed twice", n.Name)
		}
		seen[n.Name] = true
		// The forwarder carries one network per VLAN on the uplink.
		if o, ok := vlans[n.VLAN]; ok && n.VLAN != 0 {
			bad(fmt.Sprintf("networks[%d].vlan", i), "%d is network %q's already", n.VLAN, o)
		} else if n.VLAN != 0 {
			vlans[n.VLAN] = n.Name
		}
	}
	keys := map[string]bool{}
	for i, p := range c.Ports {
		p = p.WithDefaults()
		if err := p.Validate(); err != nil {
			errs = append(errs, &ConfigError{Field: fmt.Sprintf("ports[%d]", i), Err: err})
		}
		if !seen[p.Network] {
			bad(fmt.Sprintf("ports[%d].network", i), "no network %q in networks", p.Network)
		}
		// What the API's PUT refuses or ignores, Start would take as given.
		if p.SocketDir != "" {
			bad(fmt.Sprintf("ports[%d].socketDir", i), "not supported: podwired places sockets under socketDir")
		}
		if !reflect.DeepEqual(p.Spec(), p) {
			bad(fmt.Sprintf("ports[%d]", i), "has status fields (portName, portID, socketPath, podSocketPath, state, reason, createdAt): a port here is a spec, podwired sets those")
		}
		if keys[p.Key()] {
			bad(fmt.Sprintf("ports[%d]", i), "%s listed twice", p.Key())
		}
		keys[p.Key()] = true
	}
	return errors.Join(errs...)
}
