package vhostuser

import "encoding/json"

// DeviceInfoVersion is the NPWG device-info specification version written.
const DeviceInfoVersion = "1.1.0"

// DeviceInfoFile is the name of the device-info JSON next to the socket.
const DeviceInfoFile = "device-info.json"

// DeviceInfo is an NPWG device-info document (device-info-spec v1.1.0,
// section 3) for a vhost-user or memif attachment. Its roles are the pod's.
type DeviceInfo struct {
	Type      string         `json:"type"` // "vhost-user" or "memif"
	Version   string         `json:"version"`
	VhostUser *VhostUserInfo `json:"vhost-user,omitempty"`
	Memif     *MemifInfo     `json:"memif,omitempty"`
}

// VhostUserInfo is device-info's "vhost-user" map.
type VhostUserInfo struct {
	// Mode is the pod application's role: "client" when the host creates
	// the socket (VhostServer), "server" when the pod does (VhostClient).
	Mode string `json:"mode"`
	Path string `json:"path"`
}

// MemifInfo is device-info's "memif" map.
type MemifInfo struct {
	// Role is the pod application's role in the spec's words: "slave"
	// (the pod is the client; the host creates the socket) or "master".
	Role string `json:"role"`
	Path string `json:"path"`
	Mode string `json:"mode"` // "ethernet"
}

// deviceInfo describes an attachment of mode m whose socket the pod sees at
// path.
func deviceInfo(m Mode, path string) DeviceInfo {
	switch m {
	case VhostServer:
		return DeviceInfo{Type: "vhost-user", Version: DeviceInfoVersion, VhostUser: &VhostUserInfo{Mode: "client", Path: path}}
	case VhostClient:
		return DeviceInfo{Type: "vhost-user", Version: DeviceInfoVersion, VhostUser: &VhostUserInfo{Mode: "server", Path: path}}
	default:
		return DeviceInfo{Type: "memif", Version: DeviceInfoVersion, Memif: &MemifInfo{Role: "slave", Path: path, Mode: "ethernet"}}
	}
}

// JSON returns the document as indented JSON with a final newline.
func (d DeviceInfo) JSON() []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err) // strings and pointers to structs of strings always marshal
	}
	return append(b, '\n')
}
