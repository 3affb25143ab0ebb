package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// benchEtherType marks the measurement's frames (IEEE local experimental).
const benchEtherType = 0x88b5

// frameLen is a minimum Ethernet frame without FCS ("64-byte" frames).
const frameLen = 60

// makeFrame returns a frame from src to dst with benchEtherType.
func makeFrame(dst, src net.HardwareAddr) []byte {
	b := make([]byte, frameLen)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], benchEtherType)
	for i := 14; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// generator is the kernel-side traffic source in the pod: an AF_PACKET
// socket on the pod's interface that sends one frame over and over with
// sendmmsg, 64 frames a call. It binds protocol 0, so it receives nothing,
// and sets PACKET_QDISC_BYPASS, so it measures the port, not the qdisc.
type generator struct {
	fd   int
	msgs []unix.Mmsghdr
	iov  unix.Iovec
	sent atomic.Uint64 // frames the kernel took
	errs atomic.Uint64 // sendmmsg calls that failed (ENOBUFS, ...)
	stop atomic.Bool
}

const genBatch = 64

// newGenerator opens the socket on ifname; call it on a thread in the
// pod's netns. frame must stay alive while the generator runs.
func newGenerator(ifname string, frame []byte) (*generator, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("generator: packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("generator: bind %s: %w", ifname, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("generator: PACKET_QDISC_BYPASS: %w", err)
	}
	g := &generator{fd: fd, msgs: make([]unix.Mmsghdr, genBatch)}
	g.iov.Base = &frame[0]
	g.iov.SetLen(len(frame))
	for i := range g.msgs {
		g.msgs[i].Hdr.Iov = &g.iov
		g.msgs[i].Hdr.SetIovlen(1)
	}
	return g, nil
}

// Run sends until Stop. It runs on the generator's own pinned thread.
func (g *generator) Run() {
	for !g.stop.Load() {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(g.fd), uintptr(unsafe.Pointer(&g.msgs[0])), genBatch, 0, 0, 0)
		if e != 0 {
			g.errs.Add(1)
			if !errors.Is(e, unix.ENOBUFS) && !errors.Is(e, unix.EAGAIN) {
				return
			}
			continue
		}
		g.sent.Add(uint64(n))
	}
}

func (g *generator) Stop()  { g.stop.Store(true) }
func (g *generator) Close() { unix.Close(g.fd) }
