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
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podwire/podwire/api"
)

// Defaults of the network configuration.
const (
	DefaultNetwork = "default"
	DefaultSocket  = api.DefaultSocket
)

// MTU bounds. A kernel attachment's MTU is set on both ends of its veth;
// the host end's af_packet copies each frame into one of podwired's 2 KiB
// mbufs, so podwired takes no jumbo frames from a kernel pod
// (api.MaxKernelMTU). A socket's MTU is the pod app's; podwire only
// reports it.
const (
	MinMTU       = api.MinMTU
	MaxMTU       = 9216
	MaxKernelMTU = api.MaxKernelMTU
)

// NetConf is the network configuration of podwire: the plugin's entry in
// a conflist, or a NetworkAttachmentDefinition's spec.config.
// docs/cni.md describes every field.
type NetConf struct {
	types.PluginConf
	// AttachConf is the attachment for CNI_IFNAME.
	AttachConf

	// PodwiredSocket is podwired's control API socket; DefaultSocket if
	// empty.
	PodwiredSocket string `json:"podwiredSocket,omitempty"`
	// PodMount is where pods mount their per-pod socket directory
	// (<socketDir>/pods/<K8S_POD_UID>); device-info then names the
	// socket as the pod sees it. Empty: host paths.
	PodMount string `json:"podMount,omitempty"`
	// Networks turns on the native multi-interface mode: the networks a
	// pod may request in its k8s.v1.cni.cncf.io/networks annotation, by
	// name ("name" or "namespace/name"), each an attachment of its own.
	Networks map[string]*AttachConf `json:"networks,omitempty"`
	// Kubeconfig is a kubeconfig file (absolute path) giving the API
	// access with which a native-mode ADD publishes the pod's
	// k8s.v1.cni.cncf.io/network-status annotation (publishNetworkStatus).
	// Empty: nothing is published.
	Kubeconfig string `json:"kubeconfig,omitempty"`

	RuntimeConfig RuntimeConfig `json:"runtimeConfig,omitempty"`

	// LegacyAttachments is the GC key of the spec-v1.1.0 tag
	// ("cni.dev/attachments"); libcni sends it next to
	// cni.dev/valid-attachments.
	LegacyAttachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`

	rawIPAM bool // "ipam" was given
}

// AttachConf is what one attachment asks of podwired: the top-level
// fields for CNI_IFNAME, and each entry of "networks".
type AttachConf struct {
	// Kind is how the attachment is carried: api.KindVhostUser,
	// api.KindMemif or api.KindKernel. Required.
	Kind string `json:"kind"`
	// Network is the podwired network (bridge domain); DefaultNetwork if
	// empty (in "networks": the entry's name).
	Network string `json:"network,omitempty"`
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
	// MTU is the pod interface's MTU: set on both ends of the veth for
	// kind kernel, reported in 1.1 results for every kind. 0 leaves the
	// default.
	MTU int `json:"mtu,omitempty"`

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
	// PodAnnotations are the pod's annotations (capability
	// "io.kubernetes.cri.pod-annotations", from containerd or CRI-O);
	// the native multi-interface mode reads k8s.v1.cni.cncf.io/networks.
	PodAnnotations map[string]string `json:"io.kubernetes.cri.pod-annotations,omitempty"`
}

// attachFields are the keys of an AttachConf, with a description of the
// JSON type for error messages.
var attachFields = map[string]string{
	"kind":        "a string",
	"network":     "a string",
	"vhostMode":   "a string",
	"socketOwner": "a string",
	"socketMode":  "a string",
	"queues":      "an integer",
	"mtu":         "an integer",
}

// ourFields are the top-level keys podwire defines.
var ourFields = func() map[string]string {
	m := map[string]string{
		"podwiredSocket": "a string",
		"podMount":       "a string",
		"networks":       "an object",
		"kubeconfig":     "a string",
	}
	for k, v := range attachFields {
		m[k] = v
	}
	return m
}()

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
	if k == "" {
		// A ConfigError without a field is about the whole document.
		return cfgErr("", "a key is the empty string; podwire's fields are %s", strings.Join(sortedKeys(ourFields), ", "))
	}
	for f := range ourFields {
		if strings.EqualFold(f, k) {
			return cfgErr(k, "unknown field (did you mean %q?)", f)
		}
	}
	return cfgErr(k, "unknown field; podwire's fields are %s", strings.Join(sortedKeys(ourFields), ", "))
}

func sortedKeys[V any](m map[string]V) []string {
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
	case "podwiredSocket":
		dst = &conf.PodwiredSocket
	case "podMount":
		dst = &conf.PodMount
	case "networks":
		return decodeNetworks(raw, conf)
	case "kubeconfig":
		dst = &conf.Kubeconfig
	default:
		return conf.AttachConf.decodeField("", k, want, raw)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return cfgErr(k, "want %s, got %s", want, jsonKind(raw))
	}
	return nil
}

// decodeField decodes the AttachConf key k; prefix starts the field's
// name in errors.
func (ac *AttachConf) decodeField(prefix, k, want string, raw json.RawMessage) error {
	var dst any
	switch k {
	case "kind":
		dst = &ac.Kind
	case "network":
		dst = &ac.Network
	case "vhostMode":
		dst = &ac.VhostMode
	case "socketOwner":
		dst = &ac.SocketOwner
	case "socketMode":
		dst = &ac.SocketMode
	case "queues":
		dst = &ac.Queues
	case "mtu":
		dst = &ac.MTU
	default:
		return cfgErr(prefix+k, "unknown field; an attachment's fields are %s", strings.Join(sortedKeys(attachFields), ", "))
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return cfgErr(prefix+k, "want %s, got %s", want, jsonKind(raw))
	}
	return nil
}

// decodeNetworks decodes "networks": an object of AttachConf objects.
func decodeNetworks(raw json.RawMessage, conf *NetConf) error {
	var m map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return cfgErr("networks", "want an object of {\"<network name>\": {\"kind\": ...}}, got %s", jsonKind(raw))
	}
	conf.Networks = make(map[string]*AttachConf, len(m))
	for name, fields := range m {
		prefix := "networks." + name + "."
		if fields == nil {
			return cfgErr("networks."+name, "want an object with at least \"kind\"")
		}
		ac := &AttachConf{}
		for _, k := range sortedKeys(fields) {
			raw := fields[k]
			if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				continue
			}
			if err := ac.decodeField(prefix, k, attachFields[k], raw); err != nil {
				return err
			}
		}
		conf.Networks[name] = ac
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
	if v, ok := m[PodAnnotationsCapability]; ok {
		if err := json.Unmarshal(v, &rc.PodAnnotations); err != nil {
			return cfgErr("runtimeConfig."+PodAnnotationsCapability, "want an object of strings, got %s", jsonKind(v))
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
	if c.Type == "" {
		return cfgErr("type", "required")
	}
	// The name becomes every attachment's owner, which podwired checks
	// (api.Attachment.Validate): refuse here what it would refuse at ADD.
	// libcni's skel checks the characters too, but not the length.
	switch {
	case c.Name == "":
		return cfgErr("name", "required")
	case len(c.Name) > api.MaxOwnerLen:
		return cfgErr("name", "%d characters, more than %d", len(c.Name), api.MaxOwnerLen)
	case utils.ValidateNetworkName(c.Name) != nil: // libcni's rule, a subset of podwired's for an owner
		return cfgErr("name", "%q: want a letter or digit, then letters, digits, '_', '.' and '-'", c.Name)
	}
	if err := c.AttachConf.validate("", DefaultNetwork); err != nil {
		return err
	}
	if c.PodwiredSocket == "" {
		c.PodwiredSocket = DefaultSocket
	}
	if err := api.CheckAbsPath(c.PodwiredSocket, api.MaxSocketPathLen); err != nil {
		return cfgErr("podwiredSocket", "%s", err)
	}
	if c.PodMount != "" {
		probe := api.Attachment{ContainerID: "c", IfName: "i", Network: "n", Kind: api.KindMemif, Pod: "p", PodMount: c.PodMount}
		if err := probe.Validate(); err != nil {
			var fe *api.FieldError
			if errors.As(err, &fe) {
				return cfgErr("podMount", "%s", fe.Message)
			}
			return cfgErr("podMount", "%v", err)
		}
	}
	if m := c.RuntimeConfig.MAC; m != "" {
		hw, err := checkMAC(m)
		if err != nil {
			return cfgErr("runtimeConfig.mac", "%v", err)
		}
		c.RuntimeConfig.MAC = hw
	}
	if f := c.RuntimeConfig.CNIDeviceInfoFile; f != "" {
		if err := api.CheckAbsPath(f, 4095); err != nil {
			return cfgErr("runtimeConfig.CNIDeviceInfoFile", "%s", err)
		}
	}
	return c.validateNetworks()
}

// validateNetworks checks the native multi-interface mode's settings: the
// attachment for CNI_IFNAME is the pod's primary interface (kind kernel
// with IPAM, the pod's IP), the runtime must be asked for the pod's
// annotations, and every network entry is a valid attachment named as a
// network in the annotation can be ("name" or "namespace/name", DNS-1123
// labels).
func (c *NetConf) validateNetworks() error {
	if err := c.validateKubeconfig(); err != nil {
		return err
	}
	if c.Networks == nil {
		return nil
	}
	if len(c.Networks) == 0 {
		return cfgErr("networks", "empty: list the networks pods may request, or leave it out")
	}
	if c.Kind != api.KindKernel {
		return cfgErr("networks", "the native multi-interface mode needs kind %q for the primary interface (the pod's IP), not %q", api.KindKernel, c.Kind)
	}
	if !c.HasIPAM() {
		return cfgErr("networks", "the native multi-interface mode needs \"ipam\" for the primary interface (the runtime takes the pod's IP from it)")
	}
	if !c.Capabilities[PodAnnotationsCapability] {
		return cfgErr("networks", "needs \"capabilities\": {%q: true}: without it the runtime does not pass the pod's annotations", PodAnnotationsCapability)
	}
	for _, name := range sortedKeys(c.Networks) {
		// "" is no name: check every part, of either form.
		ns, n, scoped := strings.Cut(name, "/")
		parts := []string{ns, n}
		if !scoped {
			n, parts = name, []string{name}
		}
		for _, part := range parts {
			if len(part) > maxLabel || !dns1123Label.MatchString(part) {
				return cfgErr("networks."+name, "%q is not a network name a pod can request: \"<name>\" or \"<namespace>/<name>\", DNS-1123 labels", name)
			}
		}
		if err := c.Networks[name].validate("networks."+name+".", n); err != nil {
			return err
		}
	}
	return nil
}

// validate checks ac and fills in defaults; prefix starts each field's
// name in errors, defaultNetwork is the podwired network if none is named.
func (ac *AttachConf) validate(prefix, defaultNetwork string) error {
	switch ac.Kind {
	case api.KindVhostUser, api.KindMemif, api.KindKernel:
	case "":
		return cfgErr(prefix+"kind", "required: %q, %q or %q", api.KindVhostUser, api.KindMemif, api.KindKernel)
	default:
		return cfgErr(prefix+"kind", "%q is not %q, %q or %q", ac.Kind, api.KindVhostUser, api.KindMemif, api.KindKernel)
	}
	if ac.Network == "" {
		ac.Network = defaultNetwork
	}
	if err := api.ValidateName("network", ac.Network); err != nil {
		return cfgErr(prefix+"network", "%s", strings.TrimPrefix(err.Error(), "network: "))
	}
	switch {
	case ac.VhostMode == "":
		if ac.Kind == api.KindVhostUser {
			ac.VhostMode = api.VhostClient
		}
	case ac.Kind != api.KindVhostUser:
		return cfgErr(prefix+"vhostMode", "only applies to kind %q, not %q", api.KindVhostUser, ac.Kind)
	case ac.VhostMode != api.VhostClient && ac.VhostMode != api.VhostServer:
		return cfgErr(prefix+"vhostMode", "%q is not %q (podwired connects to the pod's socket) or %q (podwired creates the socket)",
			ac.VhostMode, api.VhostClient, api.VhostServer)
	}
	if ac.SocketOwner != "" {
		if ac.Kind == api.KindKernel {
			return cfgErr(prefix+"socketOwner", "does not apply to kind %q (no socket)", ac.Kind)
		}
		uid, gid, err := parseOwner(ac.SocketOwner)
		if err != nil {
			return cfgErr(prefix+"socketOwner", "%s", err)
		}
		ac.ownerUID, ac.ownerGID = uid, gid
	}
	if ac.SocketMode != "" {
		if ac.Kind == api.KindKernel {
			return cfgErr(prefix+"socketMode", "does not apply to kind %q (no socket)", ac.Kind)
		}
		m, err := api.ParseSocketMode(ac.SocketMode)
		if err != nil {
			return cfgErr(prefix+"socketMode", "%s", err)
		}
		ac.SocketMode = api.FormatSocketMode(m)
	}
	if ac.Queues < 0 || ac.Queues > api.MaxQueues {
		return cfgErr(prefix+"queues", "%d is out of range 1..%d (0 or absent: 1)", ac.Queues, api.MaxQueues)
	}
	switch {
	case ac.MTU == 0:
	case ac.MTU < MinMTU || ac.MTU > MaxMTU:
		return cfgErr(prefix+"mtu", "%d is out of range %d..%d", ac.MTU, MinMTU, MaxMTU)
	case ac.Kind == api.KindKernel && ac.MTU > MaxKernelMTU:
		return cfgErr(prefix+"mtu", "%d is more than %d: podwired takes no larger frames from a kernel pod (the host end's af_packet fills one 2 KiB mbuf per frame)",
			ac.MTU, MaxKernelMTU)
	}
	return nil
}

// checkMAC parses a unicast 6-byte MAC and returns it in canonical form.
func checkMAC(m string) (string, error) {
	hw, err := net.ParseMAC(m)
	switch {
	case err != nil || len(hw) != 6:
		return "", fmt.Errorf("%q is not a MAC address", m)
	case hw[0]&1 != 0:
		return "", fmt.Errorf("%q is a multicast address", m)
	case bytes.Equal(hw, make([]byte, 6)):
		return "", fmt.Errorf("%q is the zero address", m)
	}
	return hw.String(), nil
}

// validIfName checks an interface name as podwired does, returning the
// message without the field.
func validIfName(name string) error {
	err := api.ValidateIfName(name)
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return errors.New(fe.Message)
	}
	return err
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
// the pod interface (containerID, ifName) in netns of a pod given no
// identity (CNI_ARGS without K8S_POD_UID).
func (c *NetConf) Attachment(containerID, ifName, netns string) api.Attachment {
	return c.attachment(&c.AttachConf, containerID, ifName, netns, PodArgs{}, c.RuntimeConfig.MAC)
}

// attachment is the podwired attachment that ac asks for, owned by this
// CNI network; pod and the config's podMount place a socket kind's
// directory in the pod's directory; mac overrides none if empty.
func (c *NetConf) attachment(ac *AttachConf, containerID, ifName, netns string, pod PodArgs, mac string) api.Attachment {
	a := api.Attachment{
		ContainerID: containerID,
		IfName:      ifName,
		Network:     ac.Network,
		Kind:        ac.Kind,
		VhostMode:   ac.VhostMode,
		MAC:         mac,
		Netns:       netns,
		OwnerUID:    ac.ownerUID,
		OwnerGID:    ac.ownerGID,
		SocketMode:  ac.SocketMode,
		Queues:      ac.Queues,
		Owner:       c.Name,
	}
	if ac.Kind == api.KindKernel {
		a.MTU = ac.MTU
	} else if pod.UID != "" {
		a.Pod, a.PodMount = pod.UID, c.PodMount
	}
	return a
}

// HasIPAM says whether the configuration delegates IPAM.
func (c *NetConf) HasIPAM() bool { return c.rawIPAM && c.IPAM.Type != "" }
