package dpdk_test

import (
	"encoding/binary"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podwire/podwire/dpdk"
	"github.com/podwire/podwire/internal/dpdktest"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestTap hot-plugs a net_tap port whose kernel interface lives in a
// network namespace made for this test, and passes frames both ways
// between DPDK and an AF_PACKET socket on the kernel side.
func TestTap(t *testing.T) {
	checkPool(t)
	_, err := os.Stat("/dev/net/tun")
	dpdktest.NeedPrereq(t, err == nil && os.Geteuid() == 0, "root and /dev/net/tun")

	name := uniqueName("net_tap")
	ifname := "pw" + name[len("net_"):]
	var (
		port dpdk.Port
		fd   int
		ifi  *net.Interface
	)
	// The tap PMD opens /dev/net/tun again for each queue, in the calling
	// thread's netns: probe and set the port up inside a new netns on this
	// thread, open the packet socket there, then return the thread.
	func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Fatalf("unshare netns: %v", err)
		}
		defer func() {
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				t.Fatalf("back to the original netns: %v", err) // thread stays locked and dies
			}
			runtime.UnlockOSThread()
		}()
		port = probe(t, name+",iface="+ifname)
		startPort(t, port)
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			t.Fatalf("tap interface in the test netns: %v", err)
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(dpdktest.EtherType))); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(dpdktest.EtherType), Ifindex: ifi.Index}); err != nil {
			t.Fatal(err)
		}
	}()
	if _, err := net.InterfaceByName(ifname); err == nil {
		t.Fatalf("tap %s appeared in the host netns", ifname)
	}
	waitLinkUp(t, 5*time.Second, port)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}); err != nil {
		t.Fatal(err)
	}

	// DPDK -> kernel.
	const n = 16
	dpdktest.SendAll(t, port, dpdktest.MakeFrames(t, testPool, n, 100, 0))
	buf := make([]byte, 2048)
	for i := range n {
		k, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("kernel side, frame %d: %v", i, err)
		}
		if seq, ok := dpdktest.FrameSeq(buf[:k]); !ok || seq != uint32(i) {
			t.Fatalf("kernel side, frame %d: bad frame (seq %d, valid %v)", i, seq, ok)
		}
	}
	// kernel -> DPDK.
	to := &unix.SockaddrLinklayer{Protocol: htons(dpdktest.EtherType), Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], dpdktest.DstMAC)
	frame := make([]byte, 100)
	for i := range n {
		dpdktest.FillFrame(frame, uint32(100+i))
		if binary.BigEndian.Uint16(frame[12:]) != dpdktest.EtherType {
			t.Fatal("frame")
		}
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("kernel send %d: %v", i, err)
		}
	}
	dpdktest.CheckSeqs(t, receiveFrames(t, port, n, 2*time.Second), 100, n)
}
