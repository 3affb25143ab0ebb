package vhostuser

import "fmt"

// Release removes the device (dpdk.Port.Remove) but keeps the attachment's
// directory and device-info.json: podwired calls it when it shuts down, so
// that a pod's mount of the directory stays valid and the restarted
// podwired creates the socket again in the same directory (Create removes
// the stale socket it finds there). In VhostClient mode the pod's socket is
// left alone. The Port is done afterwards: Release and Close are no-ops on
// it (its ethdev id may be reused by another device).
func (p *Port) Release() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stopGuard() // the socket's name is back, for DPDK to remove
	if p.eth.Valid() {
		if err := p.removeDevice(); err != nil {
			return fmt.Errorf("release port %s/%s: %w", p.spec.ContainerID, p.spec.IfName, err)
		}
	}
	p.m.mu.Lock()
	if p.m.active[p.hash] == p {
		delete(p.m.active, p.hash)
	}
	p.m.mu.Unlock()
	p.m.log.Info("port released", "container_id", p.spec.ContainerID, "ifname", p.spec.IfName,
		"vdev", p.vdev, "socket", p.socket)
	return nil
}
