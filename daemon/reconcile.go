package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
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
	return removed
}
