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
