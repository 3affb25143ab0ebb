package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/cni"
)

const (
	cniPlugin  = "podwire" // the plugin's binary, the conflists' "type"
	cniVersion = "1.1.0"   // the conflists' spec version: results carry socketPath
	cniTimeout = 30 * time.Second
	netnsDir   = "/run/netns" // where `ip netns add` puts its namespaces
)

// cniRuntime is the demo's container-runtime side: libcni with the demo's
// CNI_PATH, a private cache directory and one network config list per
// attachment kind, written to a net.d directory as a runtime would find
// them.
type cniRuntime struct {
	cfg   *libcni.CNIConfig
	path  []string
	cache string
	lists map[string]*libcni.NetworkConfigList // by api.Kind*
	files map[string]string                    // the conflist files, by kind
}

// newCNIRuntime writes the network config lists for the demo's kinds under
// dir/net.d, loads them back with libcni, and sets up libcni with the CNI
// path and the cache directory dir/cni-cache. Plugins' stderr goes to
// stderr.
func newCNIRuntime(dir string, path []string, apiSocket string, kinds []string, stderr io.Writer) (*cniRuntime, error) {
	r := &cniRuntime{path: path, cache: filepath.Join(dir, "cni-cache"),
		lists: map[string]*libcni.NetworkConfigList{}, files: map[string]string{}}
	confDir := filepath.Join(dir, "net.d")
	if err := os.Mkdir(confDir, 0o755); err != nil {
		return nil, fmt.Errorf("CNI config directory: %w", err)
	}
	for i, kind := range kinds {
		plugin := map[string]any{
			"type":           cniPlugin,
			"kind":           kind,
			"network":        network,
			"podwiredSocket": apiSocket,
			"capabilities":   map[string]bool{"mac": true},
		}
		if kind == api.KindVhostUser {
			plugin["vhostMode"] = api.VhostClient
		}
		b, err := json.MarshalIndent(map[string]any{
			"cniVersion": cniVersion,
			"name":       "demo-" + kind,
			"plugins":    []any{plugin},
		}, "", "  ")
		if err != nil {
			return nil, err
		}
		file := filepath.Join(confDir, fmt.Sprintf("%d0-demo-%s.conflist", i+1, kind))
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("CNI config: %w", err)
		}
		l, err := libcni.ConfListFromFile(file)
		if err != nil {
			return nil, fmt.Errorf("CNI config %s: %w", file, err)
		}
		r.lists[kind], r.files[kind] = l, file
	}
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: stderr}, PluginDecoder: version.PluginDecoder{}}
	r.cfg = libcni.NewCNIConfigWithCacheDir(path, r.cache, exec)
	return r, nil
}

// rt is the runtime configuration of pod p's attachment: what a runtime
// passes as CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and the "mac"
// capability.
func (r *cniRuntime) rt(p *podSpec) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    p.key.ContainerID,
		NetNS:          p.netnsPath(),
		IfName:         p.key.IfName,
		CapabilityArgs: map[string]any{"mac": p.mac},
	}
}

// status runs STATUS on every network, as a runtime does before it
// creates pods: podwired answers and has the network.
func (r *cniRuntime) status(ctx context.Context) error {
	for kind, l := range r.lists {
		cctx, cancel := context.WithTimeout(ctx, cniTimeout)
		err := r.cfg.GetStatusNetworkList(cctx, l)
		cancel()
		if err != nil {
			return fmt.Errorf("CNI STATUS %s (%s): %w", l.Name, kind, cniCause(ctx, err))
		}
	}
	return nil
}

// add runs ADD for pod p and returns the socket path from the 1.1.0
// result: the interface {CNI_IFNAME, CNI_NETNS} and its socketPath.
func (r *cniRuntime) add(ctx context.Context, p *podSpec) (string, error) {
	l := r.lists[p.kind]
	cctx, cancel := context.WithTimeout(ctx, cniTimeout)
	res, err := r.cfg.AddNetworkList(cctx, l, r.rt(p))
	cancel()
	if err != nil {
		return "", fmt.Errorf("CNI ADD pod %s (network %s): %w", p.name, l.Name, cniCause(ctx, err))
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		return "", fmt.Errorf("CNI ADD pod %s: result: %w", p.name, err)
	}
	for _, in := range cur.Interfaces {
		if in.Name == p.key.IfName && in.Sandbox == p.netnsPath() {
			if in.SocketPath == "" {
				return "", fmt.Errorf("CNI ADD pod %s: result interface %s has no socketPath: %s", p.name, in.Name, resultJSON(cur))
			}
			return in.SocketPath, nil
		}
	}
	return "", fmt.Errorf("CNI ADD pod %s: result has no interface {%s, %s}: %s", p.name, p.key.IfName, p.netnsPath(), resultJSON(cur))
}

// check runs CHECK for pod p against the cached result of its ADD.
func (r *cniRuntime) check(ctx context.Context, p *podSpec) error {
	cctx, cancel := context.WithTimeout(ctx, cniTimeout)
	defer cancel()
	if err := r.cfg.CheckNetworkList(cctx, r.lists[p.kind], r.rt(p)); err != nil {
		return fmt.Errorf("CNI CHECK pod %s: %w", p.name, cniCause(ctx, err))
	}
	return nil
}

// del runs DEL for pod p. It takes no context: it runs in cleanup, when
// the demo's context may already be cancelled by a signal. DEL is
// idempotent, so it is also safe for a pod whose ADD never ran or failed.
func (r *cniRuntime) del(p *podSpec) error {
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	if err := r.cfg.DelNetworkList(ctx, r.lists[p.kind], r.rt(p)); err != nil {
		return fmt.Errorf("CNI DEL pod %s: %w", p.name, err)
	}
	return nil
}

// cniCause is the signal that cancelled ctx, if one did (libcni then
// reports only that the plugin was killed), else err.
func cniCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

func resultJSON(r *current.Result) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// podDevargs reads the device-info document that podwired wrote next to
// socket (cni.DeviceInfoFile, the file a pod finds in the directory it
// mounts) and returns the pod's vdev, as docs/cni.md tells pods to build
// it, with the pod's MAC: the pod's vhost-user mode or memif role comes
// from the document, and its path must be socket.
func podDevargs(socket, mac string) (string, cni.DeviceInfo, error) {
	file := filepath.Join(filepath.Dir(socket), cni.DeviceInfoFile)
	var di cni.DeviceInfo
	b, err := os.ReadFile(file)
	if err != nil {
		return "", di, fmt.Errorf("device-info: %w", err)
	}
	if err := json.Unmarshal(b, &di); err != nil {
		return "", di, fmt.Errorf("device-info %s: %w", file, err)
	}
	var path, vdev string
	switch {
	case di.Type == cni.DeviceInfoVhostUser && di.VhostUser != nil:
		path = di.VhostUser.Path
		switch di.VhostUser.Mode {
		case "server":
			vdev = "net_virtio_user0,path=" + path + ",server=1,queues=1,queue_size=1024"
		case "client":
			vdev = "net_virtio_user0,path=" + path + ",queues=1,queue_size=1024"
		}
	case di.Type == cni.DeviceInfoMemif && di.Memif != nil && di.Memif.Role == "slave":
		path = di.Memif.Path
		vdev = "net_memif0,role=client,id=0,socket=" + path + ",socket-abstract=no"
	}
	switch {
	case vdev == "":
		return "", di, fmt.Errorf("device-info %s: not a vhost-user or memif document the demo knows: %s", file, strings.TrimSpace(string(b)))
	case path != socket:
		return "", di, fmt.Errorf("device-info %s names %s, the CNI result socketPath %s", file, path, socket)
	}
	return vdev + ",mac=" + mac, di, nil
}

// findCNIPlugin says in one line if the podwire plugin is not in one of
// the directories of path.
func findCNIPlugin(path []string) (string, error) {
	for _, d := range path {
		f := filepath.Join(d, cniPlugin)
		if st, err := os.Stat(f); err == nil && !st.IsDir() && st.Mode().Perm()&0o111 != 0 {
			return f, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %s not found in %s: run `make build` first (it builds bin/%s next to bin/%s)",
		cniPlugin, strings.Join(path, string(os.PathListSeparator)), cniPlugin, prog)
}

// libcniVersion is the version of libcni linked into the demo.
func libcniVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/containernetworking/cni" {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}
