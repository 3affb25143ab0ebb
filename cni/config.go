package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podwire/podwire/api"
)

// Defaults of the network configuration.
const (
	DefaultNetwork = "default"
	DefaultSocket  = api.DefaultSocket
)

// MTU bounds. A kernel attachment's pod end is a veth whose host end
// podwired creates with the kernel's default MTU of 1500; the API has no
// MTU yet, so a larger pod MTU would have frames dropped at the host end.
const (
	MinMTU       = 68
	MaxMTU       = 9216
	MaxKernelMTU = 1500
)

// NetConf is the network configuration of one podwire attachment: the
// plugin's entry in a conflist, or a NetworkAttachmentDefinition's
// spec.config. docs/cni.md describes every field.
type NetConf struct {
	types.PluginConf

	// Kind is how the attachment is carried: api.KindVhostUser,
	// api.KindMemif or api.KindKernel. Required.
	Kind string `json:"kind"`
	// Network is the podwired network (bridge domain); DefaultNetwork if
	// empty.
	Network string `json:"network,omitempty"`
	// PodwiredSocket is podwired's control API socket; DefaultSocket if
	// empty.
	PodwiredSocket string `json:"podwiredSocket,omitempty"`
	// VhostMode is podwired's vhost-user role (vhostuser only):
	// api.VhostClient (the default; the pod's DPDK app is the server) or
	// api.VhostServer.
	VhostMode string `json:"vhostMode,omitempty"`
	// SocketOwner is "UID", "UID:GID" or ":GID" (numbers): the owner of
	// the attachment's socket directory and of the socket podwired creates.
	SocketOwner string `json:"socketOwner,omitempty"`
	// SocketMode is the socket's permission bits in octal ("0660").
	SocketMode string `json:"socketMode,omitempty"`
	// Queues is the number of queue pairs (1..16); 0 means 1.
	Queues int `json:"queues,omitempty"`
	// MTU is the pod interface's MTU: set on the netdev for kind kernel,
	// reported in 1.1 results for every kind. 0 leaves the default.
	MTU int `json:"mtu,omitempty"`

	RuntimeConfig RuntimeConfig `json:"runtimeConfig,omitempty"`

	// LegacyAttachments is the GC key of the spec-v1.1.0 tag
	// ("cni.dev/attachments"); libcni sends it next to
	// cni.dev/valid-attachments.
	LegacyAttachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`

	rawIPAM bool // "ipam" was given

	ownerUID *int
	ownerGID *int
}

// RuntimeConfig holds the capability arguments podwire uses. Others that a
// config declares are accepted and ignored.
type RuntimeConfig struct {
	// CNIDeviceInfoFile is where Multus wants the device-info JSON
	// (capability "CNIDeviceInfoFile").
	CNIDeviceInfoFile string `json:"CNIDeviceInfoFile,omitempty"`
	// MAC is the pod interface's MAC (capability "mac").
	MAC string `json:"mac,omitempty"`
}

// ourFields are the top-level keys podwire defines, with a description of
// the JSON type for error messages.
var ourFields = map[string]string{
	"kind":           "a string",
	"network":        "a string",
	"podwiredSocket": "a string",
	"vhostMode":      "a string",
	"socketOwner":    "a string",
	"socketMode":     "a string",
	"queues":         "an integer",
	"mtu":            "an integer",
}

// otherFields are top-level keys that the CNI spec, its conventions,
// libcni or Multus may put into a plugin's configuration. podwire accepts
// them; those it does not use it ignores.
var otherFields = map[string]string{
	"cniVersion":    "a string",
	"name":          "a string",
	"type":          "a string",
	"ipam":          "an object",
	"dns":           "an object",
	"capabilities":  "an object",
	"runtimeConfig": "an object",
	"args":          "an object",
	"prevResult":    "an object",
	"ipMasq":        "a boolean",
	// Multus injects these when a device plugin resource backs the
	// attachment.
	"deviceID": "a string",
	"pciBusID": "a string",
	// Keys of a single-plugin .conf file that libcni passes on as they are.
	"cniVersions":            "an array",
	"disableCheck":           "a boolean",
	"disableGC":              "a boolean",
	"loadOnlyInlinedPlugins": "a boolean",
}

// ConfigError is an invalid network configuration: Field is the JSON name
// of the bad field ("" when the whole document is bad). It becomes CNI
// error code 7 (invalid network config).
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "podwire config: " + e.Msg
	}
	return fmt.Sprintf("podwire config: field %q: %s", e.Field, e.Msg)
}

func cfgErr(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// LoadConf parses and validates a network configuration and fills in
// defaults. The document must be JSON (else CNI code 6); every top-level
// key must be podwire's or one that the CNI spec, libcni or Multus may set
// (else code 7, naming the key); values of podwire's keys and of
// runtimeConfig.mac and runtimeConfig.CNIDeviceInfoFile must have the
// right type and range (else code 7, naming the field). A prevResult is
// parsed into PrevResult.
func LoadConf(data []byte) (*NetConf, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "podwire config: not a JSON object: "+err.Error(), "")
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, ours := ourFields[k]
		_, other := otherFields[k]
		if !ours && !other && !strings.HasPrefix(k, "cni.dev/") {
			return nil, toCNI(unknownField(k))
		}
	}
	conf := &NetConf{}
	// Decode field by field so that a type error names its field.
	for _, k := range keys {
		raw := top[k]
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		if want, ok := ourFields[k]; ok {
			if err := decodeField(k, want, raw, conf); err != nil {
				return nil, toCNI(err)
			}
		}
	}
	if err := json.Unmarshal(data, &conf.PluginConf); err != nil {
		return nil, toCNI(typeErr(err))
	}
	if raw, ok := top["runtimeConfig"]; ok {
		if err := decodeRuntimeConfig(raw, &conf.RuntimeConfig); err != nil {
			return nil, toCNI(err)
		}
	}
	if raw, ok := top["cni.dev/attachments"]; ok {
		if err := json.Unmarshal(raw, &conf.LegacyAttachments); err != nil {
			return nil, toCNI(cfgErr("cni.dev/attachments", "want a list of {containerID, ifname}: %v", err))
		}
	}
	if raw, ok := top["ipam"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		conf.rawIPAM = true
		var ipam map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ipam); err != nil {
			return nil, toCNI(cfgErr("ipam", "want an object with a \"type\", got %s", jsonKind(raw)))
		}
		var t string
		if err := json.Unmarshal(ipam["type"], &t); err != nil || t == "" {
			return nil, toCNI(cfgErr("ipam.type", "required: the IPAM plugin to delegate to (host-local, static, whereabouts)"))
		}
		if strings.ContainsAny(t, "/\x00") || t == "." || t == ".." {
			return nil, toCNI(cfgErr("ipam.type", "%q is not a plugin name", t))
		}
	}
	if err := conf.validate(); err != nil {
		return nil, toCNI(err)
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "podwire config: field \"prevResult\": "+err.Error(), "")
	}
	return conf, nil
}

func unknownField(k string) *ConfigError {
	for f := range ourFields {
		if strings.EqualFold(f, k) {
			return cfgErr(k, "unknown field (did you mean %q?)", f)
		}
	}
	return cfgErr(k, "unknown field; podwire's fields are %s", strings.Join(sortedKeys(ourFields), ", "))
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func decodeField(k, want string, raw json.RawMessage, conf *NetConf) error {
	var dst any
	switch k {
	case "kind":
		dst = &conf.Kind
	case "network":
		dst = &conf.Network
	case "podwiredSocket":
		dst = &conf.PodwiredSocket
	case "vhostMode":
		dst = &conf.VhostMode
	case "socketOwner":
		dst = &conf.SocketOwner
	case "socketMode":
		dst = &conf.SocketMode
	case "queues":
		dst = &conf.Queues
	case "mtu":
		dst = &conf.MTU
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return cfgErr(k, "want %s, got %s", want, jsonKind(raw))
	}
	return nil
}

func decodeRuntimeConfig(raw json.RawMessage, rc *RuntimeConfig) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return cfgErr("runtimeConfig", "want an object, got %s", jsonKind(raw))
	}
	if v, ok := m["CNIDeviceInfoFile"]; ok {
		if err := json.Unmarshal(v, &rc.CNIDeviceInfoFile); err != nil {
			return cfgErr("runtimeConfig.CNIDeviceInfoFile", "want a string, got %s", jsonKind(v))
		}
	}
	if v, ok := m["mac"]; ok {
		if err := json.Unmarshal(v, &rc.MAC); err != nil {
			return cfgErr("runtimeConfig.mac", "want a string, got %s", jsonKind(v))
		}
	}
	return nil
}

// typeErr names the field of a json.UnmarshalTypeError from decoding the
// CNI-defined part of the config.
func typeErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := otherFields[strings.SplitN(te.Field, ".", 2)[0]]
		if want == "" {
			want = "a " + te.Type.String()
		}
		return cfgErr(te.Field, "want %s, got a JSON %s", want, te.Value)
	}
	return cfgErr("", "%v", err)
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string " + string(raw)
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the number " + string(raw)
}

func (c *NetConf) validate() error {
	switch c.Kind {
	case api.KindVhostUser, api.KindMemif, api.KindKernel:
	case "":
		return cfgErr("kind", "required: %q, %q or %q", api.KindVhostUser, api.KindMemif, api.KindKernel)
	default:
		return cfgErr("kind", "%q is not %q, %q or %q", c.Kind, api.KindVhostUser, api.KindMemif, api.KindKernel)
	}
	if c.Type == "" {
		return cfgErr("type", "required")
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if err := api.ValidateName("network", c.Network); err != nil {
		return cfgErr("network", "%s", strings.TrimPrefix(err.Error(), "network: "))
	}
	if c.PodwiredSocket == "" {
		c.PodwiredSocket = DefaultSocket
	}
	if err := api.CheckAbsPath(c.PodwiredSocket, api.MaxSocketPathLen); err != nil {
		return cfgErr("podwiredSocket", "%s", err)
	}
	switch {
	case c.VhostMode == "":
		if c.Kind == api.KindVhostUser {
			c.VhostMode = api.VhostClient
		}
	case c.Kind != api.KindVhostUser:
		return cfgErr("vhostMode", "only applies to kind %q, not %q", api.KindVhostUser, c.Kind)
	case c.VhostMode != api.VhostClient && c.VhostMode != api.VhostServer:
		return cfgErr("vhostMode", "%q is not %q (podwired connects to the pod's socket) or %q (podwired creates the socket)",
			c.VhostMode, api.VhostClient, api.VhostServer)
	}
	if c.SocketOwner != "" {
		if c.Kind == api.KindKernel {
			return cfgErr("socketOwner", "does not apply to kind %q (no socket)", c.Kind)
		}
		uid, gid, err := parseOwner(c.SocketOwner)
		if err != nil {
			return cfgErr("socketOwner", "%s", err)
		}
		c.ownerUID, c.ownerGID = uid, gid
	}
	if c.SocketMode != "" {
		if c.Kind == api.KindKernel {
			return cfgErr("socketMode", "does not apply to kind %q (no socket)", c.Kind)
		}
		m, err := api.ParseSocketMode(c.SocketMode)
		if err != nil {
			return cfgErr("socketMode", "%s", err)
		}
		c.SocketMode = api.FormatSocketMode(m)
	}
	if c.Queues < 0 || c.Queues > api.MaxQueues {
		return cfgErr("queues", "%d is out of range 1..%d (0 or absent: 1)", c.Queues, api.MaxQueues)
	}
	switch {
	case c.MTU == 0:
	case c.MTU < MinMTU || c.MTU > MaxMTU:
		return cfgErr("mtu", "%d is out of range %d..%d", c.MTU, MinMTU, MaxMTU)
	case c.Kind == api.KindKernel && c.MTU > MaxKernelMTU:
		return cfgErr("mtu", "%d is more than %d: podwired creates the host end of a kernel attachment with MTU %d, so larger frames would be dropped there",
			c.MTU, MaxKernelMTU, MaxKernelMTU)
	}
	if m := c.RuntimeConfig.MAC; m != "" {
		hw, err := net.ParseMAC(m)
		switch {
		case err != nil || len(hw) != 6:
			return cfgErr("runtimeConfig.mac", "%q is not a MAC address", m)
		case hw[0]&1 != 0:
			return cfgErr("runtimeConfig.mac", "%q is a multicast address", m)
		case bytes.Equal(hw, make([]byte, 6)):
			return cfgErr("runtimeConfig.mac", "%q is the zero address", m)
		}
		c.RuntimeConfig.MAC = hw.String()
	}
	if f := c.RuntimeConfig.CNIDeviceInfoFile; f != "" {
		if err := api.CheckAbsPath(f, 4095); err != nil {
			return cfgErr("runtimeConfig.CNIDeviceInfoFile", "%s", err)
		}
	}
	return nil
}

// parseOwner parses "UID", "UID:GID" or ":GID".
func parseOwner(s string) (uid, gid *int, err error) {
	u, g, hasG := strings.Cut(s, ":")
	num := func(what, v string) (*int, error) {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > 1<<32-2 {
			return nil, fmt.Errorf("%s %q in %q is not a number in 0..%d (names are not looked up)", what, v, s, uint32(1<<32-2))
		}
		i := int(n)
		return &i, nil
	}
	if u == "" && (!hasG || g == "") {
		return nil, nil, fmt.Errorf("%q is empty: want \"UID\", \"UID:GID\" or \":GID\"", s)
	}
	if u != "" {
		if uid, err = num("uid", u); err != nil {
			return nil, nil, err
		}
	}
	if hasG {
		if g == "" {
			return nil, nil, fmt.Errorf("%q has an empty gid: want \"UID\", \"UID:GID\" or \":GID\"", s)
		}
		if gid, err = num("gid", g); err != nil {
			return nil, nil, err
		}
	}
	return uid, gid, nil
}

// Attachment is the podwired attachment this configuration asks for, for
// the pod interface (containerID, ifName) in netns.
func (c *NetConf) Attachment(containerID, ifName, netns string) api.Attachment {
	return api.Attachment{
		ContainerID: containerID,
		IfName:      ifName,
		Network:     c.Network,
		Kind:        c.Kind,
		VhostMode:   c.VhostMode,
		MAC:         c.RuntimeConfig.MAC,
		Netns:       netns,
		OwnerUID:    c.ownerUID,
		OwnerGID:    c.ownerGID,
		SocketMode:  c.SocketMode,
		Queues:      c.Queues,
	}
}

// HasIPAM says whether the configuration delegates IPAM.
func (c *NetConf) HasIPAM() bool { return c.rawIPAM && c.IPAM.Type != "" }
