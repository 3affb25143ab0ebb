package vhostuser

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podwire/podwire/dpdk"
)

// DefaultBaseDir is where attachment directories go by default.
const DefaultBaseDir = "/run/podwire/sockets"

// hashLen is the length of an attachment directory's name (hex digits).
const hashLen = 12

// longestSocketName is the longest Mode.SocketName.
const longestSocketName = len("memif.sock")

// MaxBaseDirLen is the longest base directory with which every socket path
// fits sun_path: base + "/" + hash + "/" + socket name <= 107 bytes.
const MaxBaseDirLen = maxSunPath - 1 - hashLen - 1 - longestSocketName

// ErrExists: the attachment (container ID, interface name) already has a
// port in this Manager.
var ErrExists = errors.New("attachment already has a port")

// Config configures a Manager.
type Config struct {
	// BaseDir holds one directory per attachment; DefaultBaseDir if empty.
	// It must be absolute, at most MaxBaseDirLen bytes, and not writable by
	// others. It is created (0755) if missing.
	BaseDir string
	// Perms are the default owner and mode of attachment directories and
	// sockets; a Spec may override them. The zero value is root-owned,
	// directories 0750 (0770 for VhostClient and Memif), sockets 0660.
	Perms Perms
	// Logger gets one line per port created or closed; nil discards.
	Logger *slog.Logger
}

// Manager creates and tracks the ports of attachments under one base
// directory. It is safe for concurrent use.
type Manager struct {
	base  string
	perms Perms
	log   *slog.Logger

	mu     sync.Mutex
	active map[string]*Port // by directory hash; nil value: being created
}

// New checks cfg and makes the base directory if needed.
func New(cfg Config) (*Manager, error) {
	base := cfg.BaseDir
	if base == "" {
		base = DefaultBaseDir
	}
	if !filepath.IsAbs(base) {
		return nil, fmt.Errorf("socket base directory %q is not an absolute path", base)
	}
	base = filepath.Clean(base)
	if len(base) > MaxBaseDirLen {
		return nil, fmt.Errorf("socket base directory %q is %d bytes; at most %d fit, since %s/<%d-char hash>/%s must stay within sun_path's %d bytes",
			base, len(base), MaxBaseDirLen, base, hashLen, "memif.sock", maxSunPath+1)
	}
	if err := checkArgValue(base); err != nil {
		return nil, fmt.Errorf("socket base directory %q: %w", base, err)
	}
	if _, err := cfg.Perms.resolve(VhostServer); err != nil {
		return nil, err
	}
	if err := mkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("create socket base directory: %w", err)
	}
	st, err := os.Stat(base)
	if err != nil {
		return nil, fmt.Errorf("socket base directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("socket base directory %s is not a directory", base)
	}
	if st.Mode().Perm()&0o002 != 0 {
		// Anyone could swap attachment directories for symlinks there.
		return nil, fmt.Errorf("socket base directory %s is writable by others (mode %#o)", base, uint32(st.Mode().Perm()))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Manager{base: base, perms: cfg.Perms, log: log, active: map[string]*Port{}}, nil
}

// mkdirAll is os.MkdirAll, but each directory it creates gets mode exactly
// (chmod after mkdir), whatever the umask: pods must be able to search
// through to their attachment directory.
func mkdirAll(dir string, mode os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent, mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, mode); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	return os.Chmod(dir, mode)
}

// BaseDir is the directory that holds the attachment directories.
func (m *Manager) BaseDir() string { return m.base }

// dirName is the attachment directory's name: hashLen hex digits of
// SHA-256("containerID/ifName"). Neither part can contain '/'.
func dirName(containerID, ifName string) string {
	h := sha256.Sum256([]byte(containerID + "/" + ifName))
	return hex.EncodeToString(h[:])[:hashLen]
}

// Dir is the host directory of an attachment; it exists while its port does.
func (m *Manager) Dir(containerID, ifName string) string {
	return filepath.Join(m.base, dirName(containerID, ifName))
}

// SocketPath is the host path of an attachment's socket in mode mode.
func (m *Manager) SocketPath(containerID, ifName string, mode Mode) string {
	return filepath.Join(m.Dir(containerID, ifName), mode.SocketName())
}

// Get returns the open port of an attachment, or nil.
func (m *Manager) Get(containerID, ifName string) *Port {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.active[dirName(containerID, ifName)]
	if p != nil && p.spec.ContainerID == containerID && p.spec.IfName == ifName {
		return p
	}
	return nil
}

// Ports returns the open ports.
func (m *Manager) Ports() []*Port {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]*Port, 0, len(m.active))
	for _, p := range m.active {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Port is an attachment's DPDK device with its socket directory. Create
// makes it; Close removes all of it.
type Port struct {
	m       *Manager
	spec    Spec
	perms   Perms
	hash    string
	dir     string
	socket  string
	vdev    string
	devargs string
	eth     dpdk.Port
	// listenFD is the memif server's listening socket, which DPDK 22.11
	// leaves open when the device is removed (dpdk.PMDListener); -1 if
	// none is known.
	listenFD int

	mu       sync.Mutex
	sockID   fileID // podwired's socket, once its perms are applied
	haveSock bool
	closed   bool
	// guardStop and guardDone run the VhostServer socket's guard
	// (single.go); nil when it does not run.
	guardStop, guardDone chan struct{}
}

// Create makes the port of the attachment s: its directory with owner and
// mode, a dead socket at the socket path removed (before podwired's bind,
// or the pod's in VhostClient mode), the device probed with dpdk.Probe,
// device-info.json written. On error it removes what it added.
//
// The returned Port is not configured or started: that is the
// forwarder's job. In VhostServer mode the socket appears only when the
// port starts; call ApplySocketPerms then. Create fails with ErrExists if
// the attachment already has a port, and with ErrSocketInUse or ErrNotSocket
// if something other than a dead socket is in the socket's place.
func (m *Manager) Create(ctx context.Context, s Spec) (*Port, error) {
	s, perms, err := s.validate(m.perms)
	if err != nil {
		return nil, err
	}
	if !dpdk.Initialized() {
		return nil, fmt.Errorf("create port %s/%s: %w", s.ContainerID, s.IfName, dpdk.ErrNotInitialized)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &Port{m: m, spec: s, perms: perms, hash: dirName(s.ContainerID, s.IfName), listenFD: -1}
	p.dir = filepath.Join(m.base, p.hash)
	p.socket = filepath.Join(p.dir, s.Mode.SocketName())

	m.mu.Lock()
	if _, busy := m.active[p.hash]; busy {
		other := m.active[p.hash]
		m.mu.Unlock()
		if other != nil && (other.spec.ContainerID != s.ContainerID || other.spec.IfName != s.IfName) {
			return nil, fmt.Errorf("create port %s/%s: directory %s is taken by %s/%s (hash collision)",
				s.ContainerID, s.IfName, p.dir, other.spec.ContainerID, other.spec.IfName)
		}
		return nil, fmt.Errorf("create port %s/%s: %w", s.ContainerID, s.IfName, ErrExists)
	}
	m.active[p.hash] = nil // reserved while being created
	m.mu.Unlock()

	if err := p.create(ctx); err != nil {
		m.mu.Lock()
		delete(m.active, p.hash)
		m.mu.Unlock()
		return nil, fmt.Errorf("create port %s/%s (%s): %w", s.ContainerID, s.IfName, s.Mode, err)
	}
	m.mu.Lock()
	m.active[p.hash] = p
	m.mu.Unlock()
	m.log.Info("port created", "container_id", s.ContainerID, "ifname", s.IfName, "mode", string(s.Mode),
		"port", uint16(p.eth), "vdev", p.vdev, "socket", p.socket)
	return p, nil
}

// create does Create's work; on error it undoes what it did.
func (p *Port) create(ctx context.Context) (err error) {
	dfd, err := ensureDir(p.m.base, p.hash, p.perms)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	probed := false
	defer func() {
		if err == nil {
			return
		}
		// Undo what this call added: a file in the socket's place that
		// made Create refuse stays, and so does its directory.
		if probed {
			if rerr := p.removeDevice(); rerr != nil {
				p.m.log.Warn("remove port after failed create", "port", uint16(p.eth), "vdev", p.vdev, "err", rerr)
			}
			if p.spec.Mode.podwiredListens() {
				_ = p.removeSocket(dfd)
			}
		}
		_ = p.removeDir(true)
	}()

	// Before podwired's server binds, a dead socket of an earlier run must
	// go. In VhostClient mode the socket is the pod's and is left alone:
	// checking whether it is alive means connecting to it, and a
	// net_virtio_user server takes any connection for its backend, so a
	// probe that hangs up again breaks its reconnect (seen with DPDK
	// 22.11 when podwired restarts while the pod runs).
	if p.spec.Mode.podwiredListens() {
		removed, err := removeStale(dfd, p.socket, p.spec.Mode.SocketName())
		if err != nil {
			return err
		}
		if removed {
			p.m.log.Info("removed stale socket", "container_id", p.spec.ContainerID, "socket", p.socket)
		}
		if err := p.removeBusyName(dfd); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := allocVdev(p.spec.Mode.driver())
	if err != nil {
		return err
	}
	p.vdev = name
	if p.devargs, err = p.spec.devargs(name, p.socket); err != nil {
		return err
	}
	ports, err := dpdk.Probe(p.devargs)
	if err != nil {
		return err
	}
	p.eth, probed = ports[0], true
	if len(ports) != 1 {
		// Removing the device (deferred above) removes all its ports.
		return fmt.Errorf("probe %s: %d ports, want 1", p.devargs, len(ports))
	}
	if p.spec.Mode == Memif {
		p.listenFD = dpdk.PMDListener(p.socket)
		// The memif server socket exists from probe on.
		if err := p.applyPerms(dfd); err != nil {
			return err
		}
	}
	info := p.DeviceInfo()
	return writeFileAt(dfd, p.DeviceInfoPath(), DeviceInfoFile, info.JSON(), 0o644)
}

// Ethdev is the port's ethdev id, for the forwarder.
func (p *Port) Ethdev() dpdk.Port { return p.eth }

// Vdev is the device name (net_vhostN or net_memifN).
func (p *Port) Vdev() string { return p.vdev }

// Devargs are the arguments the device was probed with.
func (p *Port) Devargs() string { return p.devargs }

// Spec is the attachment, with defaults filled in.
func (p *Port) Spec() Spec { return p.spec }

// Perms are the owner and mode applied to the directory and socket.
func (p *Port) Perms() Perms { return p.perms }

// Dir is the attachment's host directory.
func (p *Port) Dir() string { return p.dir }

// SocketPath is the socket's host path.
func (p *Port) SocketPath() string { return p.socket }

// PodSocketPath is the socket's path as the pod sees it: under Spec.PodDir
// if set, else the host path.
func (p *Port) PodSocketPath() string {
	if p.spec.PodDir == "" {
		return p.socket
	}
	return filepath.Join(p.spec.PodDir, p.spec.Mode.SocketName())
}

// DeviceInfoPath is the host path of device-info.json.
func (p *Port) DeviceInfoPath() string { return filepath.Join(p.dir, DeviceInfoFile) }

// DeviceInfo is the NPWG device-info document of the attachment, also
// written to DeviceInfoPath (and for a CNI to copy to CNIDeviceInfoFile).
func (p *Port) DeviceInfo() DeviceInfo { return deviceInfo(p.spec.Mode, p.PodSocketPath()) }

// applyPerms sets the socket's owner and mode and remembers its identity.
func (p *Port) applyPerms(dfd int) error {
	id, err := applySocketPerms(dfd, p.socket, p.spec.Mode.SocketName(), p.perms)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sockID, p.haveSock = id, true
	p.mu.Unlock()
	return nil
}

// ApplySocketPerms gives the socket podwired listens on its owner and mode
// once it exists, polling for it until ctx is done (at most 2 s if ctx has
// no deadline). In VhostServer mode DPDK creates the socket when the port
// starts (rte_eth_dev_start), so call this right after starting the port;
// until then the socket has DPDK's default mode (umask-dependent), which a
// non-root pod may not be able to use. In VhostServer mode it then starts
// the socket's guard, which keeps a second client out while one is
// connected (single.go). For Memif, Create has done it already;
// in VhostClient mode the socket is the pod's and this does nothing.
func (p *Port) ApplySocketPerms(ctx context.Context) error {
	if p.spec.Mode == VhostClient {
		return nil
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return fmt.Errorf("apply socket perms %s: port closed", p.socket)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	dfd, err := openDir(p.dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := p.applyPerms(dfd)
		if err == nil {
			p.startGuard()
		}
		if !errors.Is(err, unix.ENOENT) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("apply socket perms: %s did not appear (is port %d started?): %w", p.socket, p.eth, ctx.Err())
		case <-tick.C:
		}
	}
}

// Close removes the device (dpdk.Port.Remove: stop, close, rte_dev_remove),
// podwired's socket if DPDK left it, device-info.json, and the directory if
// it is then empty. In VhostClient mode the pod's socket is removed only if
// nothing listens on it any more. No lcore may poll the port any longer.
// Close is idempotent; it returns the first error but does all it can.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stopGuard()

	var errs []error
	if p.eth.Valid() {
		if err := p.removeDevice(); err != nil {
			errs = append(errs, err)
		}
	}
	dfd, err := openDir(p.dir)
	if err == nil {
		errs = append(errs, p.cleanFiles(dfd)...)
		unix.Close(dfd)
	} else if !errors.Is(err, unix.ENOENT) {
		errs = append(errs, err)
	}
	p.m.mu.Lock()
	if p.m.active[p.hash] == p {
		delete(p.m.active, p.hash)
	}
	p.m.mu.Unlock()
	err = errors.Join(errs...)
	if err != nil {
		err = fmt.Errorf("close port %s/%s: %w", p.spec.ContainerID, p.spec.IfName, err)
	}
	p.m.log.Info("port closed", "container_id", p.spec.ContainerID, "ifname", p.spec.IfName,
		"port", uint16(p.eth), "vdev", p.vdev, "socket", p.socket, "err", err)
	return err
}

// removeDevice removes the ethdev and its device, then closes the memif
// listener that DPDK leaves open (see dpdk.ReleasePMDListener).
func (p *Port) removeDevice() error {
	if err := p.eth.Remove(); err != nil {
		return err
	}
	if p.listenFD < 0 {
		return nil
	}
	fd := p.listenFD
	p.listenFD = -1
	closed, err := dpdk.ReleasePMDListener(fd, p.socket)
	p.m.log.Debug("memif listener released", "port", uint16(p.eth), "fd", fd, "closed", closed, "err", err)
	return err
}

// cleanFiles removes the socket (see Close), device-info.json and, if then
// empty, the directory.
func (p *Port) cleanFiles(dfd int) []error {
	var errs []error
	if err := p.removeSocket(dfd); err != nil {
		errs = append(errs, err)
	}
	if err := unix.Unlinkat(dfd, DeviceInfoFile, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("remove %s: %w", p.DeviceInfoPath(), err))
	}
	if err := p.removeDir(false); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// removeSocket removes podwired's socket if DPDK left it behind, or in
// VhostClient mode the pod's socket if nothing listens on it any more.
func (p *Port) removeSocket(dfd int) error {
	p.mu.Lock()
	id, known := p.sockID, p.haveSock
	p.mu.Unlock()
	name := p.spec.Mode.SocketName()
	if p.spec.Mode.podwiredListens() {
		return removeIfID(dfd, p.socket, name, id, known)
	}
	if _, err := removeStale(dfd, p.socket, name); err != nil && !errors.Is(err, ErrSocketInUse) {
		return err
	}
	return nil
}

// removeDir removes the attachment directory if it is empty; a non-empty
// one is left in place (and logged unless quiet).
func (p *Port) removeDir(quiet bool) error {
	bfd, err := openDir(p.m.base)
	if err != nil {
		return err
	}
	defer unix.Close(bfd)
	err = unix.Unlinkat(bfd, p.hash, unix.AT_REMOVEDIR)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
		if !quiet {
			p.m.log.Warn("attachment directory not empty; left in place", "container_id", p.spec.ContainerID, "socket", p.socket)
		}
		return nil
	}
	return fmt.Errorf("remove directory %s: %w", p.dir, err)
}

// nextVdev numbers device names per driver, process-wide like the EAL's
// device list. Names are never handed out twice in a process.
var nextVdev struct {
	mu   sync.Mutex
	next map[string]int
}

// allocVdev returns a device name driver<N> that this package has not
// handed out before in this process and that the EAL does not have.
func allocVdev(driver string) (string, error) {
	nextVdev.mu.Lock()
	defer nextVdev.mu.Unlock()
	if nextVdev.next == nil {
		nextVdev.next = map[string]int{}
	}
	for range 1 << 16 {
		n := nextVdev.next[driver]
		nextVdev.next[driver] = n + 1
		name := driver + strconv.Itoa(n)
		if len(dpdk.PortsOfDevice(name)) == 0 {
			return name, nil
		}
	}
	return "", fmt.Errorf("no free %s device name", driver)
}
