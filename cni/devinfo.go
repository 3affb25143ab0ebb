package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/podwire/podwire/api"
)

// DeviceInfoVersion is the NPWG device-info specification version podwire
// writes.
const DeviceInfoVersion = "1.1.0"

// DeviceInfoFile is the name of the device-info JSON that podwired writes
// next to each attachment's socket (vhostuser.DeviceInfoFile; this package
// does not import vhostuser, which needs cgo).
const DeviceInfoFile = "device-info.json"

// Device-info types podwire writes.
const (
	DeviceInfoVhostUser = "vhost-user"
	DeviceInfoMemif     = "memif"
)

// DeviceInfo is an NPWG device-info document (device-info-spec v1.1.0) of
// type vhost-user or memif. Its fields name the pod's side: vhost-user
// mode "client" means the pod connects to a socket podwired created,
// "server" that the pod creates the socket; memif role "slave" means the
// pod is the memif client.
type DeviceInfo struct {
	Type      string         `json:"type"`
	Version   string         `json:"version"`
	VhostUser *VhostUserInfo `json:"vhost-user,omitempty"`
	Memif     *MemifInfo     `json:"memif,omitempty"`
}

// VhostUserInfo is the "vhost-user" object of a DeviceInfo.
type VhostUserInfo struct {
	Mode string `json:"mode"` // the pod's role: "client" or "server"
	Path string `json:"path"`
}

// MemifInfo is the "memif" object of a DeviceInfo.
type MemifInfo struct {
	Role string `json:"role"` // the pod's role: "slave" (client) or "master"
	Path string `json:"path"`
	Mode string `json:"mode"` // "ethernet"
}

// deviceInfoOf is the device-info of attachment a (with status), as
// podwired describes it: the pod's role is the opposite of podwired's.
func deviceInfoOf(a api.Attachment) (DeviceInfo, bool) {
	switch a.Kind {
	case api.KindVhostUser:
		mode := "server" // podwired is the vhost-user client
		if a.VhostMode == api.VhostServer {
			mode = "client"
		}
		return DeviceInfo{Type: DeviceInfoVhostUser, Version: DeviceInfoVersion, VhostUser: &VhostUserInfo{Mode: mode, Path: a.SocketPath}}, true
	case api.KindMemif:
		return DeviceInfo{Type: DeviceInfoMemif, Version: DeviceInfoVersion, Memif: &MemifInfo{Role: "slave", Path: a.SocketPath, Mode: "ethernet"}}, true
	}
	return DeviceInfo{}, false
}

// deviceInfoJSON returns the device-info document to hand out for a:
// podwired's own device-info.json next to the socket when it is readable
// and of the right type (so that the two never disagree), else the one
// built from the attachment.
func deviceInfoJSON(a api.Attachment) ([]byte, error) {
	want, ok := deviceInfoOf(a)
	if !ok {
		return nil, fmt.Errorf("kind %q has no device-info", a.Kind)
	}
	if a.SocketPath != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(a.SocketPath), DeviceInfoFile))
		var got DeviceInfo
		if err == nil && json.Unmarshal(b, &got) == nil && got.Type == want.Type && got.Version != "" {
			return b, nil
		}
	}
	b, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeDeviceInfo writes data to path unless a file is there already (a
// device plugin's, or ours from an earlier ADD): the NPWG device-info spec
// lets a CNI plugin write the file when it does not exist, creating its
// directory. The file appears whole or not at all (written aside, then
// linked into place), mode 0444 like the NAD client's.
func writeDeviceInfo(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("device-info directory: %w", err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".podwire-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.WriteFile(tmp, data, 0o444); err != nil {
		return fmt.Errorf("write device-info: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o444); err != nil { // whatever the umask
		return fmt.Errorf("write device-info: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write device-info: %w", err)
	}
	return nil
}

// removeDeviceInfo removes the device-info file at path if it is one of the
// types podwire writes (vhost-user, memif); another type (a device
// plugin's "pci") is left alone. A missing file is fine.
func removeDeviceInfo(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read device-info: %w", err)
	}
	var di DeviceInfo
	if json.Unmarshal(b, &di) != nil || (di.Type != DeviceInfoVhostUser && di.Type != DeviceInfoMemif) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove device-info: %w", err)
	}
	return nil
}
