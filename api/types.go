package api

import (
	"strconv"
	"time"
)

// Version is the API version: the first element of every path.
const Version = "v1"

// DefaultSocket is where podwired serves the API unless configured otherwise.
const DefaultSocket = "/run/podwire/podwired.sock"

// Attachment kinds: how a pod interface is carried.
const (
	KindVhostUser = "vhostuser" // a vhost-user socket; the pod runs net_virtio_user
	KindMemif     = "memif"     // a memif socket; podwired is the server
	KindKernel    = "kernel"    // a netdev in the pod's network namespace
)

// vhost-user directions (Attachment.VhostMode).
const (
	// VhostClient: the pod is the vhost-user server (net_virtio_user
	// server=1) and podwired connects, and reconnects after a restart of
	// either side. The default: it is the only restart-safe direction.
	VhostClient = "client"
	// VhostServer: podwired creates the socket and the pod connects
	// (net_virtio_user path=...). After a podwired restart the pod does not
	// reconnect by itself.
	VhostServer = "server"
)

// Attachment states (Attachment.State).
const (
	StateUp      = "up"      // the port exists and its link is up
	StateDown    = "down"    // the port exists and its link is down (peer gone, or an error: see Reason)
	StateWaiting = "waiting" // the port exists and no peer has connected yet
)

// Drop reasons: Counters.Drops is keyed by these names, the forwarder's
// (forwarder.DropReasons; a daemon test keeps the two lists equal). Clients
// show every key they get all the same: a newer podwired may add reasons.
const (
	DropBadHeader      = "bad_header"       // shorter than an Ethernet header, or a broken VLAN tag
	DropBadSrcMAC      = "bad_src_mac"      // multicast or zero source MAC
	DropSamePort       = "same_port"        // the destination is the port it came in on
	DropNoNetwork      = "no_network"       // the port (or the VLAN on the uplink) is in no network
	DropTxFull         = "tx_full"          // the output queue refused it
	DropNoMbuf         = "no_mbuf"          // no mbuf for a copy (flooding to a tagged uplink)
	DropPortDown       = "port_down"        // the output port's link is down
	DropTaggedOnAccess = "tagged_on_access" // an 802.1Q/802.1ad-tagged frame from a pod's port
	DropSrcMACSpoof    = "src_mac_spoof"    // the source is another port's static MAC
)

// DropReasons lists every drop reason, in the forwarder's order.
var DropReasons = []string{DropBadHeader, DropBadSrcMAC, DropSamePort, DropNoNetwork, DropTxFull,
	DropNoMbuf, DropPortDown, DropTaggedOnAccess, DropSrcMACSpoof}

// Status is GET /v1/status.
type Status struct {
	Version    string    `json:"version"`    // podwired's build version
	APIVersion string    `json:"apiVersion"` // "v1"
	StartedAt  time.Time `json:"startedAt"`
	Workers    int       `json:"workers"`
	Ports      int       `json:"ports"`
	Networks   int       `json:"networks"`
	// Mbufs is the mbuf pool's size and MbufsInUse how many are out of it
	// (in rx rings, in flight, or leaked): back at its idle level after
	// traffic stops.
	Mbufs      int `json:"mbufs"`
	MbufsInUse int `json:"mbufsInUse"`
}

// Network is a bridge domain: MAC learning and aging, flooding within the
// network only. GET/PUT/DELETE /v1/networks/{name}.
type Network struct {
	Name string `json:"name"`
	// VLAN is the 802.1Q VLAN ID that carries this network on the uplink;
	// 0 means untagged.
	VLAN uint16 `json:"vlan,omitempty"`
	// MaxMACs bounds the MAC table; 0 means podwired's default.
	MaxMACs int `json:"maxMACs,omitempty"`
	// MACAgeingSeconds is how long a learned MAC lives without traffic; 0
	// means podwired's default.
	MACAgeingSeconds int `json:"macAgeingSeconds,omitempty"`
}

// Attachment is one pod interface on one podwired port, keyed by
// (ContainerID, IfName). GET/PUT/DELETE /v1/attachments/{containerID}/{ifname}.
//
// The fields down to Queues are the spec, which a client sends and podwired
// persists. The fields from PortName on are status, filled in by podwired in
// responses; podwired ignores them in a PUT body. Spec returns the spec part.
type Attachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
	Network     string `json:"network"`
	Kind        string `json:"kind"` // KindVhostUser, KindMemif or KindKernel
	// VhostMode is VhostClient (the default) or VhostServer; vhostuser only.
	VhostMode string `json:"vhostMode,omitempty"`
	// MAC is the pod interface's MAC, if known: a static entry in the
	// network's MAC table (and the netdev's address for kind kernel).
	MAC string `json:"mac,omitempty"`
	// Netns is the pod's network namespace path. Required for kind kernel.
	Netns string `json:"netns,omitempty"`
	// SocketDir overrides podwired's per-pod socket directory.
	SocketDir string `json:"socketDir,omitempty"`
	// OwnerUID, OwnerGID and SocketMode ("0660") set the owner and mode of
	// the socket podwired creates (and of its directory), when set.
	OwnerUID   *int   `json:"ownerUID,omitempty"`
	OwnerGID   *int   `json:"ownerGID,omitempty"`
	SocketMode string `json:"socketMode,omitempty"`
	// Queues is the number of queue pairs; 0 means 1.
	Queues int `json:"queues,omitempty"`
	// Owner names who made the attachment, so that a client cleans up
	// only its own: the CNI plugin sets its CNI network name (the
	// configuration's "name"), and its GC and DEL touch only attachments
	// with that owner. Empty for attachments made by podwired's config or
	// podwirectl (and by older plugins).
	Owner string `json:"owner,omitempty"`
	// MTU is the MTU of both ends of a kernel attachment's veth
	// (MinMTU..MaxKernelMTU); 0 leaves the kernel's default (1500).
	// Kind kernel only.
	MTU int `json:"mtu,omitempty"`
	// Pod is the pod's identity (its Kubernetes UID) for a vhostuser or
	// memif attachment. With it the attachment's directory is reachable
	// at <socketDir>/pods/<Pod>/<IfName>/, one directory per pod that
	// the pod spec can name (hostPath with subPathExpr $(POD_UID)), so
	// the socket is <socketDir>/pods/<Pod>/<IfName>/vhost.sock or
	// memif.sock. Without it: <socketDir>/<hash>/.
	Pod string `json:"pod,omitempty"`
	// PodMount is where the pod mounts <socketDir>/pods/<Pod> (needs
	// Pod): device-info.json and PodSocketPath then name
	// <PodMount>/<IfName>/<socket>, the path the pod's app uses.
	PodMount string `json:"podMount,omitempty"`

	// Status, set by podwired in responses.
	PortName   string  `json:"portName,omitempty"`
	PortID     *uint16 `json:"portID,omitempty"`     // the DPDK port id, once the port exists
	SocketPath string  `json:"socketPath,omitempty"` // the socket's host path
	// PodSocketPath is the socket's path inside the pod (PodMount set),
	// else the same as SocketPath.
	PodSocketPath string    `json:"podSocketPath,omitempty"`
	State         string    `json:"state,omitempty"`  // StateUp, StateDown or StateWaiting
	Reason        string    `json:"reason,omitempty"` // why State is down, if podwired knows
	CreatedAt     time.Time `json:"createdAt,omitzero"`
}

// Key is "containerID/ifName", for maps and logs.
func (a Attachment) Key() string { return a.ContainerID + "/" + a.IfName }

// Spec returns a copy of a with the status fields cleared.
func (a Attachment) Spec() Attachment {
	a.PortName, a.PortID, a.SocketPath, a.PodSocketPath, a.State, a.Reason, a.CreatedAt = "", nil, "", "", "", "", time.Time{}
	return a
}

// WithDefaults returns a copy of a with defaults filled in (VhostMode
// "client" for kind vhostuser, Queues 1) and values in canonical form when
// they parse: the MAC lowercase with colons, SocketMode as four octal
// digits ("660" becomes "0660"). It does not validate.
func (a Attachment) WithDefaults() Attachment {
	if a.Kind == KindVhostUser && a.VhostMode == "" {
		a.VhostMode = VhostClient
	}
	if a.Queues == 0 {
		a.Queues = 1
	}
	if a.MAC != "" {
		if hw, err := parseMAC(a.MAC); err == nil {
			a.MAC = hw.String()
		}
	}
	if a.SocketMode != "" {
		if m, err := ParseSocketMode(a.SocketMode); err == nil {
			a.SocketMode = FormatSocketMode(m)
		}
	}
	if a.OwnerUID != nil {
		v := *a.OwnerUID
		a.OwnerUID = &v
	}
	if a.OwnerGID != nil {
		v := *a.OwnerGID
		a.OwnerGID = &v
	}
	return a
}

// SpecDiff compares the spec parts of a and b after WithDefaults and
// returns the JSON name of the first field that differs, or "" if they are
// the same. podwired answers a PUT that repeats an existing attachment with
// the same spec with success (idempotent), and one that differs with 409
// naming this field.
func (a Attachment) SpecDiff(b Attachment) string {
	a, b = a.WithDefaults(), b.WithDefaults()
	switch {
	case a.ContainerID != b.ContainerID:
		return FieldContainerID
	case a.IfName != b.IfName:
		return FieldIfName
	case a.Network != b.Network:
		return FieldNetwork
	case a.Kind != b.Kind:
		return FieldKind
	case a.VhostMode != b.VhostMode:
		return FieldVhostMode
	case a.MAC != b.MAC:
		return FieldMAC
	case a.Netns != b.Netns:
		return FieldNetns
	case a.SocketDir != b.SocketDir:
		return FieldSocketDir
	case !sameInt(a.OwnerUID, b.OwnerUID):
		return FieldOwnerUID
	case !sameInt(a.OwnerGID, b.OwnerGID):
		return FieldOwnerGID
	case a.SocketMode != b.SocketMode:
		return FieldSocketMode
	case a.Queues != b.Queues:
		return FieldQueues
	case a.Owner != b.Owner:
		return FieldOwner
	case a.MTU != b.MTU:
		return FieldMTU
	case a.Pod != b.Pod:
		return FieldPod
	case a.PodMount != b.PodMount:
		return FieldPodMount
	}
	return ""
}

func sameInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Port is one podwired port: the uplink, or the port of an attachment.
// GET /v1/ports.
type Port struct {
	Name     string   `json:"name"`
	ID       uint16   `json:"id"`   // DPDK port id
	Kind     string   `json:"kind"` // "uplink" or an attachment kind
	Network  string   `json:"network,omitempty"`
	Link     Link     `json:"link"`
	MAC      string   `json:"mac,omitempty"`
	RxQueues int      `json:"rxQueues"`
	Counters Counters `json:"counters"`
}

// PortKindUplink is Port.Kind for the node's uplink (NIC or vdev).
const PortKindUplink = "uplink"

// Link is a port's link state, as the ethdev reports it.
type Link struct {
	Up         bool   `json:"up"`
	SpeedMbps  uint32 `json:"speedMbps,omitempty"`
	FullDuplex bool   `json:"fullDuplex,omitempty"`
}

// String is "up 10G", "up", or "down".
func (l Link) String() string {
	if !l.Up {
		return "down"
	}
	switch s := l.SpeedMbps; {
	case s == 0:
		return "up"
	case s >= 1000 && s%1000 == 0:
		return "up " + strconv.FormatUint(uint64(s/1000), 10) + "G"
	case s >= 1000:
		return "up " + strconv.FormatFloat(float64(s)/1000, 'f', 1, 64) + "G"
	default:
		return "up " + strconv.FormatUint(uint64(s), 10) + "M"
	}
}

// Counters are packet and byte counts since podwired started (or since the
// port was created), and every packet not forwarded, by named reason.
type Counters struct {
	RxPackets uint64            `json:"rxPackets"`
	RxBytes   uint64            `json:"rxBytes"`
	TxPackets uint64            `json:"txPackets"`
	TxBytes   uint64            `json:"txBytes"`
	Drops     map[string]uint64 `json:"drops,omitempty"`
}

// TotalDrops is the sum over all reasons.
func (c Counters) TotalDrops() uint64 {
	var n uint64
	for _, v := range c.Drops {
		n += v
	}
	return n
}

// MACEntry is one entry of a network's MAC table.
// GET /v1/networks/{name}/macs.
type MACEntry struct {
	MAC        string `json:"mac"`
	Port       string `json:"port"`
	Static     bool   `json:"static,omitempty"`
	AgeSeconds int    `json:"ageSeconds"` // since the entry was last refreshed; 0 for static entries
}

// PortCounters are one port's counters in a CounterReport.
type PortCounters struct {
	Port   string `json:"port"`
	PortID uint16 `json:"portID"`
	Counters
}

// WorkerCounters are one worker's counters in a CounterReport.
type WorkerCounters struct {
	Worker int `json:"worker"`
	Lcore  int `json:"lcore"`
	Counters
}

// CounterReport is GET /v1/counters.
type CounterReport struct {
	Time    time.Time        `json:"time"` // when podwired read the counters
	Ports   []PortCounters   `json:"ports"`
	Workers []WorkerCounters `json:"workers"`
}

// Worker is one poll-mode worker. GET /v1/workers.
type Worker struct {
	ID       int        `json:"id"`
	Lcore    int        `json:"lcore"`
	CPU      int        `json:"cpu"`
	RxQueues []QueueRef `json:"rxQueues"`
	// Busy is the share of recent loop iterations that found packets, in
	// percent (0..100).
	Busy    float64 `json:"busy"`
	Loops   uint64  `json:"loops"`
	Packets uint64  `json:"packets"`
}

// QueueRef names one rx queue of one port.
type QueueRef struct {
	Port  string `json:"port"`
	Queue uint16 `json:"queue"`
}

// List bodies. Lists are wrapped in an object so that fields can be added
// without breaking clients.
type (
	NetworkList struct {
		Networks []Network `json:"networks"`
	}
	AttachmentList struct {
		Attachments []Attachment `json:"attachments"`
	}
	PortList struct {
		Ports []Port `json:"ports"`
	}
	MACList struct {
		Network string     `json:"network"`
		MACs    []MACEntry `json:"macs"`
	}
	WorkerList struct {
		Workers []Worker `json:"workers"`
	}
)
