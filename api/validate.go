package api

import (
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON names of the fields that FieldError.Field names.
const (
	FieldName             = "name"
	FieldVLAN             = "vlan"
	FieldMaxMACs          = "maxMACs"
	FieldMACAgeingSeconds = "macAgeingSeconds"
	FieldContainerID      = "containerID"
	FieldIfName           = "ifName"
	FieldNetwork          = "network"
	FieldKind             = "kind"
	FieldVhostMode        = "vhostMode"
	FieldMAC              = "mac"
	FieldNetns            = "netns"
	FieldSocketDir        = "socketDir"
	FieldOwnerUID         = "ownerUID"
	FieldOwnerGID         = "ownerGID"
	FieldSocketMode       = "socketMode"
	FieldQueues           = "queues"
	FieldOwner            = "owner"
	FieldMTU              = "mtu"
	FieldPod              = "pod"
	FieldPodMount         = "podMount"
)

// Limits enforced by Validate.
const (
	MaxNameLen          = 63
	MaxContainerIDLen   = 128
	MaxIfNameLen        = 15 // IFNAMSIZ - 1
	MaxVLAN             = 4094
	MaxQueues           = 16
	MaxMACsLimit        = 1 << 20
	MaxMACAgeingSeconds = 1_000_000
	// MaxSocketPathLen is the longest unix socket path (sun_path is 108
	// bytes with its NUL). SocketDir must leave room for a file name; podwired
	// checks the full path.
	MaxSocketPathLen = 107
	maxPathLen       = 4095
	// MaxOwnerLen bounds Owner (a CNI network name).
	MaxOwnerLen = 253
	// MinMTU and MaxKernelMTU bound a kernel attachment's MTU. The host
	// end's net_af_packet copies each frame into one of podwired's mbufs
	// (2 KiB data room, no scatter), so podwired does not take jumbo
	// frames from a kernel pod.
	MinMTU       = 68
	MaxKernelMTU = 1500
	// longestSocketName is the longest socket file name ("memif.sock"):
	// PodMount + "/" + IfName + "/" + it must fit sun_path.
	longestSocketName = len("memif.sock")
	// MaxPodMountLen is the longest PodMount with which every in-pod
	// socket path fits sun_path, whatever the interface name.
	MaxPodMountLen = MaxSocketPathLen - 1 - MaxIfNameLen - 1 - longestSocketName
)

// FieldError is invalid input: Field is the JSON name of the bad field
// (one of the Field* constants), Message says what is wrong with it. The
// server answers it with 400 and {"error": Error(), "field": Field}.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks n and returns a *FieldError naming the first bad field,
// or nil.
func (n Network) Validate() error {
	if err := ValidateName(FieldName, n.Name); err != nil {
		return err
	}
	if n.VLAN > MaxVLAN {
		return fieldErr(FieldVLAN, "%d is out of range: 0 (untagged) or 1..%d", n.VLAN, MaxVLAN)
	}
	if n.MaxMACs < 0 || n.MaxMACs > MaxMACsLimit {
		return fieldErr(FieldMaxMACs, "%d is out of range: 0 (default) or 1..%d", n.MaxMACs, MaxMACsLimit)
	}
	if n.MACAgeingSeconds < 0 || n.MACAgeingSeconds > MaxMACAgeingSeconds {
		return fieldErr(FieldMACAgeingSeconds, "%d is out of range: 0 (default) or 1..%d", n.MACAgeingSeconds, MaxMACAgeingSeconds)
	}
	return nil
}

// Validate checks the spec part of a (status fields are not looked at) and
// returns a *FieldError naming the first bad field, or nil. Zero values that
// mean "default" (VhostMode, Queues) are valid.
func (a Attachment) Validate() error {
	if err := ValidateContainerID(a.ContainerID); err != nil {
		return err
	}
	if err := ValidateIfName(a.IfName); err != nil {
		return err
	}
	if err := ValidateName(FieldNetwork, a.Network); err != nil {
		return err
	}
	switch a.Kind {
	case KindVhostUser, KindMemif, KindKernel:
	case "":
		return fieldErr(FieldKind, "required: %s, %s or %s", KindVhostUser, KindMemif, KindKernel)
	default:
		return fieldErr(FieldKind, "%q is not one of %s, %s, %s", a.Kind, KindVhostUser, KindMemif, KindKernel)
	}
	switch {
	case a.VhostMode == "":
	case a.Kind != KindVhostUser:
		return fieldErr(FieldVhostMode, "only applies to kind %s, not %s", KindVhostUser, a.Kind)
	case a.VhostMode != VhostClient && a.VhostMode != VhostServer:
		return fieldErr(FieldVhostMode, "%q is not %s or %s", a.VhostMode, VhostClient, VhostServer)
	}
	if a.MAC != "" {
		if _, err := parseMAC(a.MAC); err != nil {
			return fieldErr(FieldMAC, "%s", err)
		}
	}
	if a.Kind == KindKernel && a.Netns == "" {
		return fieldErr(FieldNetns, "required for kind %s", KindKernel)
	}
	if a.Netns != "" {
		if err := CheckAbsPath(a.Netns, maxPathLen); err != nil {
			return fieldErr(FieldNetns, "%s", err)
		}
	}
	if a.SocketDir != "" {
		if err := CheckAbsPath(a.SocketDir, MaxSocketPathLen-2); err != nil {
			return fieldErr(FieldSocketDir, "%s", err)
		}
	}
	if err := checkID(FieldOwnerUID, a.OwnerUID); err != nil {
		return err
	}
	if err := checkID(FieldOwnerGID, a.OwnerGID); err != nil {
		return err
	}
	if a.SocketMode != "" {
		if _, err := ParseSocketMode(a.SocketMode); err != nil {
			return fieldErr(FieldSocketMode, "%s", err)
		}
	}
	if a.Queues < 0 || a.Queues > MaxQueues {
		return fieldErr(FieldQueues, "%d is out of range: 1..%d", a.Queues, MaxQueues)
	}
	if a.Owner != "" {
		if err := checkToken(FieldOwner, a.Owner, MaxOwnerLen); err != nil {
			return err
		}
	}
	switch {
	case a.MTU == 0:
	case a.Kind != KindKernel:
		return fieldErr(FieldMTU, "only applies to kind %s (a socket's MTU is the pod app's), not %s", KindKernel, a.Kind)
	case a.MTU < MinMTU || a.MTU > MaxKernelMTU:
		return fieldErr(FieldMTU, "%d is out of range: %d..%d (podwired's mbufs take no larger frames from a kernel pod)", a.MTU, MinMTU, MaxKernelMTU)
	}
	if a.Pod != "" {
		if a.Kind == KindKernel {
			return fieldErr(FieldPod, "does not apply to kind %s (no socket)", KindKernel)
		}
		if err := ValidateName(FieldPod, a.Pod); err != nil {
			return err
		}
	}
	if a.PodMount != "" {
		if a.Pod == "" {
			return fieldErr(FieldPodMount, "needs pod: it is where the pod mounts <socketDir>/pods/<pod>")
		}
		if err := CheckAbsPath(a.PodMount, MaxPodMountLen); err != nil {
			return fieldErr(FieldPodMount, "%s (at most %d bytes, so that <podMount>/<ifName>/memif.sock fits a unix socket path)", err, MaxPodMountLen)
		}
		if strings.ContainsAny(a.PodMount, ",=\"' \t\n") {
			return fieldErr(FieldPodMount, "%q contains a character DPDK devargs cannot carry (comma, '=', quote or whitespace)", a.PodMount)
		}
	}
	return nil
}

// ValidateName checks a network (or other object) name: 1..63 characters
// from [a-zA-Z0-9_.-], not "." or "..". field is the name reported in the
// *FieldError.
func ValidateName(field, name string) error {
	return checkToken(field, name, MaxNameLen)
}

// ValidateContainerID checks a container ID: 1..128 characters from
// [a-zA-Z0-9_.-], not "." or "..".
func ValidateContainerID(id string) error {
	return checkToken(FieldContainerID, id, MaxContainerIDLen)
}

func checkToken(field, s string, max int) error {
	switch {
	case s == "":
		return fieldErr(field, "required")
	case len(s) > max:
		return fieldErr(field, "%d characters, more than %d", len(s), max)
	case s == "." || s == "..":
		return fieldErr(field, "%q is not allowed", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fieldErr(field, "%q contains %q: use only letters, digits, '_', '.' and '-'", s, rune(c))
		}
	}
	return nil
}

// ValidateIfName checks a Linux interface name the way the kernel does
// (dev_valid_name): 1..15 bytes, not "." or "..", no '/', ':' or
// whitespace. It also refuses control characters and invalid UTF-8, which
// the kernel allows but which break logs, tables and URLs.
func ValidateIfName(name string) error {
	switch {
	case name == "":
		return fieldErr(FieldIfName, "required")
	case len(name) > MaxIfNameLen:
		return fieldErr(FieldIfName, "%q is %d bytes, more than %d", name, len(name), MaxIfNameLen)
	case name == "." || name == "..":
		return fieldErr(FieldIfName, "%q is not allowed", name)
	case !utf8.ValidString(name):
		return fieldErr(FieldIfName, "%q is not valid UTF-8", name)
	}
	for _, r := range name {
		switch {
		case r == '/' || r == ':':
			return fieldErr(FieldIfName, "%q contains %q", name, r)
		case r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r':
			return fieldErr(FieldIfName, "%q contains whitespace", name)
		case r < 0x20 || r == 0x7f:
			return fieldErr(FieldIfName, "%q contains a control character", name)
		}
	}
	return nil
}

// parseMAC parses a 6-byte unicast MAC in any form net.ParseMAC accepts.
func parseMAC(s string) (net.HardwareAddr, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a MAC address", s)
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("%q is not a 6-byte (EUI-48) MAC address", s)
	}
	if hw[0]&1 != 0 {
		return nil, fmt.Errorf("%q is a multicast or broadcast address, not unicast", s)
	}
	if string(hw) == "\x00\x00\x00\x00\x00\x00" {
		return nil, fmt.Errorf("%q is the zero address", s)
	}
	return hw, nil
}

// CheckAbsPath requires an absolute, clean path (no "..", "//" or trailing
// '/') without NUL bytes, at most max bytes long.
func CheckAbsPath(p string, max int) error {
	switch {
	case !filepath.IsAbs(p):
		return fmt.Errorf("%q is not an absolute path", p)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("%q contains a NUL byte", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("%q is not a clean path (want %q)", p, filepath.Clean(p))
	case len(p) > max:
		return fmt.Errorf("%q is %d bytes, more than %d", p, len(p), max)
	}
	return nil
}

func checkID(field string, id *int) error {
	if id != nil && (*id < 0 || *id > 1<<32-2) {
		return fieldErr(field, "%d is out of range: 0..%d", *id, uint32(1<<32-2))
	}
	return nil
}

// ParseSocketMode parses a permission mode in octal ("0660", "660"),
// at most 0777.
func ParseSocketMode(s string) (fs.FileMode, error) {
	if s == "" || len(s) > 4 {
		return 0, fmt.Errorf("%q is not an octal mode like \"0660\"", s)
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an octal mode like \"0660\"", s)
	}
	if v > 0o777 {
		return 0, fmt.Errorf("%q is more than 0777 (setuid, setgid and sticky bits are not allowed)", s)
	}
	return fs.FileMode(v), nil
}

// FormatSocketMode is the inverse of ParseSocketMode: "0660".
func FormatSocketMode(m fs.FileMode) string {
	return fmt.Sprintf("%04o", uint32(m.Perm()))
}
