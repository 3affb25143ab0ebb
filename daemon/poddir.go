package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/vhostuser"
)

// Per-pod socket directories: the contract with a pod that cannot know its
// sandbox's container ID in advance.
//
// An attachment with a Pod (the pod's UID) gets its directory from a
// vhostuser.Manager whose base is <socketDir>/pods/<pod>, one Manager per
// pod: <socketDir>/pods/<pod>/<hash>/ holds the socket and device-info.json
// as for any attachment. Next to it podwired puts a relative symlink
// <socketDir>/pods/<pod>/<ifName> -> <hash>, so that a pod which mounts
// <socketDir>/pods/<pod> (hostPath with subPathExpr $(POD_UID)) at
// <podMount> finds its socket at <podMount>/<ifName>/vhost.sock (or
// memif.sock): the link is relative and resolves inside the mount. The pod
// directory is root's, 0755: the pod cannot replace the link; it can write
// only inside its attachment directories, as their Perms allow.
//
// Only one attachment at a time may hold a pod's interface name; a PUT for
// another container with the same pod and interface name is refused (409)
// until the first is deleted. DELETE removes the link (only if it still
// points at this attachment's directory) and the pod directory once it is
// empty.

// podDirsName is the directory under socketDir with one directory per pod.
const podDirsName = "pods"

// podDir is the host directory of pod's attachments.
func (d *Daemon) podDir(pod string) string {
	return filepath.Join(d.socketDir(), podDirsName, pod)
}

func (d *Daemon) socketDir() string {
	if d.cfg.SocketDir == "" {
		return vhostuser.DefaultBaseDir
	}
	return d.cfg.SocketDir
}

// podLinkPath is the contract path of a's directory: <podDir>/<ifName>.
func (d *Daemon) podLinkPath(a api.Attachment) string {
	return filepath.Join(d.podDir(a.Pod), a.IfName)
}

// socketName is the file name of a's socket.
func socketName(a api.Attachment) string {
	if a.Kind == api.KindMemif {
		return vhostuser.Memif.SocketName()
	}
	return vhostuser.VhostClient.SocketName()
}

// checkPodPaths refuses a Pod whose paths would not fit a unix socket
// path, or an interface name of the pod that another attachment holds.
// Called with d.mu held.
func (d *Daemon) checkPodPaths(a api.Attachment) error {
	if a.Pod == "" {
		return nil
	}
	if dir := d.podDir(a.Pod); len(dir) > vhostuser.MaxBaseDirLen {
		return &requestError{http.StatusUnprocessableEntity, api.FieldPod,
			fmt.Sprintf("pod directory %s is %d bytes; at most %d fit a unix socket path (a shorter socketDir or pod name)", dir, len(dir), vhostuser.MaxBaseDirLen)}
	}
	if p := filepath.Join(d.podLinkPath(a), socketName(a)); len(p) > api.MaxSocketPathLen {
		return &requestError{http.StatusUnprocessableEntity, api.FieldPod,
			fmt.Sprintf("socket path %s is %d bytes, more than %d", p, len(p), api.MaxSocketPathLen)}
	}
	for _, o := range d.atts {
		if o.spec.Pod == a.Pod && o.spec.IfName == a.IfName && o.spec.Key() != a.Key() {
			return &requestError{http.StatusConflict, api.FieldIfName,
				fmt.Sprintf("pod %s already has interface %s (attachment %s); delete that first", a.Pod, a.IfName, o.spec.Key())}
		}
	}
	return nil
}

// manager is the vhostuser.Manager for a: podwired's main one, or the
// pod's (created on first use). Called with d.mu held.
func (d *Daemon) manager(a api.Attachment) (*vhostuser.Manager, error) {
	if a.Pod == "" {
		return d.vhost, nil
	}
	if m, ok := d.podMgrs[a.Pod]; ok {
		return m, nil
	}
	m, err := vhostuser.New(vhostuser.Config{BaseDir: d.podDir(a.Pod), Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("pod directory: %w", err)
	}
	d.podMgrs[a.Pod] = m
	return m, nil
}

// podDirOf is vhostuser.Spec.PodDir for a: where the pod sees the
// attachment's directory. Empty (the host path) without a Pod.
func (d *Daemon) podDirOf(a api.Attachment) string {
	switch {
	case a.Pod == "":
		return ""
	case a.PodMount != "":
		return filepath.Join(a.PodMount, a.IfName)
	}
	return d.podLinkPath(a)
}

// linkPodDir makes <podDir>/<ifName> a relative symlink to the attachment
// directory dir (in the same pod directory). A symlink of that name that
// points elsewhere is a leftover (d.checkPodPaths made sure no attachment
// holds the name) and is replaced; anything else is refused.
func (d *Daemon) linkPodDir(a api.Attachment, dir string) error {
	link, target := d.podLinkPath(a), filepath.Base(dir)
	if filepath.Dir(dir) != d.podDir(a.Pod) {
		return fmt.Errorf("attachment directory %s is not in pod directory %s", dir, d.podDir(a.Pod))
	}
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("pod link %s: %w", link, err)
	case fi.Mode()&os.ModeSymlink == 0:
		return &requestError{http.StatusConflict, api.FieldIfName,
			fmt.Sprintf("%s exists and is not podwired's link (interface name %s clashes with an attachment directory?)", link, a.IfName)}
	default:
		if t, _ := os.Readlink(link); t == target {
			return nil
		}
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("replace stale pod link %s: %w", link, err)
		}
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("pod link %s -> %s: %w", link, target, err)
	}
	return nil
}

// unlinkPodDir removes a's link if it still points at dir, and the pod
// directory with its Manager when nothing is left in it. Called with d.mu
// held.
func (d *Daemon) unlinkPodDir(a api.Attachment, dir string) error {
	link := d.podLinkPath(a)
	if t, err := os.Readlink(link); err == nil && t == filepath.Base(dir) {
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove pod link %s: %w", link, err)
		}
	}
	for _, o := range d.atts {
		if o.spec.Pod == a.Pod && o.spec.Key() != a.Key() {
			return nil // the pod has other attachments
		}
	}
	err := os.Remove(d.podDir(a.Pod))
	switch {
	case err == nil, errors.Is(err, os.ErrNotExist):
		delete(d.podMgrs, a.Pod)
		// The last pod gone: remove <socketDir>/pods too (a pod
		// directory made later makes it again).
		if err := os.Remove(filepath.Dir(d.podDir(a.Pod))); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
			d.log.Warn("remove pods directory", "err", err)
		}
		return nil
	case isNotEmpty(err):
		d.log.Warn("pod directory not empty; left in place", "dir", d.podDir(a.Pod))
		return nil
	}
	return fmt.Errorf("remove pod directory: %w", err)
}

func isNotEmpty(err error) bool { return errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) }
