package vhostuser

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Mode is the kind of port and which side creates the socket, seen from
// podwired.
type Mode string

const (
	// VhostServer: podwired is the vhost-user server and creates the socket
	// (when the port starts); the pod runs net_virtio_user path=<socket>.
	VhostServer Mode = "vhost-server"
	// VhostClient: the pod is the vhost-user server (net_virtio_user
	// ...,server=1) and creates the socket; podwired connects as client=1
	// and reconnects by itself. The restart-safe choice.
	VhostClient Mode = "vhost-client"
	// Memif: podwired is the memif server and creates the socket (at
	// probe); the pod is the memif client. Filesystem socket, never abstract.
	Memif Mode = "memif"
)

// MaxQueues is the largest queue count a Spec may ask for.
const MaxQueues = 64

// maxSunPath is the longest socket path that fits struct sockaddr_un's
// 108-byte sun_path with its terminating NUL.
const maxSunPath = 107

// Spec describes one attachment.
type Spec struct {
	// ContainerID and IfName identify the attachment, as in CNI
	// (CNI_CONTAINERID, CNI_IFNAME).
	ContainerID string
	IfName      string
	Mode        Mode
	// Queues is the number of queue pairs (0 means 1). For vhost-user it is
	// the device's queues=; the forwarder configures at most this many. For
	// memif the count comes from the forwarder's Configure call alone.
	Queues int
	// MAC is the memif port's address (mac=); nil for DPDK's default.
	// vhost-user devargs have no MAC: set it with dpdk.Port.SetMAC.
	MAC net.HardwareAddr
	// MemifID is the memif interface id (id=); the pod must use the same.
	MemifID uint32
	// Perms overrides the Manager's Perms for this attachment when non-nil.
	Perms *Perms
	// PodDir is where the pod mounts the attachment's directory; it makes
	// the path in device-info.json the one the pod sees. Empty: host path.
	PodDir string
}

// Perms are the owner and mode of an attachment's directory and of the
// socket podwired creates in it. A pod must be able to search the
// directory and write the socket to connect; in VhostClient mode it must
// also write the directory, to create its socket there, and a DPDK memif
// client insists on read and write access to the directory too. Give the
// pod's user or group (fsGroup) these rights; the directory is the
// attachment's alone, and podwired never follows a symlink in it.
type Perms struct {
	// UID and GID own the directory and the socket; -1 keeps the creator's
	// (podwired's). The zero value is root.
	UID, GID int
	// DirMode is the directory's permission bits; 0 means 0750 for
	// VhostServer, 0770 for VhostClient (the pod creates its socket there)
	// and Memif (DPDK's memif PMD, even as a client, refuses a socket
	// directory it cannot read and write: faccessat R_OK|W_OK).
	DirMode os.FileMode
	// SocketMode is the socket's permission bits; 0 means 0660.
	SocketMode os.FileMode
}

// Default modes.
const (
	DefaultDirMode         os.FileMode = 0o750
	DefaultWritableDirMode os.FileMode = 0o770
	DefaultSocketMode      os.FileMode = 0o660
)

// resolve fills in defaults for mode m and validates p.
func (p Perms) resolve(m Mode) (Perms, error) {
	if p.UID < -1 || p.GID < -1 {
		return p, fmt.Errorf("perms: uid %d, gid %d: want -1 or an id", p.UID, p.GID)
	}
	if p.DirMode&^os.ModePerm != 0 || p.SocketMode&^os.ModePerm != 0 {
		return p, fmt.Errorf("perms: dir mode %#o, socket mode %#o: only permission bits (0777) allowed",
			uint32(p.DirMode), uint32(p.SocketMode))
	}
	if p.DirMode == 0 {
		p.DirMode = DefaultDirMode
		if m != VhostServer {
			p.DirMode = DefaultWritableDirMode
		}
	}
	if p.SocketMode == 0 {
		p.SocketMode = DefaultSocketMode
	}
	if p.DirMode&0o700 != 0o700 {
		return p, fmt.Errorf("perms: dir mode %#o: the owner needs rwx", uint32(p.DirMode))
	}
	return p, nil
}

// containerIDRe is CNI's rule for CNI_CONTAINERID (libcni
// utils.ValidateContainerID).
var containerIDRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// validateIfName applies CNI's rules for interface names (libcni
// utils.ValidateInterfaceName).
func validateIfName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || unicode.IsSpace(r) {
			return fmt.Errorf("interface name %q contains %q", name, r)
		}
	}
	return nil
}

// validate checks s and returns it with defaults filled in.
func (s Spec) validate(defaults Perms) (Spec, Perms, error) {
	if s.ContainerID == "" {
		return s, Perms{}, errors.New("spec: container id is empty")
	}
	if !containerIDRe.MatchString(s.ContainerID) {
		return s, Perms{}, fmt.Errorf("spec: container id %q: want letters, digits, '_', '.', '-', starting with a letter or digit", s.ContainerID)
	}
	if err := validateIfName(s.IfName); err != nil {
		return s, Perms{}, fmt.Errorf("spec: %w", err)
	}
	switch s.Mode {
	case VhostServer, VhostClient:
		if s.MAC != nil {
			return s, Perms{}, fmt.Errorf("spec: mode %s: mac applies only to memif (set a vhost-user port's MAC with dpdk.Port.SetMAC)", s.Mode)
		}
		if s.MemifID != 0 {
			return s, Perms{}, fmt.Errorf("spec: mode %s: memif id applies only to memif", s.Mode)
		}
	case Memif:
		if s.MAC != nil {
			if err := checkMAC(s.MAC); err != nil {
				return s, Perms{}, fmt.Errorf("spec: %w", err)
			}
		}
	case "":
		return s, Perms{}, errors.New("spec: mode is empty (want vhost-server, vhost-client or memif)")
	default:
		return s, Perms{}, fmt.Errorf("spec: unknown mode %q (want vhost-server, vhost-client or memif)", s.Mode)
	}
	if s.Queues == 0 {
		s.Queues = 1
	}
	if s.Queues < 1 || s.Queues > MaxQueues {
		return s, Perms{}, fmt.Errorf("spec: queues %d out of range 1..%d", s.Queues, MaxQueues)
	}
	if s.PodDir != "" && (!strings.HasPrefix(s.PodDir, "/") || strings.ContainsAny(s.PodDir, "\x00\n")) {
		return s, Perms{}, fmt.Errorf("spec: pod dir %q must be an absolute path", s.PodDir)
	}
	p := defaults
	if s.Perms != nil {
		p = *s.Perms
	}
	p, err := p.resolve(s.Mode)
	if err != nil {
		return s, Perms{}, fmt.Errorf("spec: %w", err)
	}
	return s, p, nil
}

func checkMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("mac %q is not a 48-bit Ethernet address", mac)
	}
	if mac[0]&1 != 0 {
		return fmt.Errorf("mac %s is a multicast address", mac)
	}
	if string(mac) == "\x00\x00\x00\x00\x00\x00" {
		return fmt.Errorf("mac %s is all zeros", mac)
	}
	return nil
}

// checkSocketPath checks that sock can be passed in devargs and fits
// sun_path.
func checkSocketPath(sock string) error {
	if !strings.HasPrefix(sock, "/") {
		return fmt.Errorf("socket path %q is not absolute", sock)
	}
	if len(sock) > maxSunPath {
		return fmt.Errorf("socket path %q is %d bytes; sun_path holds at most %d", sock, len(sock), maxSunPath)
	}
	if err := checkArgValue(sock); err != nil {
		return fmt.Errorf("socket path %q: %w", sock, err)
	}
	return nil
}

// checkArgValue rejects what rte_kvargs would split or EAL would mangle.
func checkArgValue(v string) error {
	for _, r := range v {
		switch {
		case r == ',' || r == '=' || r == '"' || r == '\'':
			return fmt.Errorf("contains %q, which devargs cannot carry", r)
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return fmt.Errorf("contains a space or control character")
		}
	}
	return nil
}

// checkVdevName checks that name is driver followed by a decimal number.
func checkVdevName(name, driver string) error {
	num, ok := strings.CutPrefix(name, driver)
	if !ok || num == "" {
		return fmt.Errorf("vdev name %q: want %s<number>", name, driver)
	}
	if _, err := strconv.ParseUint(num, 10, 32); err != nil {
		return fmt.Errorf("vdev name %q: want %s<number>", name, driver)
	}
	return nil
}

// VhostArgs returns net_vhost devargs: podwired as the vhost-user server
// (client false; DPDK creates the socket when the port starts) or as the
// client of a pod that is the server (client true; DPDK connects and
// reconnects by itself). name must be net_vhost<number>.
func VhostArgs(name, socket string, queues int, client bool) (string, error) {
	if err := checkVdevName(name, "net_vhost"); err != nil {
		return "", err
	}
	if err := checkSocketPath(socket); err != nil {
		return "", err
	}
	if queues < 1 || queues > MaxQueues {
		return "", fmt.Errorf("queues %d out of range 1..%d", queues, MaxQueues)
	}
	a := name + ",iface=" + socket
	if client {
		a += ",client=1"
	}
	return a + ",queues=" + strconv.Itoa(queues), nil
}

// MemifArgs returns net_memif devargs for podwired as the memif server on a
// filesystem socket (socket-abstract=no: abstract sockets do not cross
// network namespaces). mac may be nil. name must be net_memif<number>.
func MemifArgs(name, socket string, id uint32, mac net.HardwareAddr) (string, error) {
	if err := checkVdevName(name, "net_memif"); err != nil {
		return "", err
	}
	if err := checkSocketPath(socket); err != nil {
		return "", err
	}
	a := name + ",role=server,id=" + strconv.FormatUint(uint64(id), 10) + ",socket=" + socket + ",socket-abstract=no"
	if mac != nil {
		if err := checkMAC(mac); err != nil {
			return "", err
		}
		a += ",mac=" + mac.String()
	}
	return a, nil
}

// driver is the DPDK driver (vdev name prefix) of mode m.
func (m Mode) driver() string {
	if m == Memif {
		return "net_memif"
	}
	return "net_vhost"
}

// SocketName is the socket's file name in the attachment's directory.
func (m Mode) SocketName() string {
	if m == Memif {
		return "memif.sock"
	}
	return "vhost.sock"
}

// podwiredListens reports whether podwired is the side that creates (binds)
// the socket.
func (m Mode) podwiredListens() bool { return m == VhostServer || m == Memif }

// devargs builds the devargs of s for vdev name and socket sock.
func (s Spec) devargs(name, sock string) (string, error) {
	switch s.Mode {
	case VhostServer:
		return VhostArgs(name, sock, s.Queues, false)
	case VhostClient:
		return VhostArgs(name, sock, s.Queues, true)
	case Memif:
		return MemifArgs(name, sock, s.MemifID, s.MAC)
	}
	return "", fmt.Errorf("unknown mode %q", s.Mode)
}
