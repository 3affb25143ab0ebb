package vhostuser

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// One client per VhostServer socket.
//
// DPDK 22.11's vhost-user server (rte_vhost) accepts every connection on
// its socket, and the vhost PMD hands the port to the newest one: a second
// app that connects to a pod's socket takes the port's traffic from the
// first, which keeps running with no traffic. While the port's link is up
// (a client is connected and its device is ready), the guard swaps the
// socket's name with a placeholder's (busyName, in the same directory; one
// atomic rename with RENAME_EXCHANGE each way): the placeholder is a
// socket that nobody listens on, so a second client's connect is refused,
// while the path still names a socket (CNI CHECK looks for it) and the
// listening socket stays bound to its inode. When the link goes down (the
// client left) the names swap back and the next client can connect. A
// second client that connects in the moment between the first's connect
// and the guard seeing its link up (guardInterval plus the device's start)
// still gets through.

// guardInterval is how often the guard reads the link state.
const guardInterval = 10 * time.Millisecond

// busyName is the placeholder's name, and the socket's while a client is
// connected.
func (m Mode) busyName() string { return "." + m.SocketName() + ".busy" }

// startGuard makes the placeholder and starts the guard of a VhostServer
// port once its socket exists.
func (p *Port) startGuard() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spec.Mode != VhostServer || p.closed || p.guardStop != nil {
		return
	}
	if err := p.makePlaceholder(); err != nil {
		p.m.log.Warn("vhost-user socket guard not started", "socket", p.socket, "err", err)
		return
	}
	p.guardStop, p.guardDone = make(chan struct{}), make(chan struct{})
	go p.guard(p.guardStop, p.guardDone)
}

// makePlaceholder binds a socket at busyName and closes it: a socket file
// whose connects are refused, with the socket's owner and mode.
func (p *Port) makePlaceholder() error {
	dfd, err := openDir(p.dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	name := p.spec.Mode.busyName()
	if _, err := removeStale(dfd, p.dir+"/"+name, name); err != nil {
		return err
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	// Through the directory's descriptor: short enough for sun_path
	// whatever the directory's path.
	err = unix.Bind(s, &unix.SockaddrUnix{Name: procPath(dfd) + "/" + name})
	unix.Close(s)
	if err != nil {
		return fmt.Errorf("bind placeholder %s/%s: %w", p.dir, name, err)
	}
	_, err = applySocketPerms(dfd, p.dir+"/"+name, name, p.perms)
	return err
}

// stopGuard stops the guard, waits until it has swapped the socket's name
// back, and removes the placeholder. Safe to call if it never started.
func (p *Port) stopGuard() {
	p.mu.Lock()
	stop, done := p.guardStop, p.guardDone
	p.guardStop = nil
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	dfd, err := openDir(p.dir)
	if err != nil {
		return
	}
	defer unix.Close(dfd)
	if err := p.removeBusyName(dfd); err != nil {
		p.m.log.Warn("vhost-user socket placeholder not removed", "socket", p.socket, "err", err)
	}
}

func (p *Port) guard(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(guardInterval)
	defer tick.Stop()
	hidden := false
	for {
		select {
		case <-stop:
			if hidden {
				if err := p.moveSocketName(false); err != nil {
					p.m.log.Warn("vhost-user socket name not restored", "socket", p.socket, "err", err)
				}
			}
			return
		case <-tick.C:
		}
		l, err := p.eth.Link()
		if err != nil || l.Up == hidden {
			continue
		}
		if err := p.moveSocketName(l.Up); err != nil {
			p.m.log.Warn("vhost-user socket guard", "socket", p.socket, "hide", l.Up, "err", err)
			continue
		}
		hidden = l.Up
		p.m.log.Debug("vhost-user socket guard", "socket", p.socket, "client_connected", hidden)
	}
}

// moveSocketName swaps podwired's socket with the placeholder: to
// busyName (hide) or back. It swaps only if podwired's socket (its inode)
// is where it should be.
func (p *Port) moveSocketName(hide bool) error {
	dfd, err := openDir(p.dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	from, to := p.spec.Mode.SocketName(), p.spec.Mode.busyName()
	if !hide {
		from, to = to, from
	}
	p.mu.Lock()
	id, known := p.sockID, p.haveSock
	p.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, from, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", from, err)
	}
	if !known || idOf(&st) != id {
		return fmt.Errorf("%s in %s is not podwired's socket", from, p.dir)
	}
	if err := unix.Renameat2(dfd, from, dfd, to, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("swap %s and %s in %s: %w", from, to, p.dir, err)
	}
	return nil
}

// removeBusyName removes the socket at busyName if nothing listens on it:
// the placeholder, or podwired's own socket that a podwired killed while a
// client was connected left there.
func (p *Port) removeBusyName(dfd int) error {
	if p.spec.Mode != VhostServer {
		return nil
	}
	name := p.spec.Mode.busyName()
	removed, err := removeStale(dfd, p.dir+"/"+name, name)
	if removed {
		p.m.log.Info("removed stale socket", "container_id", p.spec.ContainerID, "socket", p.dir+"/"+name)
	}
	if errors.Is(err, ErrSocketInUse) {
		return fmt.Errorf("%s/%s: %w", p.dir, name, err)
	}
	return err
}
