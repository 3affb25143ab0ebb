package vhostuser_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/podwire/podwire/vhostuser"
)

func TestVhostArgs(t *testing.T) {
	long := "/" + strings.Repeat("x", 107)
	for _, tc := range []struct {
		name, vdev, sock string
		queues           int
		client           bool
		want, err        string
	}{
		{name: "server", vdev: "net_vhost3", sock: "/run/p/a/vhost.sock", queues: 1,
			want: "net_vhost3,iface=/run/p/a/vhost.sock,queues=1"},
		{name: "client", vdev: "net_vhost0", sock: "/run/p/a/vhost.sock", queues: 4, client: true,
			want: "net_vhost0,iface=/run/p/a/vhost.sock,client=1,queues=4"},
		{name: "bad driver", vdev: "net_memif1", sock: "/s", queues: 1, err: "want net_vhost<number>"},
		{name: "no number", vdev: "net_vhost", sock: "/s", queues: 1, err: "want net_vhost<number>"},
		{name: "junk number", vdev: "net_vhost1,x", sock: "/s", queues: 1, err: "want net_vhost<number>"},
		{name: "relative", vdev: "net_vhost1", sock: "run/s", queues: 1, err: "not absolute"},
		{name: "comma", vdev: "net_vhost1", sock: "/run/a,b", queues: 1, err: "devargs cannot carry"},
		{name: "space", vdev: "net_vhost1", sock: "/run/a b", queues: 1, err: "space"},
		{name: "too long", vdev: "net_vhost1", sock: long, queues: 1, err: "sun_path"},
		{name: "zero queues", vdev: "net_vhost1", sock: "/s", queues: 0, err: "queues 0"},
		{name: "many queues", vdev: "net_vhost1", sock: "/s", queues: 1000, err: "queues 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := vhostuser.VhostArgs(tc.vdev, tc.sock, tc.queues, tc.client)
			checkResult(t, got, err, tc.want, tc.err)
		})
	}
}

func TestMemifArgs(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x10}
	for _, tc := range []struct {
		name, vdev, sock string
		id               uint32
		mac              net.HardwareAddr
		want, err        string
	}{
		{name: "plain", vdev: "net_memif7", sock: "/run/p/a/memif.sock",
			want: "net_memif7,role=server,id=0,socket=/run/p/a/memif.sock,socket-abstract=no"},
		{name: "mac and id", vdev: "net_memif7", sock: "/run/p/a/memif.sock", id: 3, mac: mac,
			want: "net_memif7,role=server,id=3,socket=/run/p/a/memif.sock,socket-abstract=no,mac=02:00:00:00:00:10"},
		{name: "multicast mac", vdev: "net_memif1", sock: "/s", mac: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, err: "multicast"},
		{name: "zero mac", vdev: "net_memif1", sock: "/s", mac: make(net.HardwareAddr, 6), err: "all zeros"},
		{name: "short mac", vdev: "net_memif1", sock: "/s", mac: net.HardwareAddr{2, 0, 0}, err: "48-bit"},
		{name: "vhost name", vdev: "net_vhost1", sock: "/s", err: "want net_memif<number>"},
		{name: "equals sign", vdev: "net_memif1", sock: "/a=b", err: "devargs cannot carry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := vhostuser.MemifArgs(tc.vdev, tc.sock, tc.id, tc.mac)
			checkResult(t, got, err, tc.want, tc.err)
		})
	}
}

func checkResult(t *testing.T, got string, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got %q, %v; want an error with %q", got, err, wantErr)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// TestBadSpecs: Create refuses invalid attachments before touching the file
// system or DPDK.
func TestBadSpecs(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	good := vhostuser.Spec{ContainerID: "c0ffee", IfName: "net1", Mode: vhostuser.Memif}
	for _, tc := range []struct {
		name string
		edit func(*vhostuser.Spec)
		err  string
	}{
		{"no container id", func(s *vhostuser.Spec) { s.ContainerID = "" }, "container id is empty"},
		{"bad container id", func(s *vhostuser.Spec) { s.ContainerID = "-abc" }, "container id"},
		{"slash in container id", func(s *vhostuser.Spec) { s.ContainerID = "a/b" }, "container id"},
		{"no ifname", func(s *vhostuser.Spec) { s.IfName = "" }, "interface name is empty"},
		{"long ifname", func(s *vhostuser.Spec) { s.IfName = "abcdefghijklmnop" }, "longer than 15"},
		{"dot ifname", func(s *vhostuser.Spec) { s.IfName = ".." }, "not allowed"},
		{"slash ifname", func(s *vhostuser.Spec) { s.IfName = "a/b" }, "contains"},
		{"colon ifname", func(s *vhostuser.Spec) { s.IfName = "a:b" }, "contains"},
		{"no mode", func(s *vhostuser.Spec) { s.Mode = "" }, "mode is empty"},
		{"bad mode", func(s *vhostuser.Spec) { s.Mode = "vhost" }, "unknown mode"},
		{"negative queues", func(s *vhostuser.Spec) { s.Queues = -1 }, "queues -1"},
		{"too many queues", func(s *vhostuser.Spec) { s.Queues = vhostuser.MaxQueues + 1 }, "out of range"},
		{"mac on vhost", func(s *vhostuser.Spec) {
			s.Mode, s.MAC = vhostuser.VhostServer, net.HardwareAddr{2, 0, 0, 0, 0, 1}
		}, "mac applies only to memif"},
		{"memif id on vhost", func(s *vhostuser.Spec) { s.Mode, s.MemifID = vhostuser.VhostClient, 2 }, "memif id"},
		{"multicast mac", func(s *vhostuser.Spec) { s.MAC = net.HardwareAddr{3, 0, 0, 0, 0, 1} }, "multicast"},
		{"relative pod dir", func(s *vhostuser.Spec) { s.PodDir = "var/run/x" }, "absolute"},
		{"setuid dir mode", func(s *vhostuser.Spec) { s.Perms = &vhostuser.Perms{DirMode: 0o4750} }, "only permission bits"},
		{"bad uid", func(s *vhostuser.Spec) { s.Perms = &vhostuser.Perms{UID: -2} }, "uid -2"},
		{"owner cannot enter dir", func(s *vhostuser.Spec) { s.Perms = &vhostuser.Perms{DirMode: 0o070} }, "owner needs rwx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			p, err := m.Create(context.Background(), s)
			if err == nil {
				p.Close()
				t.Fatalf("Create accepted %+v", s)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %q does not mention %q", err, tc.err)
			}
			if got := entries(t, m.BaseDir()); len(got) != 0 {
				t.Fatalf("refused Create left %v in the base directory", got)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Create(ctx, good); !errors.Is(err, context.Canceled) {
			t.Fatalf("Create with a cancelled context: %v", err)
		}
	})
}

func TestNewBaseDir(t *testing.T) {
	for _, tc := range []struct {
		name, base, err string
	}{
		{"relative", "run/podwire", "not an absolute path"},
		{"too long", "/tmp/" + strings.Repeat("d", vhostuser.MaxBaseDirLen), "fit"},
		{"comma", "/tmp/a,b", "devargs cannot carry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vhostuser.New(vhostuser.Config{BaseDir: tc.base})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New(%q): %v; want an error with %q", tc.base, err, tc.err)
			}
		})
	}
	t.Run("world-writable", func(t *testing.T) {
		// /tmp itself: anyone could plant symlinks among the attachment directories.
		_, err := vhostuser.New(vhostuser.Config{BaseDir: "/tmp"})
		if err == nil || !strings.Contains(err.Error(), "writable by others") {
			t.Fatalf("New(/tmp): %v", err)
		}
	})
	t.Run("longest allowed", func(t *testing.T) {
		d := shortDir(t)
		base := d + "/" + strings.Repeat("b", vhostuser.MaxBaseDirLen-len(d)-1)
		m, err := vhostuser.New(vhostuser.Config{BaseDir: base})
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []vhostuser.Mode{vhostuser.VhostServer, vhostuser.Memif} {
			if n := len(m.SocketPath("c", "eth0", mode)); n > 107 {
				t.Fatalf("%s socket path is %d bytes", mode, n)
			}
		}
	})
}

func TestDeviceInfoJSON(t *testing.T) {
	m := newManager(t, vhostuser.Perms{})
	for _, tc := range []struct {
		mode vhostuser.Mode
		want string
	}{
		{vhostuser.VhostServer, `{"type":"vhost-user","version":"1.1.0","vhost-user":{"mode":"client","path":"/var/run/pw/vhost.sock"}}`},
		{vhostuser.VhostClient, `{"type":"vhost-user","version":"1.1.0","vhost-user":{"mode":"server","path":"/var/run/pw/vhost.sock"}}`},
		{vhostuser.Memif, `{"type":"memif","version":"1.1.0","memif":{"role":"slave","path":"/var/run/pw/memif.sock","mode":"ethernet"}}`},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			p := create(t, m, vhostuser.Spec{ContainerID: "devinfo", IfName: "net1", Mode: tc.mode, PodDir: "/var/run/pw"})
			var fromFile, want any
			if err := json.Unmarshal(readFile(t, p.DeviceInfoPath()), &fromFile); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(fromFile)
			b, _ := json.Marshal(want)
			if string(a) != string(b) {
				t.Fatalf("device-info.json:\n got %s\nwant %s", a, b)
			}
			closePort(t, p)
		})
	}
}
