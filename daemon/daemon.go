package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/forwarder"
	"github.com/podwire/podwire/state"
	"github.com/podwire/podwire/vhostuser"
)

// Version is podwired's build version, set with -ldflags.
var Version = "dev"

// Daemon is a running podwired: the EAL, the forwarding engine, the ports
// of every attachment, the persisted state and the control API.
type Daemon struct {
	cfg   *Config
	log   *slog.Logger
	pool  *dpdk.Mempool
	eng   *forwarder.Engine
	vhost *vhostuser.Manager
	store *state.Store

	mu       sync.Mutex // serializes changes; guards the maps below
	networks map[string]api.Network
	atts     map[string]*attachment        // by Key
	podMgrs  map[string]*vhostuser.Manager // per-pod socket directories, by Pod (poddir.go)
	uplink   *uplink

	api     *http.Server
	apiLn   net.Listener
	metrics *http.Server
	started time.Time
	served  chan error

	stopReconcile context.CancelFunc
	reconcileDone chan struct{}
}

type attachment struct {
	spec     api.Attachment // with defaults
	portName string
	vport    *vhostuser.Port
	kport    *kernelPort // kind kernel (kernel.go)
	err      error       // why the port does not exist, if it does not
	created  time.Time
}

type uplink struct {
	name string
	port dpdk.Port
}

// Start brings podwired up: EAL, mempool, engine, state, uplink, every
// persisted and configured attachment, the API and metrics. On error,
// everything started is stopped again.
func Start(ctx context.Context, cfg *Config, log *slog.Logger) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// d is not the named result: every error return sets that to nil, and
	// the cleanup below needs the daemon.
	d := &Daemon{cfg: cfg, log: log, networks: map[string]api.Network{}, atts: map[string]*attachment{},
		podMgrs: map[string]*vhostuser.Manager{}, started: time.Now(), served: make(chan error, 2)}
	defer func() {
		if err != nil {
			d.shutdown(context.Background(), false)
		}
	}()
	if d.store, err = state.Open(cfg.StateDir, state.WithLogger(log)); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st, err := d.store.Load()
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	opts := dpdk.Options{
		Lcores: cfg.EAL.Lcores, FilePrefix: cfg.EAL.FilePrefix, InMemory: cfg.EAL.InMemory,
		NoHuge: cfg.EAL.NoHuge, MemoryMB: cfg.EAL.MemoryMB, NoPCI: cfg.EAL.NoPCI, Allow: cfg.EAL.Allow,
		Vdevs: cfg.EAL.Vdevs, LogLevel: cfg.EAL.LogLevel, Extra: cfg.EAL.Extra, NoTelemetry: true,
	}
	if cfg.EAL.MainLcore != nil {
		opts.MainLcore, opts.HasMainLcore = *cfg.EAL.MainLcore, true
	}
	if err := dpdk.InitOptions(opts); err != nil {
		return nil, fmt.Errorf("EAL: %w", err)
	}
	if d.pool, err = dpdk.NewMbufPool("podwired", dpdk.MbufPoolConfig{Mbufs: cfg.Mempool.Mbufs, Cache: cfg.Mempool.Cache, Socket: dpdk.SocketAny}); err != nil {
		return nil, err
	}
	d.eng, err = forwarder.New(forwarder.Config{
		Lcores: cfg.Workers.Lcores, Pool: d.pool, Burst: cfg.Workers.Burst,
		RxDesc: cfg.Workers.RxDesc, TxDesc: cfg.Workers.TxDesc, IdleSleep: time.Duration(cfg.Workers.IdleSleep),
		MACAgeing: time.Duration(cfg.MAC.Ageing), MaxMACs: cfg.MAC.MaxMACs, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := d.eng.Start(); err != nil {
		return nil, err
	}
	d.confineThreads()
	if d.vhost, err = vhostuser.New(vhostuser.Config{BaseDir: cfg.SocketDir, Logger: log}); err != nil {
		return nil, err
	}
	// Networks: the configured ones win over persisted ones of the same
	// name; persisted ones created through the API are kept.
	nets := map[string]api.Network{}
	for _, n := range st.Networks {
		nets[n.Name] = n
	}
	for _, n := range cfg.Networks {
		nets[n.Name] = n
	}
	for _, name := range sortedKeys(nets) {
		if err := d.addNetwork(ctx, nets[name]); err != nil {
			return nil, err
		}
	}
	if cfg.Uplink != nil {
		if err := d.startUplink(ctx, cfg.Uplink); err != nil {
			return nil, err
		}
	}
	// Attachments: configured ports, then persisted ones. A port that cannot
	// be created now stays as an attachment in state "down" with the reason.
	// Persisted attachments that the config does not list are restored:
	// their kernel ports reuse the pod's veth and never create one.
	specs, restore := map[string]api.Attachment{}, map[string]bool{}
	for _, a := range st.Attachments {
		specs[a.Key()] = a.WithDefaults()
		restore[a.Key()] = true
	}
	for _, a := range cfg.Ports {
		specs[a.Key()] = a.WithDefaults()
		delete(restore, a.Key())
	}
	for _, key := range sortedKeys(specs) {
		a := specs[key]
		if _, ok := d.networks[a.Network]; !ok {
			log.Warn("attachment refers to a network that no longer exists; dropped", "container_id", a.ContainerID, "ifname", a.IfName, "network", a.Network)
			continue
		}
		att := d.createPort(ctx, a, restore[key])
		d.atts[key] = att
		if att.err != nil {
			log.Error("attachment port not recreated", "container_id", a.ContainerID, "ifname", a.IfName, "err", att.err)
		}
	}
	if err := d.persist(); err != nil {
		return nil, err
	}
	if err := d.serveAPI(); err != nil {
		return nil, err
	}
	if cfg.Metrics.Addr != "" {
		if err := d.serveMetrics(); err != nil {
			return nil, err
		}
	}
	if iv := time.Duration(cfg.ReconcileInterval); iv > 0 {
		rctx, cancel := context.WithCancel(context.Background())
		d.stopReconcile, d.reconcileDone = cancel, make(chan struct{})
		go d.reconcile(rctx, iv)
	}
	log.Info("podwired started", "version", Version, "api", cfg.API.Socket, "networks", len(d.networks),
		"attachments", len(d.atts), "workers", len(d.eng.Workers()), "startup", time.Since(d.started).Round(time.Millisecond))
	return d, nil
}

// Wait blocks until ctx ends or a server fails, then shuts down.
func (d *Daemon) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-d.served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.shutdown(sctx, true)
	return err
}

// shutdown stops the API, the workers and every port, and the EAL. Socket
// directories and device-info files stay, so that pods keep their mounts
// and a restarted podwired recreates the sockets in the same place.
func (d *Daemon) shutdown(ctx context.Context, graceful bool) {
	if d.stopReconcile != nil {
		d.stopReconcile()
		<-d.reconcileDone
		d.stopReconcile = nil
	}
	if d.api != nil {
		_ = d.api.Shutdown(ctx)
	}
	if d.metrics != nil {
		_ = d.metrics.Shutdown(ctx)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.eng != nil {
		for _, a := range d.atts {
			if err := d.releaseKernel(ctx, a); err != nil {
				d.log.Warn("release port", "port", a.portName, "err", err)
			}
			if a.vport != nil {
				_ = d.eng.RemovePort(ctx, a.portName)
				if err := a.vport.Release(); err != nil {
					d.log.Warn("release port", "port", a.portName, "err", err)
				}
				a.vport = nil
			}
		}
		if d.uplink != nil {
			_ = d.eng.RemovePort(ctx, d.uplink.name)
			_ = d.uplink.port.Remove()
			d.uplink = nil
		}
		if err := d.eng.Close(); err != nil {
			d.log.Warn("engine close", "err", err)
		}
		d.eng = nil
	}
	if d.pool != nil {
		if n := d.pool.InUse(); n != 0 {
			d.log.Warn("mbufs still in use at shutdown", "in_use", n)
		}
		d.pool.Free()
		d.pool = nil
	}
	if dpdk.Initialized() {
		_ = dpdk.Cleanup()
	}
	if d.store != nil {
		_ = d.store.Close()
		d.store = nil
	}
	if d.apiLn != nil {
		_ = os.Remove(d.cfg.API.Socket)
	}
	if graceful {
		d.log.Info("podwired stopped")
	}
}

// confineThreads keeps the Go runtime's and EAL's other threads off the
// forwarding cores, on the EAL cores no worker uses.
func (d *Daemon) confineThreads() {
	workerCPU := map[int]bool{}
	for _, w := range d.eng.Workers() {
		workerCPU[w.CPU] = true
	}
	var ctl []int
	for _, c := range d.cfg.EAL.Lcores {
		if !workerCPU[c] {
			ctl = append(ctl, c)
		}
	}
	if len(ctl) == 0 {
		d.log.Warn("every EAL core forwards: control threads share the forwarding cores")
		return
	}
	if n, err := dpdk.ConfineThreads(ctl); err != nil {
		d.log.Warn("confine control threads", "err", err)
	} else {
		d.log.Debug("control threads confined", "threads", n, "cpus", ctl)
	}
}

func (d *Daemon) addNetwork(ctx context.Context, n api.Network) error {
	spec := forwarder.NetworkSpec{Name: n.Name, VLAN: n.VLAN, MaxMACs: n.MaxMACs,
		MACAgeing: time.Duration(n.MACAgeingSeconds) * time.Second}
	if err := d.eng.AddNetwork(ctx, spec); err != nil {
		return err
	}
	d.networks[n.Name] = n
	return nil
}

func (d *Daemon) startUplink(ctx context.Context, u *UplinkConfig) error {
	var p dpdk.Port
	if u.Vdev != "" {
		ports, err := dpdk.Probe(u.Vdev)
		if err != nil {
			return fmt.Errorf("uplink %s: %w", u.Name, err)
		}
		p = ports[0]
	} else {
		ports := dpdk.PortsOfDevice(u.PCI)
		if len(ports) == 0 {
			return fmt.Errorf("uplink %s: PCI device %s has no DPDK port (bound to vfio-pci and listed in eal.allow?)", u.Name, u.PCI)
		}
		p = ports[0]
	}
	if err := d.eng.AddPort(ctx, forwarder.PortSpec{Name: u.Name, Port: p, Kind: forwarder.KindUplink, Trunk: true, RxQueues: max(u.RxQueues, 1)}); err != nil {
		if u.Vdev != "" {
			_ = p.Remove()
		}
		return err
	}
	d.uplink = &uplink{name: u.Name, port: p}
	return nil
}

// portName is the engine's name for an attachment's port: kind and a hash
// of the key, short and stable across restarts.
func portName(a api.Attachment) string {
	h := sha256.Sum256([]byte(a.Key()))
	prefix := map[string]string{api.KindVhostUser: "vhu-", api.KindMemif: "mif-", api.KindKernel: "ker-"}[a.Kind]
	return prefix + hex.EncodeToString(h[:6])
}

// createPort creates the port of an attachment and adds it to forwarding.
// The returned attachment carries the error if that failed. restore is
// for persisted attachments at startup (see createKernel).
func (d *Daemon) createPort(ctx context.Context, a api.Attachment, restore bool) *attachment {
	att := &attachment{spec: a, portName: portName(a), created: time.Now()}
	if a.Kind == api.KindKernel {
		att.err = d.createKernel(ctx, att, restore)
	} else {
		att.err = d.createVport(ctx, att)
	}
	return att
}

// hasPort says whether the attachment's port exists.
func (a *attachment) hasPort() bool { return a.vport != nil || a.kport != nil }

func (d *Daemon) createVport(ctx context.Context, att *attachment) error {
	a := att.spec
	spec := vhostuser.Spec{ContainerID: a.ContainerID, IfName: a.IfName, Queues: a.Queues, PodDir: d.podDirOf(a)}
	kind := forwarder.KindVhostUser
	switch a.Kind {
	case api.KindVhostUser:
		spec.Mode = vhostuser.VhostClient
		if a.VhostMode == api.VhostServer {
			spec.Mode = vhostuser.VhostServer
		}
	case api.KindMemif:
		spec.Mode = vhostuser.Memif
		kind = forwarder.KindMemif
	case api.KindKernel:
		return d.createKernel(ctx, att, false)
	default:
		return fmt.Errorf("kind %q is not supported by this podwired yet", a.Kind)
	}
	if a.OwnerUID != nil || a.OwnerGID != nil || a.SocketMode != "" {
		p := vhostuser.Perms{UID: -1, GID: -1}
		if a.OwnerUID != nil {
			p.UID = *a.OwnerUID
		}
		if a.OwnerGID != nil {
			p.GID = *a.OwnerGID
		}
		if a.SocketMode != "" {
			m, _ := api.ParseSocketMode(a.SocketMode)
			p.SocketMode = os.FileMode(m)
		}
		spec.Perms = &p
	}
	var mac net.HardwareAddr
	if a.MAC != "" {
		mac, _ = net.ParseMAC(a.MAC)
	}
	m, err := d.manager(a)
	if err != nil {
		return err
	}
	vp, err := m.Create(ctx, spec)
	if err != nil {
		if a.Pod != "" {
			_ = d.unlinkPodDir(a, "")
		}
		return err
	}
	err = d.eng.AddPort(ctx, forwarder.PortSpec{Name: att.portName, Port: vp.Ethdev(), Kind: kind,
		Network: a.Network, MAC: mac, RxQueues: uint16(max(a.Queues, 1))})
	if err == nil {
		err = vp.ApplySocketPerms(ctx)
		if err != nil {
			_ = d.eng.RemovePort(ctx, att.portName)
		}
	}
	if err == nil && a.Pod != "" {
		err = d.linkPodDir(a, vp.Dir())
		if err != nil {
			_ = d.eng.RemovePort(ctx, att.portName)
		}
	}
	if err != nil {
		_ = vp.Close()
		if a.Pod != "" {
			_ = d.unlinkPodDir(a, vp.Dir())
		}
		return err
	}
	att.vport = vp
	return nil
}

// removePort takes an attachment's port out of forwarding and deletes it
// with its socket and directory.
func (d *Daemon) removePort(ctx context.Context, att *attachment) error {
	if att.spec.Kind == api.KindKernel {
		return d.removeKernel(ctx, att)
	}
	if att.vport == nil {
		return nil
	}
	if err := d.eng.RemovePort(ctx, att.portName); err != nil {
		return err
	}
	dir := att.vport.Dir()
	err := att.vport.Close()
	att.vport = nil
	if att.spec.Pod != "" {
		err = errors.Join(err, d.unlinkPodDir(att.spec, dir))
	}
	return err
}

// persist saves networks and attachments. Called with d.mu held (or
// before the API serves).
func (d *Daemon) persist() error {
	var st state.State
	for _, name := range sortedKeys(d.networks) {
		st.Networks = append(st.Networks, d.networks[name])
	}
	for _, key := range sortedKeys(d.atts) {
		st.Attachments = append(st.Attachments, d.atts[key].spec.Spec())
	}
	if err := d.store.Save(st); err != nil {
		return fmt.Errorf("persist state: %w", err)
	}
	return nil
}

// status fills the status fields of an attachment.
func (d *Daemon) status(att *attachment) api.Attachment {
	a := att.spec
	a.PortName = att.portName
	a.CreatedAt = att.created
	if a.Kind == api.KindKernel {
		return d.kernelStatus(att, a)
	}
	if att.vport == nil {
		a.State = api.StateDown
		if att.err != nil {
			a.Reason = att.err.Error()
		}
		return a
	}
	id := uint16(att.vport.Ethdev())
	a.PortID = &id
	a.SocketPath, a.PodSocketPath = att.vport.SocketPath(), att.vport.PodSocketPath()
	if a.Pod != "" {
		a.SocketPath = filepath.Join(d.podLinkPath(a), socketName(a))
	}
	ps, ok := d.eng.Port(att.portName)
	switch {
	case ok && ps.Up:
		a.State = api.StateUp
	case a.Kind == api.KindVhostUser && a.VhostMode == api.VhostClient:
		a.State = api.StateWaiting
		a.Reason = "waiting for the pod's vhost-user server socket"
	default:
		a.State = api.StateWaiting
		a.Reason = "waiting for the pod to connect"
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
