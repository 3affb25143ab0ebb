package vhostuser_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podwire/podwire/vhostuser"
)

// deadSocket leaves a socket file at path with nothing listening, as a
// killed server does.
func deadSocket(t testing.TB, path string) {
	t.Helper()
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(s, 1); err != nil {
		t.Fatal(err)
	}
}

// listeningOn reports whether a socket of this network namespace listens
// on path, from /proc/net/unix (flag __SO_ACCEPTCON, 0x10000).
func listeningOn(t testing.TB, path string) bool {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, "/proc/net/unix")), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 8 && f[7] == path && f[3] == "00010000" {
			return true
		}
	}
	return false
}

// TestStaleSocket: a dead socket left at the socket path by a killed
// podwired is removed before the bind; in VhostClient mode Create leaves
// the pod's socket alone.
func TestStaleSocket(t *testing.T) {
	for _, mode := range []vhostuser.Mode{vhostuser.Memif, vhostuser.VhostServer, vhostuser.VhostClient} {
		t.Run(string(mode), func(t *testing.T) {
			m := newManager(t, vhostuser.Perms{})
			const cid, ifname = "stale0123", "net1"
			sock := m.SocketPath(cid, ifname, mode)
			if err := os.Mkdir(m.Dir(cid, ifname), 0o700); err != nil {
				t.Fatal(err)
			}
			deadSocket(t, sock)
			p := create(t, m, vhostuser.Spec{ContainerID: cid, IfName: ifname, Mode: mode})
			switch mode {
			case vhostuser.Memif:
				// The new server socket is in its place, listening. (Not
				// checked by connecting: a memif server of DPDK 22.11.11
				// does not survive a client that hangs up at once.)
				if !listeningOn(t, sock) {
					t.Fatal("no listening socket in place of the stale one")
				}
			case vhostuser.VhostClient:
				// The socket is the pod's: Create never touches it (telling
				// dead from alive means connecting, which a live
				// virtio_user server takes as its backend). Close clears it
				// once nothing listens.
				if _, err := os.Lstat(sock); err != nil {
					t.Fatalf("pod's socket removed by Create: %v", err)
				}
			default:
				// vhost server: no socket until the port starts.
				if _, err := os.Lstat(sock); !os.IsNotExist(err) {
					t.Fatalf("stale socket not removed: %v", err)
				}
			}
			closePort(t, p)
		})
	}
}

// TestSocketPathTaken: Create refuses, and leaves untouched, whatever at the
// socket path is not a dead socket: a live one, a regular file, a directory,
// a symlink (even to a dead socket).
func TestSocketPathTaken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, sock string)
		want  error
	}{
		{"live socket", func(t *testing.T, sock string) {
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, vhostuser.ErrSocketInUse},
		{"live seqpacket socket (a memif server)", func(t *testing.T, sock string) {
			l, err := net.Listen("unixpacket", sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, vhostuser.ErrSocketInUse},
		{"regular file", func(t *testing.T, sock string) {
			if err := os.WriteFile(sock, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, vhostuser.ErrNotSocket},
		{"directory", func(t *testing.T, sock string) {
			if err := os.Mkdir(sock, 0o700); err != nil {
				t.Fatal(err)
			}
		}, vhostuser.ErrNotSocket},
		{"symlink to dead socket", func(t *testing.T, sock string) {
			target := filepath.Join(shortDir(t), "elsewhere.sock")
			deadSocket(t, target)
			if err := os.Symlink(target, sock); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := os.Lstat(target); err != nil {
					t.Errorf("symlink target was touched: %v", err)
				}
			})
		}, vhostuser.ErrNotSocket},
	} {
		for _, mode := range []vhostuser.Mode{vhostuser.Memif, vhostuser.VhostServer} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				m := newManager(t, vhostuser.Perms{})
				const cid, ifname = "taken", "net1"
				sock := m.SocketPath(cid, ifname, mode)
				if err := os.Mkdir(m.Dir(cid, ifname), 0o700); err != nil {
					t.Fatal(err)
				}
				tc.setup(t, sock)
				before, err := os.Lstat(sock)
				if err != nil {
					t.Fatal(err)
				}
				p, err := m.Create(context.Background(), vhostuser.Spec{ContainerID: cid, IfName: ifname, Mode: mode})
				if err == nil {
					p.Close()
					t.Fatal("Create succeeded over a path that is not a dead socket")
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
				t.Log(err)
				after, err := os.Lstat(sock)
				if err != nil || !os.SameFile(before, after) {
					t.Fatalf("%s changed by the refused Create (%v)", sock, err)
				}
				if _, err := os.Lstat(filepath.Join(m.Dir(cid, ifname), vhostuser.DeviceInfoFile)); !os.IsNotExist(err) {
					t.Fatalf("device-info written by a refused Create: %v", err)
				}
			})
		}
	}
}

// TestDirIsSymlink: an attachment directory replaced by a symlink is not
// followed.
func TestDirIsSymlink(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	target := shortDir(t)
	if err := os.Symlink(target, m.Dir("symdir", "net1")); err != nil {
		t.Fatal(err)
	}
	_, err := m.Create(context.Background(), vhostuser.Spec{ContainerID: "symdir", IfName: "net1", Mode: vhostuser.Memif})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Create through a symlinked directory: %v", err)
	}
	if es := entries(t, target); len(es) != 0 {
		t.Fatalf("files created in the symlink's target: %v", es)
	}
}

// TestExists: one port per attachment.
func TestExists(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	s := vhostuser.Spec{ContainerID: "twice", IfName: "net1", Mode: vhostuser.Memif}
	p := create(t, m, s)
	if _, err := m.Create(context.Background(), s); !errors.Is(err, vhostuser.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if m.Get("twice", "net1") != p {
		t.Fatal("Get does not return the port")
	}
	// The refused Create did not disturb the first port's files.
	if _, err := os.Stat(p.SocketPath()); err != nil {
		t.Fatal(err)
	}
	closePort(t, p)
	if m.Get("twice", "net1") != nil || len(m.Ports()) != 0 {
		t.Fatal("port still listed after Close")
	}
}

// TestLongContainerIDs: any container ID length gives the same short socket
// path, and IDs that differ only at the end get different directories.
func TestLongContainerIDs(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	prefix := strings.Repeat("0123456789abcdef", 64) // 1024 characters
	var ports []*vhostuser.Port
	for _, cid := range []string{"a", strings.Repeat("f", 64), prefix + "x", prefix + "y"} {
		p := create(t, m, vhostuser.Spec{ContainerID: cid, IfName: "net1", Mode: vhostuser.Memif})
		if n := len(p.SocketPath()); n > 107 {
			t.Fatalf("socket path of a %d-char id is %d bytes", len(cid), n)
		}
		if n, want := len(p.SocketPath()), len(m.BaseDir())+1+12+1+len("memif.sock"); n != want {
			t.Fatalf("socket path %s: %d bytes, want %d", p.SocketPath(), n, want)
		}
		ports = append(ports, p)
	}
	if len(entries(t, m.BaseDir())) != len(ports) {
		t.Fatalf("directories: %v", entries(t, m.BaseDir()))
	}
	for _, p := range ports {
		closePort(t, p)
	}
}

// TestPermissions: owner and mode are exact under a restrictive umask, and
// a process outside the socket's owner and group cannot connect.
func TestPermissions(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	const uid, gid = 65534, 65534 // nobody:nogroup
	m := newManager(t, vhostuser.Perms{UID: uid, GID: gid, DirMode: 0o750, SocketMode: 0o660})
	p := create(t, m, vhostuser.Spec{ContainerID: "perms", IfName: "net1", Mode: vhostuser.Memif})

	for _, c := range []struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{p.Dir(), os.ModeDir | 0o750, uid, gid},
		{p.SocketPath(), os.ModeSocket | 0o660, uid, gid},
		{p.DeviceInfoPath(), 0o644, 0, 0},
	} {
		mode, u, g := statOf(t, c.path)
		if mode != c.mode || u != c.uid || g != c.gid {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", c.path, mode, u, g, c.mode, c.uid, c.gid)
		}
	}
	// Only refused connects here: a memif server in DPDK 22.11.11 aborts the
	// whole process (PANIC in eal_intr_thread_main) when a client connects
	// and hangs up before the handshake. TestPodTraffic connects a real
	// memif client as nobody.
	if err := connectAs(p.SocketPath(), unix.SOCK_SEQPACKET, 12345, 12345); !errors.Is(err, unix.EACCES) {
		t.Errorf("a stranger connects: %v, want EACCES", err)
	}
	closePort(t, p)
}

// TestSocketPermsVhostServer: the vhost-user server socket appears at port
// start; ApplySocketPerms waits for it and applies owner and mode, and
// fails clearly when the port never starts.
func TestSocketPermsVhostServer(t *testing.T) {
	checkPool(t)
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	m := newManager(t, vhostuser.Perms{UID: -1, GID: 65534, SocketMode: 0o660})
	p := create(t, m, vhostuser.Spec{ContainerID: "vperms", IfName: "net1", Mode: vhostuser.VhostServer})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := p.ApplySocketPerms(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "did not appear") {
		t.Fatalf("ApplySocketPerms before start: %v", err)
	}
	startPort(t, p.Ethdev())
	if err := p.ApplySocketPerms(context.Background()); err != nil {
		t.Fatal(err)
	}
	mode, _, g := statOf(t, p.SocketPath())
	if mode != os.ModeSocket|0o660 || g != 65534 {
		t.Fatalf("socket: %v gid %d", mode, g)
	}
	// A process in the socket's group connects (and hangs up: the vhost-user
	// server takes that in its stride); a stranger cannot.
	if err := connectAs(p.SocketPath(), unix.SOCK_STREAM, 12345, 65534); err != nil {
		t.Errorf("a member of group 65534 cannot connect: %v", err)
	}
	if err := connectAs(p.SocketPath(), unix.SOCK_STREAM, 12345, 12345); !errors.Is(err, unix.EACCES) {
		t.Errorf("a stranger connects: %v, want EACCES", err)
	}
	closePort(t, p)
}

// TestVdevNames: names are unique, have the driver's prefix, and are not
// handed out again after a port is closed.
func TestVdevNames(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	seen := map[string]bool{}
	for i, mode := range []vhostuser.Mode{vhostuser.Memif, vhostuser.VhostServer, vhostuser.Memif, vhostuser.VhostClient} {
		p := create(t, m, vhostuser.Spec{ContainerID: "names", IfName: "net" + strconv.Itoa(i), Mode: mode})
		want := "net_memif"
		if mode != vhostuser.Memif {
			want = "net_vhost"
		}
		if !strings.HasPrefix(p.Vdev(), want) || !strings.HasPrefix(p.Devargs(), p.Vdev()+",") {
			t.Fatalf("vdev %q, devargs %q", p.Vdev(), p.Devargs())
		}
		if seen[p.Vdev()] {
			t.Fatalf("vdev name %s handed out twice", p.Vdev())
		}
		seen[p.Vdev()] = true
		if name, err := p.Ethdev().DeviceName(); err != nil || name != p.Vdev() {
			t.Fatalf("ethdev %d belongs to %q (%v), want %s", p.Ethdev(), name, err, p.Vdev())
		}
		closePort(t, p) // closed at once: the next port must still get a new name
	}
}

// TestReleaseKeepsDirectory: Release (podwired shutting down) removes the
// device but keeps the directory and device-info.json for the pod's mount;
// a later Create of the same attachment reuses them, and Close then removes
// everything.
func TestReleaseKeepsDirectory(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	s := vhostuser.Spec{ContainerID: "release", IfName: "net1", Mode: vhostuser.Memif}
	p := create(t, m, s)
	eth, dir := p.Ethdev(), p.Dir()
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if eth.Valid() {
		t.Fatal("device still there after Release")
	}
	if _, err := os.Stat(p.DeviceInfoPath()); err != nil {
		t.Fatalf("device-info.json gone after Release: %v", err)
	}
	if m.Get(s.ContainerID, s.IfName) != nil {
		t.Fatal("released port still listed")
	}
	if err := p.Close(); err != nil { // no-op on a released port
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("directory gone after Release and Close: %v", err)
	}
	p2 := create(t, m, s)
	if p2.Dir() != dir || !listeningOn(t, p2.SocketPath()) {
		t.Fatalf("re-created port: dir %s (was %s), listening %v", p2.Dir(), dir, listeningOn(t, p2.SocketPath()))
	}
	closePort(t, p2)
}

// TestSweep: Sweep removes attachment directories that hold only dead
// sockets and device-info.json, and keeps those in use, kept, or holding
// anything else.
func TestSweep(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	base := m.BaseDir()
	mk := func(name string, files ...string) string {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(dir, f)
			if strings.Contains(f, ".sock") {
				l, err := net.Listen("unix", p)
				if err != nil {
					t.Fatal(err)
				}
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				l.Close() // a dead socket, as a pod that exited leaves it
				continue
			}
			if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mk("0123456789ab", "vhost.sock", vhostuser.DeviceInfoFile)
	deadMemif := mk("0123456789ac", "memif.sock")
	deadBusy := mk("0123456789b0", ".vhost.sock.busy", vhostuser.DeviceInfoFile) // a killed podwired's placeholder
	kept := mk("0123456789ad", "vhost.sock", vhostuser.DeviceInfoFile)
	other := mk("0123456789ae", "vhost.sock", "notes.txt")
	notOurs := mk("not-a-hash", "vhost.sock")
	live := mk("0123456789af", vhostuser.DeviceInfoFile)
	l, err := net.Listen("unix", filepath.Join(live, "vhost.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	removed, err := m.Sweep([]string{kept})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{dead, deadMemif, deadBusy}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, d := range []string{dead, deadMemif, deadBusy} {
		if _, err := os.Lstat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", d, err)
		}
	}
	for d, want := range map[string][]string{
		kept:    {vhostuser.DeviceInfoFile, "vhost.sock"},
		other:   {"notes.txt"}, // the dead socket went, the rest stays
		notOurs: {"vhost.sock"},
		live:    {vhostuser.DeviceInfoFile, "vhost.sock"},
	} {
		if got := entries(t, d); !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", d, got, want)
		}
	}
}
