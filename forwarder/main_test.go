package forwarder

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

var testPool *dpdk.Mempool

func TestMain(m *testing.M) {
	// Three lcores on two cpus: main on cpu 0, two worker lcores sharing
	// cpu 1, so that tests can run two workers (rebalancing, shared tx
	// queues) on this 2-core machine.
	dpdktest.Main(m, "forwarder", dpdk.Options{
		Extra: []string{"--lcores", "0@0,1@1,2@1"}, MainLcore: 0, HasMainLcore: true,
		FilePrefix: fmt.Sprintf("pwfwd%d", os.Getpid()), InMemory: true, SingleFileSegments: true,
		NoPCI: true, NoTelemetry: true, LogLevel: "*:warning",
	}, "pwfwd", dpdk.MbufPoolConfig{Mbufs: 16383, Cache: 256, Socket: dpdk.SocketAny}, true,
		func(mp *dpdk.Mempool) { testPool = mp })
}

// newEngine starts an engine with one worker on lcore 1, closed at cleanup.
func newEngine(t testing.TB) *Engine { t.Helper(); return newEngineN(t, 1) }

// newEngineN starts an engine with n workers (lcores 1..n, all on cpu 1).
func newEngineN(t testing.TB, n int) *Engine {
	t.Helper()
	before := testPool.InUse()
	e, err := New(Config{Pool: testPool, RxDesc: 256, TxDesc: 256, Lcores: dpdk.WorkerLcores()[:n],
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		// Runs after the ports' cleanups (registered later, run earlier).
		if n := testPool.InUse(); n != before {
			t.Errorf("mempool in use: %d after the test, %d before", n, before)
		}
	})
	return e
}

var seq atomic.Int32

// pod is the test's end of a vhost-user port: a net_virtio_user port in
// this process, standing in for a DPDK app in a pod.
type pod struct {
	name string
	mac  net.HardwareAddr
	peer dpdk.Port // the virtio_user side, polled by the test
	port dpdk.Port // the vhost side, forwarded by the engine
}

// attach creates a vhost-user port for the engine and a virtio-user peer,
// adds the vhost port to network nw, and registers removal of both.
func attach(t testing.TB, e *Engine, name, nw string, staticMAC bool) *pod {
	t.Helper()
	p := attachPort(t, e, name, nw, staticMAC)
	t.Cleanup(func() { p.detach(t, e) })
	// Wait until the engine sees the link (housekeeping publishes it).
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := e.Port(name)
		if st.Up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s: link not up in the engine after 5s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// attachPort creates the port pair and adds the vhost side to the engine.
func attachPort(t testing.TB, e *Engine, name, nw string, staticMAC bool) *pod {
	t.Helper()
	return attachPortQ(t, e, name, nw, staticMAC, 1)
}

// attachPortQ is attachPort with q queue pairs on both sides.
func attachPortQ(t testing.TB, e *Engine, name, nw string, staticMAC bool, q int) *pod {
	t.Helper()
	n := seq.Add(1)
	dir, err := os.MkdirTemp("", "pwf")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	ports, err := dpdk.Probe(fmt.Sprintf("net_vhost%d,iface=%s,queues=%d", 100+n, sock, q))
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{name: name, port: ports[0], mac: net.HardwareAddr{0x02, 0, 0, 0, byte(n >> 8), byte(n)}}
	spec := PortSpec{Name: name, Port: p.port, Kind: KindVhostUser, Network: nw, Trunk: nw == "", RxQueues: uint16(q)}
	if staticMAC {
		spec.MAC = p.mac
	}
	if err := e.AddPort(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	peers, err := dpdk.Probe(fmt.Sprintf("net_virtio_user%d,path=%s,queues=%d,queue_size=256,mac=%s", 100+n, sock, q, p.mac))
	if err != nil {
		t.Fatal(err)
	}
	p.peer = peers[0]
	if err := p.peer.Configure(uint16(q), uint16(q), dpdk.PortConf{}); err != nil {
		t.Fatal(err)
	}
	for i := range uint16(q) {
		if err := p.peer.RxQueueSetup(i, 256, dpdk.SocketAny, testPool); err != nil {
			t.Fatal(err)
		}
		if err := p.peer.TxQueueSetup(i, 256, dpdk.SocketAny); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return p
}

func (p *pod) detach(t testing.TB, e *Engine) {
	if !p.port.Valid() {
		return
	}
	if err := e.RemovePort(context.Background(), p.name); err != nil {
		t.Errorf("remove %s: %v", p.name, err)
	}
	if err := p.peer.Remove(); err != nil {
		t.Errorf("remove peer of %s: %v", p.name, err)
	}
	if err := p.port.Remove(); err != nil {
		t.Errorf("remove port of %s: %v", p.name, err)
	}
}

// frame builds an Ethernet/IPv4/UDP frame whose payload carries seq.
func frame(t testing.TB, src, dst net.HardwareAddr, seq uint32, size int) []byte {
	t.Helper()
	payload := make([]byte, max(size-42, 8))
	binary.BigEndian.PutUint32(payload, seq)
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4(10, 9, 0, 1), DstIP: net.IPv4(10, 9, 0, 2)}
	udp := &layers.UDP{SrcPort: 4000, DstPort: 5000}
	_ = udp.SetNetworkLayerForChecksum(ip)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tagged builds the frame of frame() with an 802.1Q tag.
func tagged(t testing.TB, src, dst net.HardwareAddr, vid uint16, seq uint32, size int) []byte {
	t.Helper()
	f := frame(t, src, dst, seq, size)
	out := make([]byte, 0, len(f)+4)
	out = append(out, f[:12]...)
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, f[12:]...)
}

// rxFrame is a frame a pod received, decoded with gopacket.
type rxFrame struct {
	src, dst net.HardwareAddr
	seq      uint32
	vlan     int // -1: untagged
}

// send transmits frames from the pod, all of them or the test fails.
func (p *pod) send(t testing.TB, frames ...[]byte) {
	t.Helper()
	p.sendQ(t, 0, frames...)
}

// sendQ transmits frames on tx queue q of the pod.
func (p *pod) sendQ(t testing.TB, q uint16, frames ...[]byte) {
	t.Helper()
	pkts := make([]*dpdk.Mbuf, len(frames))
	if err := testPool.AllocBulk(pkts); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		copy(pkts[i].Append(len(f)), f)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(pkts) > 0 {
		n := p.peer.TxBurst(q, pkts)
		pkts = pkts[n:]
		if time.Now().After(deadline) {
			dpdk.FreeBulk(pkts)
			t.Fatalf("pod %s: %d frames not sent", p.name, len(pkts))
		}
	}
}

// recv collects what the pod receives for the given time (or until want
// frames arrived, if want > 0), decoding each with gopacket.
func (p *pod) recv(t testing.TB, want int, wait time.Duration) []rxFrame {
	t.Helper()
	var out []rxFrame
	pkts := make([]*dpdk.Mbuf, 32)
	deadline := time.Now().Add(wait)
	nq := uint16(1)
	if info, err := p.peer.Info(); err == nil {
		nq = max(min(info.MaxRxQueues, 8), 1)
	}
	for i := 0; time.Now().Before(deadline) && (want <= 0 || len(out) < want); i++ {
		n := p.peer.RxBurst(uint16(i)%nq, pkts)
		for _, m := range pkts[:n] {
			pk := gopacket.NewPacket(m.Data(), layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if eth == nil || udp == nil || len(udp.Payload) < 4 {
				t.Errorf("pod %s: undecodable frame % x", p.name, m.Data())
				continue
			}
			f := rxFrame{src: eth.SrcMAC, dst: eth.DstMAC, seq: binary.BigEndian.Uint32(udp.Payload), vlan: -1}
			if q, ok := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
				f.vlan = int(q.VLANIdentifier)
			}
			out = append(out, f)
		}
		dpdk.FreeBulk(pkts[:n])
		if n == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return out
}
