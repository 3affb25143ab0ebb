package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"
)

// Mbuf is a DPDK packet buffer (struct rte_mbuf). Its memory belongs to its
// mempool. Ownership moves with the pointer: RxBurst gives mbufs to the
// caller, TxBurst takes the ones it accepted, Free and FreeBulk return them.
// The accessors below read and write the struct directly from Go at offsets
// taken from the C headers at build time; none of them crosses cgo.
type Mbuf C.struct_rte_mbuf

// Offsets of the struct rte_mbuf fields that Go reads directly.
const (
	offBufAddr    = C.PW_MBUF_OFF_BUF_ADDR
	offDataOff    = C.PW_MBUF_OFF_DATA_OFF
	offRefcnt     = C.PW_MBUF_OFF_REFCNT
	offNbSegs     = C.PW_MBUF_OFF_NB_SEGS
	offPort       = C.PW_MBUF_OFF_PORT
	offOlFlags    = C.PW_MBUF_OFF_OL_FLAGS
	offPacketType = C.PW_MBUF_OFF_PACKET_TYPE
	offPktLen     = C.PW_MBUF_OFF_PKT_LEN
	offDataLen    = C.PW_MBUF_OFF_DATA_LEN
	offVlanTCI    = C.PW_MBUF_OFF_VLAN_TCI
	offHash       = C.PW_MBUF_OFF_HASH
	offBufLen     = C.PW_MBUF_OFF_BUF_LEN
	offPool       = C.PW_MBUF_OFF_POOL
	offNext       = C.PW_MBUF_OFF_NEXT
)

// Offload flags of an mbuf (ol_flags), RTE_MBUF_F_*.
const (
	MbufRxRSSHash     uint64 = 1 << 1
	MbufRxVLAN        uint64 = 1 << 0
	MbufRxVLANStrip   uint64 = 1 << 6
	MbufRxIPCksumBad  uint64 = 1 << 4
	MbufRxIPCksumGood uint64 = 1 << 7
	MbufRxL4CksumBad  uint64 = 1 << 3
	MbufRxL4CksumGood uint64 = 1 << 8
	MbufTxVLAN        uint64 = 1 << 57
	MbufTxIPv4        uint64 = 1 << 55
	MbufTxIPv6        uint64 = 1 << 56
	MbufTxIPCksum     uint64 = 1 << 54
	MbufTxTCPCksum    uint64 = 1 << 52
	MbufTxUDPCksum    uint64 = 3 << 52
)

func init() {
	// The constants above are written out so that they are Go constants;
	// check them against the headers this package was built with.
	for _, c := range []struct {
		got  uint64
		want C.uint64_t
	}{
		{MbufRxRSSHash, C.pw_mbuf_f_rx_rss_hash},
		{MbufRxVLAN, C.pw_mbuf_f_rx_vlan},
		{MbufRxVLANStrip, C.pw_mbuf_f_rx_vlan_stripped},
		{MbufRxIPCksumBad, C.pw_mbuf_f_rx_ip_cksum_bad},
		{MbufRxIPCksumGood, C.pw_mbuf_f_rx_ip_cksum_good},
		{MbufRxL4CksumBad, C.pw_mbuf_f_rx_l4_cksum_bad},
		{MbufRxL4CksumGood, C.pw_mbuf_f_rx_l4_cksum_good},
		{MbufTxVLAN, C.pw_mbuf_f_tx_vlan},
		{MbufTxIPv4, C.pw_mbuf_f_tx_ipv4},
		{MbufTxIPv6, C.pw_mbuf_f_tx_ipv6},
		{MbufTxIPCksum, C.pw_mbuf_f_tx_ip_cksum},
		{MbufTxTCPCksum, C.pw_mbuf_f_tx_tcp_cksum},
		{MbufTxUDPCksum, C.pw_mbuf_f_tx_udp_cksum},
		{RxOffloadRSSHash, C.pw_rx_offload_rss_hash},
		{RxOffloadScatter, C.pw_rx_offload_scatter},
		{RxOffloadVLANStrip, C.pw_rx_offload_vlan_strip},
		{RxOffloadChecksum, C.pw_rx_offload_checksum},
		{TxOffloadMbufFastFree, C.pw_tx_offload_mbuf_fast_free},
		{TxOffloadMultiSegs, C.pw_tx_offload_multi_segs},
		{TxOffloadVLANInsert, C.pw_tx_offload_vlan_insert},
		{TxOffloadIPv4Cksum, C.pw_tx_offload_ipv4_cksum},
	} {
		if c.got != uint64(c.want) {
			panic("dpdk: flag constant does not match the DPDK headers")
		}
	}
	if unsafe.Sizeof(Mbuf{}) != C.PW_MBUF_SIZE {
		panic("dpdk: Mbuf size does not match struct rte_mbuf")
	}
}

func (m *Mbuf) ptr(off uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(m), off) }
func (m *Mbuf) u16(off uintptr) *uint16        { return (*uint16)(m.ptr(off)) }
func (m *Mbuf) u32(off uintptr) *uint32        { return (*uint32)(m.ptr(off)) }

func (m *Mbuf) bufAddr() unsafe.Pointer { return *(*unsafe.Pointer)(m.ptr(offBufAddr)) }

// Data returns the first segment's data as a slice over the mbuf's own
// memory: no copy. It is valid until the mbuf is freed or sent. For a
// chained mbuf (NumSegs > 1) it holds only the first segment: check
// IsChained, or use CopyTo or Linearize.
func (m *Mbuf) Data() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(m.bufAddr(), *m.u16(offDataOff))), *m.u16(offDataLen))
}

// DataLen is the first segment's data length (data_len).
func (m *Mbuf) DataLen() int { return int(*m.u16(offDataLen)) }

// PktLen is the whole packet's length over all segments (pkt_len).
func (m *Mbuf) PktLen() int { return int(*m.u32(offPktLen)) }

// Headroom is the free space before the data (rte_pktmbuf_headroom).
func (m *Mbuf) Headroom() int { return int(*m.u16(offDataOff)) }

// Tailroom is the free space after the data of this segment
// (rte_pktmbuf_tailroom).
func (m *Mbuf) Tailroom() int {
	return int(*m.u16(offBufLen)) - int(*m.u16(offDataOff)) - int(*m.u16(offDataLen))
}

// BufLen is the size of the segment's buffer (buf_len).
func (m *Mbuf) BufLen() int { return int(*m.u16(offBufLen)) }

// NumSegs is the number of segments in the chain (nb_segs).
func (m *Mbuf) NumSegs() int { return int(*m.u16(offNbSegs)) }

// IsChained reports whether the packet spans more than one segment.
func (m *Mbuf) IsChained() bool { return *m.u16(offNbSegs) > 1 }

// Next returns the next segment, or nil.
func (m *Mbuf) Next() *Mbuf { return *(**Mbuf)(m.ptr(offNext)) }

// Port is the input port (port).
func (m *Mbuf) Port() uint16 { return *m.u16(offPort) }

// SetPort sets the port field.
func (m *Mbuf) SetPort(p uint16) { *m.u16(offPort) = p }

// RefCnt is the reference count (refcnt).
func (m *Mbuf) RefCnt() int { return int(*m.u16(offRefcnt)) }

// SetRefCnt sets the reference count. Only the sole owner of an mbuf with
// reference count 1 may call it, before handing the mbuf to n consumers
// (e.g. n tx queues when flooding) that each free it once.
func (m *Mbuf) SetRefCnt(n uint16) { *m.u16(offRefcnt) = n }

// OLFlags returns the offload flags (ol_flags), Mbuf* constants.
func (m *Mbuf) OLFlags() uint64 { return *(*uint64)(m.ptr(offOlFlags)) }

// SetOLFlags replaces the offload flags.
func (m *Mbuf) SetOLFlags(f uint64) { *(*uint64)(m.ptr(offOlFlags)) = f }

// PacketType is the packet type the PMD classified (packet_type, RTE_PTYPE_*).
func (m *Mbuf) PacketType() uint32 { return *m.u32(offPacketType) }

// VLANTCI is the stripped VLAN tag when MbufRxVLANStrip is set (vlan_tci).
func (m *Mbuf) VLANTCI() uint16 { return *m.u16(offVlanTCI) }

// SetVLANTCI sets the tag to insert on transmit with MbufTxVLAN.
func (m *Mbuf) SetVLANTCI(tci uint16) { *m.u16(offVlanTCI) = tci }

// RSSHash returns the NIC's RSS hash (hash.rss) and whether the PMD set it
// (MbufRxRSSHash). vhost-user, memif and null ports supply none.
func (m *Mbuf) RSSHash() (uint32, bool) {
	return *m.u32(offHash), m.OLFlags()&MbufRxRSSHash != 0
}

// SetRSSHash stores a hash (e.g. computed in software) and sets MbufRxRSSHash.
func (m *Mbuf) SetRSSHash(h uint32) {
	*m.u32(offHash) = h
	m.SetOLFlags(m.OLFlags() | MbufRxRSSHash)
}

// Pool returns the mempool the mbuf came from.
func (m *Mbuf) Pool() *Mempool { return *(**Mempool)(m.ptr(offPool)) }

// SetLen sets the data length of a single-segment mbuf (data_len and
// pkt_len) and returns its data. It returns nil, changing nothing, if the
// mbuf is chained or n exceeds the room after the headroom.
func (m *Mbuf) SetLen(n int) []byte {
	if m.IsChained() || n < 0 || n > m.BufLen()-m.Headroom() {
		return nil
	}
	*m.u16(offDataLen) = uint16(n)
	*m.u32(offPktLen) = uint32(n)
	return m.Data()
}

// Append grows a single-segment mbuf's data by n bytes at the tail
// (rte_pktmbuf_append) and returns the new bytes, or nil if there is no
// room or the mbuf is chained.
func (m *Mbuf) Append(n int) []byte {
	if m.IsChained() || n < 0 || n > m.Tailroom() {
		return nil
	}
	old := m.DataLen()
	*m.u16(offDataLen) += uint16(n)
	*m.u32(offPktLen) += uint32(n)
	return m.Data()[old:]
}

// Prepend grows the data by n bytes at the head (rte_pktmbuf_prepend) and
// returns the new first n bytes, or nil if the headroom is too small.
func (m *Mbuf) Prepend(n int) []byte {
	if n < 0 || n > m.Headroom() {
		return nil
	}
	*m.u16(offDataOff) -= uint16(n)
	*m.u16(offDataLen) += uint16(n)
	*m.u32(offPktLen) += uint32(n)
	return m.Data()[:n]
}

// Adj removes n bytes from the head (rte_pktmbuf_adj); false if the first
// segment holds fewer than n bytes.
func (m *Mbuf) Adj(n int) bool {
	if n < 0 || n > m.DataLen() {
		return false
	}
	*m.u16(offDataOff) += uint16(n)
	*m.u16(offDataLen) -= uint16(n)
	*m.u32(offPktLen) -= uint32(n)
	return true
}

// CopyTo copies the whole packet, every segment, into dst and returns the
// number of bytes copied (at most len(dst)).
func (m *Mbuf) CopyTo(dst []byte) int {
	n := 0
	for s := m; s != nil && n < len(dst); s = s.Next() {
		n += copy(dst[n:], s.Data())
	}
	return n
}

// Linearize gathers a chained packet into its first segment
// (rte_pktmbuf_linearize); it fails if the first buffer is too small.
func (m *Mbuf) Linearize() error {
	if !m.IsChained() {
		return nil
	}
	if rc := C.pw_pktmbuf_linearize((*C.struct_rte_mbuf)(m)); rc != 0 {
		return newError("rte_pktmbuf_linearize", int(C.ENOSPC))
	}
	return nil
}

// Chain appends tail's segments to m (rte_pktmbuf_chain); m then owns tail.
func (m *Mbuf) Chain(tail *Mbuf) error {
	if rc := C.pw_pktmbuf_chain((*C.struct_rte_mbuf)(m), (*C.struct_rte_mbuf)(tail)); rc != 0 {
		return rcError("rte_pktmbuf_chain", rc)
	}
	return nil
}

// Free returns the mbuf and every segment chained to it to their pools
// (rte_pktmbuf_free). One cgo call: use FreeBulk for bursts.
func (m *Mbuf) Free() { C.pw_pktmbuf_free((*C.struct_rte_mbuf)(m)) }

// FreeBulk frees every mbuf in pkts, chained segments included
// (rte_pktmbuf_free_bulk). nil entries are skipped.
func FreeBulk(pkts []*Mbuf) {
	if len(pkts) == 0 {
		return
	}
	C.rte_pktmbuf_free_bulk((**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint(len(pkts)))
}
