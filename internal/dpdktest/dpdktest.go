// Package dpdktest is the shared harness of tests that run a real EAL in
// the test process (packages dpdk, vhostuser, forwarder): start-up that
// skips on a developer's machine without hugepages but fails under CI=true,
// the end-of-run checks that every mbuf came back, and the numbered test
// frames those tests send.
package dpdktest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/podwire/podwire/dpdk"
)

// InCI reports whether a missing prerequisite must fail instead of skip.
func InCI() bool { v, _ := strconv.ParseBool(os.Getenv("CI")); return v }

// Main runs a test binary's tests on a real EAL: it initializes the EAL
// with o and a mempool named pool, runs m, checks that no mbuf is still in
// use (and, with noPortsLeft, that no port is left), releases everything
// and exits. Without a working EAL it exits 0 with a SKIP line, or 1 under
// CI=true. setPool receives the pool before the tests run.
func Main(m *testing.M, pkg string, o dpdk.Options, pool string, pc dpdk.MbufPoolConfig, noPortsLeft bool, setPool func(*dpdk.Mempool)) {
	if err := dpdk.InitOptions(o); err != nil {
		msg := fmt.Sprintf("%s tests need a working EAL (hugepages: run scripts/setup-node.sh): %v", pkg, err)
		if InCI() {
			fmt.Fprintln(os.Stderr, "FAIL:", msg)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		os.Exit(0)
	}
	mp, err := dpdk.NewMbufPool(pool, pc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	setPool(mp)
	code := m.Run()
	if n := mp.InUse(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d mbufs still in use after all tests\n", n)
		code = 1
	}
	if ps := dpdk.Ports(); noPortsLeft && len(ps) != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: ports left after all tests: %v\n", ps)
		code = 1
	}
	for _, p := range dpdk.Ports() {
		_ = p.Stop()
		_ = p.Remove()
	}
	mp.Free()
	if err := dpdk.Cleanup(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "FAIL: cleanup:", err)
		code = 1
	}
	os.Exit(code)
}

// NeedPrereq skips (or, under CI=true, fails) when a prerequisite is missing.
func NeedPrereq(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("missing prerequisite under CI: %s", what)
	}
	t.Skip("missing prerequisite: " + what)
}

// EtherType is the test frames' ethertype (local experimental), so that
// nothing else on a link is mistaken for them.
const EtherType = 0x88b5

// Test frame addresses.
var (
	SrcMAC = []byte{0x02, 0, 0, 0, 0, 0x01}
	DstMAC = []byte{0x02, 0, 0, 0, 0, 0x02}
)

// FillFrame writes test frame seq into b: Ethernet, EtherType, the
// sequence number, and a payload derived from it.
func FillFrame(b []byte, seq uint32) {
	copy(b[0:6], DstMAC)
	copy(b[6:12], SrcMAC)
	binary.BigEndian.PutUint16(b[12:14], EtherType)
	binary.BigEndian.PutUint32(b[14:18], seq)
	for i := 18; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
}

// FrameSeq returns the sequence number of an intact test frame, or false.
func FrameSeq(b []byte) (uint32, bool) {
	if len(b) < 18 || binary.BigEndian.Uint16(b[12:14]) != EtherType {
		return 0, false
	}
	seq := binary.BigEndian.Uint32(b[14:18])
	want := make([]byte, len(b))
	FillFrame(want, seq)
	return seq, bytes.Equal(b, want)
}

// MakeFrames allocates n test frames of size bytes from mp, numbered from
// seq0. The caller owns them.
func MakeFrames(t testing.TB, mp *dpdk.Mempool, n, size int, seq0 uint32) []*dpdk.Mbuf {
	t.Helper()
	pkts := make([]*dpdk.Mbuf, n)
	if err := mp.AllocBulk(pkts); err != nil {
		t.Fatal(err)
	}
	for i, m := range pkts {
		FillFrame(m.Append(size), seq0+uint32(i))
	}
	return pkts
}

// SendAll transmits pkts on queue 0 of p, retrying until the port took
// all of them; after 5 s it frees the rest and fails the test.
func SendAll(t testing.TB, p dpdk.Port, pkts []*dpdk.Mbuf) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(pkts) > 0 {
		n := p.TxBurst(0, pkts)
		pkts = pkts[n:]
		if time.Now().After(deadline) {
			dpdk.FreeBulk(pkts)
			t.Fatalf("tx on port %d: %d packets not taken in 5s", p, len(pkts))
		}
	}
}

// Collect polls queue 0 of p until want intact test frames arrived or
// timeout, frees everything it receives and returns the frames' sequence
// numbers in arrival order (fewer than want on timeout).
func Collect(p dpdk.Port, want int, timeout time.Duration) []uint32 {
	var seqs []uint32
	pkts := make([]*dpdk.Mbuf, 32)
	deadline := time.Now().Add(timeout)
	for len(seqs) < want && time.Now().Before(deadline) {
		n := p.RxBurst(0, pkts)
		for _, m := range pkts[:n] {
			if seq, ok := FrameSeq(m.Data()); ok {
				seqs = append(seqs, seq)
			}
		}
		dpdk.FreeBulk(pkts[:n])
		if n == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	return seqs
}

// CheckSeqs fails the test unless seqs is exactly seq0, seq0+1, ...
// seq0+n-1: nothing lost, duplicated or reordered.
func CheckSeqs(t testing.TB, seqs []uint32, seq0 uint32, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("got %d frames, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != seq0+uint32(i) {
			t.Fatalf("frame %d: seq %d, want %d (lost, duplicated or reordered)", i, s, seq0+uint32(i))
		}
	}
}
