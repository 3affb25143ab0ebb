package l2

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/podwire/podwire/daemon"
)

func TestParseScenarios(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Scenario
		err  string
	}{
		{in: "all", want: DefaultScenarios},
		{in: "vhost-64", want: []Scenario{{Vhost, 64}}},
		{in: " memif-1518 , vhost-128", want: []Scenario{{Memif, 1518}, {Vhost, 128}}},
		{in: "vhost", err: "want KIND-SIZE"},
		{in: "tap-64", err: `kind "tap"`},
		{in: "memif-59", err: "frame size"},
		{in: "memif-1519", err: "frame size"},
		{in: "memif-big", err: "frame size"},
		{in: "vhost-64,vhost-64", err: "twice"},
		{in: "", err: "want KIND-SIZE"},
	} {
		got, err := ParseScenarios(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseScenarios(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseScenarios(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	// "all" is a copy: changing it leaves the defaults alone.
	all, _ := ParseScenarios("all")
	all[0].Frame = 1
	if DefaultScenarios[0].Frame != 64 {
		t.Error("ParseScenarios(all) shares DefaultScenarios")
	}
}

func TestScenarioTargetAndLabel(t *testing.T) {
	for _, tc := range []struct {
		s      Scenario
		target float64
		label  string
	}{
		{Scenario{Vhost, 64}, 0.85, "vhost-user 64 B"},
		{Scenario{Memif, 64}, 0.85, "memif 64 B"},
		{Scenario{Vhost, 1518}, 0.95, "vhost-user 1518 B"},
		{Scenario{Memif, 1024}, 0.95, "memif 1024 B"},
	} {
		if got := tc.s.Target(); got != tc.target {
			t.Errorf("%v: target %v, want %v", tc.s, got, tc.target)
		}
		if got := tc.s.Label(); got != tc.label {
			t.Errorf("%v: label %q, want %q", tc.s, got, tc.label)
		}
	}
}

func TestArgs(t *testing.T) {
	socks := [2]string{"/s/a.sock", "/s/b.sock"}
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"pod vhost", PodArgs(Scenario{Vhost, 64}, DefaultSetup, "P", socks),
			"-l 0,1 --main-lcore 1 --no-pci --in-memory --single-file-segments --no-telemetry --file-prefix P --log-level=*:notice " +
				"--vdev=net_virtio_user0,path=/s/a.sock,queues=1,queue_size=1024,mac=02:00:00:00:00:10 " +
				"--vdev=net_virtio_user1,path=/s/b.sock,queues=1,queue_size=1024,mac=02:00:00:00:00:11 " +
				"-- -i --forward-mode=io --nb-cores=1 --burst=32 --rxd=1024 --txd=1024 --total-num-mbufs=8191 " +
				"--eth-peer=0,02:00:00:00:00:11 --eth-peer=1,02:00:00:00:00:10 --txpkts=64 --record-burst-stats"},
		{"pod memif", PodArgs(Scenario{Memif, 1518}, DefaultSetup, "P", socks),
			"-l 0,1 --main-lcore 1 --no-pci --in-memory --single-file-segments --no-telemetry --file-prefix P --log-level=*:notice " +
				"--vdev=net_memif0,role=client,id=0,socket=/s/a.sock,socket-abstract=no,mac=02:00:00:00:00:10 " +
				"--vdev=net_memif1,role=client,id=0,socket=/s/b.sock,socket-abstract=no,mac=02:00:00:00:00:11 " +
				"-- -i --forward-mode=io --nb-cores=1 --burst=32 --rxd=1024 --txd=1024 --total-num-mbufs=8191 " +
				"--eth-peer=0,02:00:00:00:00:11 --eth-peer=1,02:00:00:00:00:10 --txpkts=1518 --record-burst-stats"},
		{"testpmd vhost", FwdTestpmdArgs(Scenario{Vhost, 64}, DefaultSetup, "F", "/d", false),
			"-l 0,1 --main-lcore 0 --no-pci --in-memory --no-telemetry --file-prefix F --log-level=*:notice " +
				"--vdev=net_vhost0,iface=/d/v0.sock,queues=1 --vdev=net_vhost1,iface=/d/v1.sock,queues=1 " +
				"-- -i --forward-mode=mac --nb-cores=1 --eth-peer=0,02:00:00:00:00:10 --eth-peer=1,02:00:00:00:00:11 " +
				"--burst=32 --rxd=1024 --txd=1024 --total-num-mbufs=16383 --mbcache=256"},
		{"testpmd memif, burst stats", FwdTestpmdArgs(Scenario{Memif, 64}, DefaultSetup, "F", "/d", true),
			"-l 0,1 --main-lcore 0 --no-pci --in-memory --no-telemetry --file-prefix F --log-level=*:notice " +
				"--vdev=net_memif0,role=server,id=0,socket=/d/m0.sock,socket-abstract=no " +
				"--vdev=net_memif1,role=server,id=0,socket=/d/m1.sock,socket-abstract=no " +
				"-- -i --forward-mode=mac --nb-cores=1 --eth-peer=0,02:00:00:00:00:10 --eth-peer=1,02:00:00:00:00:11 " +
				"--burst=32 --rxd=1024 --txd=1024 --total-num-mbufs=16383 --mbcache=256 --record-burst-stats"},
	} {
		if got := strings.Join(tc.got, " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestPodwiredConfig: the overlay is a valid podwired config (the daemon's
// own loader and validation, no EAL) with the setup testpmd gets.
func TestPodwiredConfig(t *testing.T) {
	dir := t.TempDir()
	for _, metrics := range []bool{false, true} {
		p := filepath.Join(dir, "podwired.yaml")
		if err := os.WriteFile(p, []byte(PodwiredConfig(DefaultSetup, "pfx", dir, metrics)), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := daemon.LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.EAL.Lcores, []int{0, FwdLcore}) || c.EAL.MainLcore == nil || *c.EAL.MainLcore != 0 {
			t.Errorf("lcores %v main %v", c.EAL.Lcores, c.EAL.MainLcore)
		}
		if c.Workers.IdleSleep != 0 || c.Workers.Burst != DefaultSetup.Burst ||
			int(c.Workers.RxDesc) != DefaultSetup.Desc || int(c.Workers.TxDesc) != DefaultSetup.Desc ||
			int(c.Mempool.Mbufs) != DefaultSetup.Mbufs || int(c.Mempool.Cache) != DefaultSetup.Cache {
			t.Errorf("workers %+v mempool %+v, want busy polling and %+v", c.Workers, c.Mempool, DefaultSetup)
		}
		if c.EAL.FilePrefix != "pfx" || c.API.Socket != filepath.Join(dir, "api.sock") || c.SocketDir != filepath.Join(dir, "s") {
			t.Errorf("prefix %q api %q sockets %q", c.EAL.FilePrefix, c.API.Socket, c.SocketDir)
		}
		if want := map[bool]string{false: "", true: "127.0.0.1:0"}[metrics]; c.Metrics.Addr != want {
			t.Errorf("metrics %v: addr %q, want %q", metrics, c.Metrics.Addr, want)
		}
		if len(c.Networks) != 1 || c.Networks[0].Name != "default" {
			t.Errorf("networks %+v: the attachments use network default", c.Networks)
		}
	}
}

func TestSetupValidate(t *testing.T) {
	if err := DefaultSetup.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Setup{
		{Burst: 0, TxFirst: 32, Desc: 1024, Mbufs: 16383, Cache: 256},
		{Burst: 65, TxFirst: 32, Desc: 1024, Mbufs: 16383, Cache: 256},
		{Burst: 32, TxFirst: 0, Desc: 1024, Mbufs: 16383, Cache: 256},
		{Burst: 32, TxFirst: 32, Desc: 1000, Mbufs: 16383, Cache: 256},
		{Burst: 32, TxFirst: 32, Desc: 1024, Mbufs: 1024, Cache: 256},
		{Burst: 32, TxFirst: 32, Desc: 1024, Mbufs: 16383, Cache: 513},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
