package main

import (
	"strings"
	"testing"
	"time"

	"github.com/podwire/podwire/api"
)

func TestHumanUnits(t *testing.T) {
	counts := map[uint64]string{
		0: "0", 999: "999", 1000: "1.00k", 1234: "1.23k", 12345: "12.3k", 123456: "123k",
		999499: "999k", 999500: "1.00M", 999999: "1.00M", 1_500_000: "1.50M", 98_765_432_100: "98.8G",
		1 << 63: "9.22E", ^uint64(0): "18.4E",
	}
	for n, want := range counts {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	sizes := map[uint64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 1536: "1.50 KiB", 10 << 20: "10.0 MiB",
		1000 << 20: "0.98 GiB", 999 << 20: "999 MiB", 1<<30 - 1: "1.00 GiB", 1 << 40: "1.00 TiB", ^uint64(0): "16.0 EiB",
	}
	for n, want := range sizes {
		if got := bytesIEC(n); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", n, got, want)
		}
	}
	durations := map[time.Duration]string{
		-time.Second: "0s", 0: "0s", 59 * time.Second: "59s", 60 * time.Second: "1m", 200 * time.Second: "3m20s",
		2*time.Hour + 5*time.Minute + 30*time.Second: "2h5m", 3 * time.Hour: "3h", 76 * time.Hour: "3d4h", 48 * time.Hour: "2d",
	}
	for d, want := range durations {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func portID(v uint16) *uint16 { return &v }

func TestRender(t *testing.T) {
	counters := api.CounterReport{
		Ports: []api.PortCounters{
			{Port: "uplink", PortID: 0, Counters: api.Counters{RxPackets: 12_345_678, RxBytes: 5 << 30, TxPackets: 999, TxBytes: 1000,
				Drops: map[string]uint64{api.DropNoMbuf: 3, api.DropTxFull: 1500, "zero": 0}}},
			{Port: "vhu-c0ffee-net1", PortID: 1},
		},
		Workers: []api.WorkerCounters{
			{Worker: 0, Lcore: 1, Counters: api.Counters{RxPackets: 1e9, Drops: map[string]uint64{api.DropTxFull: 1500, api.DropBadHeader: 2}}},
		},
	}
	tests := []struct {
		name   string
		render func(b *strings.Builder) error
		want   string
	}{
		{"status", func(b *strings.Builder) error {
			return renderStatus(b, api.Status{Version: "v0.3.0", APIVersion: "v1", StartedAt: now.Add(-(26*time.Hour + 10*time.Minute)),
				Workers: 1, Ports: 3, Networks: 2}, "/run/podwire/podwired.sock", now)
		}, `
podwired  v0.3.0 (api v1)
socket    /run/podwire/podwired.sock
started   ` + now.Add(-(26*time.Hour + 10*time.Minute)).Local().Format(time.DateTime) + ` (up 1d2h)
workers   1
ports     3
networks  2
`},
		{"ports", func(b *strings.Builder) error {
			return renderPorts(b, []api.Port{
				{Name: "uplink", ID: 0, Kind: api.PortKindUplink, Link: api.Link{Up: true, SpeedMbps: 10000}, MAC: "02:00:00:00:00:fe", RxQueues: 2,
					Counters: counters.Ports[0].Counters},
				{Name: "vhu-c0ffee-net1", ID: 1, Kind: api.KindVhostUser, Network: "blue", RxQueues: 1},
			})
		}, `
NAME             ID  KIND       NETWORK  LINK    MAC                RXQ  RX PKTS  RX BYTES  TX PKTS  TX BYTES  DROPS
uplink           0   uplink     -        up 10G  02:00:00:00:00:fe  2    12.3M    5.00 GiB  999      1000 B    1.50k
vhu-c0ffee-net1  1   vhostuser  blue     down    -                  1    0        0 B       0        0 B       0
`},
		{"networks", func(b *strings.Builder) error {
			return renderNetworks(b, []api.Network{{Name: "blue"}, {Name: "red", VLAN: 100, MaxMACs: 4096, MACAgeingSeconds: 300}})
		}, `
NAME  VLAN      MAX MACS  MAC AGEING
blue  untagged  default   default
red   100       4096      5m
`},
		{"macs", func(b *strings.Builder) error {
			return renderMACs(b, []api.MACEntry{{MAC: "02:00:00:00:00:01", Port: "vhu0", Static: true}, {MAC: "02:00:00:00:00:02", Port: "uplink", AgeSeconds: 75}})
		}, `
MAC                PORT    TYPE     AGE
02:00:00:00:00:01  vhu0    static   -
02:00:00:00:00:02  uplink  learned  1m15s
`},
		{"counters", func(b *strings.Builder) error { return renderCounters(b, counters) }, `
PORT             RX PKTS  RX BYTES  TX PKTS  TX BYTES  DROPS
uplink           12.3M    5.00 GiB  999      1000 B    1.50k
vhu-c0ffee-net1  0        0 B       0        0 B       0

WORKER  LCORE  RX PKTS  RX BYTES  TX PKTS  TX BYTES  DROPS
0       1      1.00G    0 B       0        0 B       1.50k
`},
		{"drops", func(b *strings.Builder) error { return renderDrops(b, counters) }, `
WHERE        REASON      PACKETS
port uplink  tx_full     1.50k
port uplink  no_mbuf     3
worker 0     tx_full     1.50k
worker 0     bad_header  2
`},
		{"no drops", func(b *strings.Builder) error { return renderDrops(b, api.CounterReport{Ports: counters.Ports[1:]}) }, `
no drops
`},
		{"workers", func(b *strings.Builder) error {
			return renderWorkers(b, []api.Worker{
				{ID: 0, Lcore: 1, CPU: 1, Busy: 37.25, Loops: 123_456_789, Packets: 42,
					RxQueues: []api.QueueRef{{Port: "uplink", Queue: 0}, {Port: "vhu0", Queue: 1}}},
				{ID: 1, Lcore: 2, CPU: 3},
			})
		}, `
ID  LCORE  CPU  BUSY   LOOPS  PACKETS  RX QUEUES
0   1      1    37.2%  123M   42       uplink/0,vhu0/1
1   2      3    0.0%   0      0        -
`},
		{"attachments", func(b *strings.Builder) error {
			return renderAttachments(b, []api.Attachment{
				{ContainerID: "c0ffee", IfName: "net1", Network: "blue", Kind: api.KindVhostUser, VhostMode: api.VhostClient,
					Owner: "podwire-vhost", PortName: "vhu0", State: api.StateUp, CreatedAt: now.Add(-90 * time.Minute), SocketPath: "/run/podwire/pods/c0ffee/net1.sock"},
				{ContainerID: "deadbeef", IfName: "eth0", Network: "pods", Kind: api.KindKernel, State: api.StateWaiting},
			}, now)
		}, `
CONTAINER  IFNAME  NETWORK  KIND              OWNER          PORT  STATE    AGE    SOCKET
c0ffee     net1    blue     vhostuser/client  podwire-vhost  vhu0  up       1h30m  /run/podwire/pods/c0ffee/net1.sock
deadbeef   eth0    pods     kernel            -              -     waiting  -      -
`},
		{"attachment", func(b *strings.Builder) error {
			return renderAttachment(b, api.Attachment{ContainerID: "c0ffee", IfName: "net1", Network: "blue", Kind: api.KindMemif,
				PortName: "memif0", PortID: portID(0), MAC: "02:00:00:00:00:01", SocketPath: "/run/podwire/pods/c0ffee/net1.sock",
				State: api.StateDown, Reason: "peer disconnected"}, now)
		}, `
attachment  c0ffee/net1
network     blue
kind        memif
port        memif0 (id 0)
mac         02:00:00:00:00:01
socket      /run/podwire/pods/c0ffee/net1.sock
state       down (peer disconnected)
`},
		{"tabs in values", func(b *strings.Builder) error {
			return renderNetworks(b, []api.Network{{Name: "a\tb"}})
		}, `
NAME  VLAN      MAX MACS  MAC AGEING
a b   untagged  default   default
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			want := strings.TrimPrefix(tt.want, "\n")
			if b.String() != want {
				t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
			}
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.HasSuffix(line, " ") {
					t.Errorf("trailing space in %q", line)
				}
			}
		})
	}
}
