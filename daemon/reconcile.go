package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/podwire/podwire/api"
	"github.com/podwire/podwire/vhostuser"
)

// reconcile removes, every interval, the attachments whose pod network
// namespace is gone: a pod deleted without a CNI DEL (Multus forwards GC
// only to its primary network, and a node can lose a DEL in a crash). An
// attachment without a netns path is left alone.
func (d *Daemon) reconcile(ctx context.Context, interval time.Duration) {
	defer close(d.reconcileDone)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.reconcileOnce(ctx)
		}
	}
}

// reconcileOnce does one pass and returns how many attachments it removed.
func (d *Daemon) reconcileOnce(ctx context.Context) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	removed := 0
	for _, key := range sortedKeys(d.atts) {
		att := d.atts[key]
		ns := att.spec.Netns
		if ns == "" {
			continue
		}
		if _, err := os.Stat(ns); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := d.removePort(ctx, att); err != nil {
			d.log.Warn("reconcile: remove port of a pod whose netns is gone", "container_id", att.spec.ContainerID,
				"ifname", att.spec.IfName, "netns", ns, "err", err)
			continue
		}
		delete(d.atts, key)
		removed++
		d.log.Info("reconcile: removed attachment of a pod whose netns is gone", "container_id", att.spec.ContainerID,
			"ifname", att.spec.IfName, "netns", ns, "port", att.portName)
	}
	if removed > 0 {
		if err := d.persist(); err != nil {
			d.log.Error("reconcile: persist", "err", err)
		}
	}
	d.sweepSocketDirs()
	return removed
}

// sweepSocketDirs removes the attachment directories that no attachment
// owns any more and that hold only dead sockets (vhostuser.Manager.Sweep):
// a DEL while the pod's app still listened on its socket leaves them, until
// the app exits. It looks in the socket directory and in every pod
// directory, and removes the directories of pods with no attachment left
// once they are empty (but for dangling links to their attachments).
// Called with d.mu held.
func (d *Daemon) sweepSocketDirs() {
	if d.vhost == nil {
		return
	}
	var keep []string
	hasAtts := map[string]bool{}
	for _, a := range d.atts {
		if a.spec.Kind == api.KindVhostUser || a.spec.Kind == api.KindMemif {
			m, err := d.manager(a.spec)
			if err == nil {
				keep = append(keep, m.Dir(a.spec.ContainerID, a.spec.IfName))
			}
		}
		hasAtts[a.spec.Pod] = true
	}
	sweep := func(m *vhostuser.Manager) {
		dirs, err := m.Sweep(keep)
		if err != nil {
			d.log.Warn("reconcile: sweep socket directories", "dir", m.BaseDir(), "err", err)
		}
		for _, dir := range dirs {
			d.log.Info("reconcile: removed a leftover socket directory", "dir", dir)
		}
	}
	sweep(d.vhost)
	podsDir := filepath.Join(d.socketDir(), podDirsName)
	ents, _ := os.ReadDir(podsDir)
	for _, e := range ents {
		pod := e.Name()
		if !e.IsDir() {
			continue
		}
		m, ok := d.podMgrs[pod]
		if !ok {
			var err error
			if m, err = vhostuser.New(vhostuser.Config{BaseDir: d.podDir(pod), Logger: d.log}); err != nil {
				continue
			}
		}
		sweep(m)
		if hasAtts[pod] {
			continue
		}
		// Links (ifName -> attachment directory) whose target is gone.
		links, _ := os.ReadDir(d.podDir(pod))
		for _, l := range links {
			lp := filepath.Join(d.podDir(pod), l.Name())
			if l.Type()&fs.ModeSymlink != 0 {
				if _, err := os.Stat(lp); errors.Is(err, fs.ErrNotExist) {
					_ = os.Remove(lp)
				}
			}
		}
		if err := os.Remove(d.podDir(pod)); err == nil || errors.Is(err, fs.ErrNotExist) {
			delete(d.podMgrs, pod)
			d.log.Info("reconcile: removed the directory of a pod with no attachments", "dir", d.podDir(pod))
		}
	}
	if err := os.Remove(podsDir); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(err) {
		d.log.Warn("reconcile: remove pods directory", "err", err)
	}
}
