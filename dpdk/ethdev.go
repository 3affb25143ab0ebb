package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"net"
	"unsafe"
)

// Port is an ethdev port id. Every vdev, PCI NIC, vhost-user or memif
// interface is a Port once probed. The process that probes a device owns its
// ports until Remove.
type Port uint16

// Rx and Tx offload flags for PortConf (RTE_ETH_RX_OFFLOAD_*, RTE_ETH_TX_OFFLOAD_*).
const (
	RxOffloadVLANStrip    uint64 = 1 << 0
	RxOffloadChecksum     uint64 = 0xe // IPv4, UDP and TCP checksums
	RxOffloadScatter      uint64 = 1 << 13
	RxOffloadRSSHash      uint64 = 1 << 19
	TxOffloadVLANInsert   uint64 = 1 << 0
	TxOffloadIPv4Cksum    uint64 = 1 << 1
	TxOffloadMultiSegs    uint64 = 1 << 15
	TxOffloadMbufFastFree uint64 = 1 << 16
)

// MaxPorts is the number of port ids the EAL has (RTE_MAX_ETHPORTS).
const MaxPorts = C.RTE_MAX_ETHPORTS

// PortByName returns the port of an ethdev name (rte_eth_dev_get_port_by_name).
func PortByName(name string) (Port, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var id C.uint16_t
	if rc := C.rte_eth_dev_get_port_by_name(cname, &id); rc != 0 {
		return 0, rcError("rte_eth_dev_get_port_by_name "+name, rc)
	}
	return Port(id), nil
}

// Ports lists the valid, unowned ports (RTE_ETH_FOREACH_DEV).
func Ports() []Port {
	var ps []Port
	for p := C.pw_next_port(-1); p >= 0; p = C.pw_next_port(p) {
		ps = append(ps, Port(p))
	}
	return ps
}

// Valid reports whether the port exists (rte_eth_dev_is_valid_port).
func (p Port) Valid() bool { return C.rte_eth_dev_is_valid_port(C.uint16_t(p)) == 1 }

// Name returns the port's ethdev name (rte_eth_dev_get_name_by_port).
func (p Port) Name() (string, error) {
	var buf [C.RTE_ETH_NAME_MAX_LEN]C.char
	if rc := C.rte_eth_dev_get_name_by_port(C.uint16_t(p), &buf[0]); rc != 0 {
		return "", rcError(fmt.Sprintf("rte_eth_dev_get_name_by_port %d", p), rc)
	}
	return C.GoString(&buf[0]), nil
}

// DeviceName returns the name of the device behind the port
// (rte_eth_dev_info_get, rte_dev_name): the vdev name or PCI address.
func (p Port) DeviceName() (string, error) {
	var buf [128]C.char
	if rc := C.pw_port_device_name(C.uint16_t(p), &buf[0], C.size_t(len(buf))); rc != 0 {
		return "", rcError(fmt.Sprintf("device of port %d", p), rc)
	}
	return C.GoString(&buf[0]), nil
}

// DevInfo is what rte_eth_dev_info_get reports that podwire uses.
type DevInfo struct {
	Driver              string
	MaxRxQueues         uint16
	MaxTxQueues         uint16
	MinMTU, MaxMTU      uint16
	RxOffloadCapa       uint64
	TxOffloadCapa       uint64
	FlowTypeRSSOffloads uint64 // zero: no RSS
	RxDescMax           uint16
	TxDescMax           uint16
}

// Info returns the device's capabilities (rte_eth_dev_info_get).
func (p Port) Info() (DevInfo, error) {
	var ci C.struct_rte_eth_dev_info
	if rc := C.rte_eth_dev_info_get(C.uint16_t(p), &ci); rc != 0 {
		return DevInfo{}, rcError(fmt.Sprintf("rte_eth_dev_info_get %d", p), rc)
	}
	return DevInfo{
		Driver:              C.GoString(ci.driver_name),
		MaxRxQueues:         uint16(ci.max_rx_queues),
		MaxTxQueues:         uint16(ci.max_tx_queues),
		MinMTU:              uint16(ci.min_mtu),
		MaxMTU:              uint16(ci.max_mtu),
		RxOffloadCapa:       uint64(ci.rx_offload_capa),
		TxOffloadCapa:       uint64(ci.tx_offload_capa),
		FlowTypeRSSOffloads: uint64(ci.flow_type_rss_offloads),
		RxDescMax:           uint16(ci.rx_desc_lim.nb_max),
		TxDescMax:           uint16(ci.tx_desc_lim.nb_max),
	}, nil
}

// PortConf is the device configuration for Configure.
type PortConf struct {
	// RSS spreads received packets over the rx queues by IP/TCP/UDP hash
	// when there is more than one rx queue and the device supports it.
	RSS bool
	// MTU, or 0 for the device default.
	MTU uint16
	// RxOffloads and TxOffloads must be within the device's capabilities
	// (DevInfo), or Configure fails with ENOTSUP.
	RxOffloads, TxOffloads uint64
}

// Configure sets the number of queues and the device configuration
// (rte_eth_dev_configure). The port must be stopped.
func (p Port) Configure(rxQueues, txQueues uint16, conf PortConf) error {
	rss := C.int(0)
	if conf.RSS {
		rss = 1
	}
	rc := C.pw_eth_configure(C.uint16_t(p), C.uint16_t(rxQueues), C.uint16_t(txQueues), rss,
		C.uint16_t(conf.MTU), C.uint64_t(conf.RxOffloads), C.uint64_t(conf.TxOffloads))
	return rcError(fmt.Sprintf("rte_eth_dev_configure port %d (%d rx, %d tx queues)", p, rxQueues, txQueues), rc)
}

// RxQueueSetup sets up rx queue q with nbDesc descriptors, taking mbufs
// from mp (rte_eth_rx_queue_setup). nbDesc 0 is the driver's default.
func (p Port) RxQueueSetup(q, nbDesc uint16, socket int, mp *Mempool) error {
	rc := C.rte_eth_rx_queue_setup(C.uint16_t(p), C.uint16_t(q), C.uint16_t(nbDesc), C.uint(socketOf(p, socket)), nil, mp.c())
	return rcError(fmt.Sprintf("rte_eth_rx_queue_setup port %d queue %d", p, q), rc)
}

// TxQueueSetup sets up tx queue q (rte_eth_tx_queue_setup).
func (p Port) TxQueueSetup(q, nbDesc uint16, socket int) error {
	rc := C.rte_eth_tx_queue_setup(C.uint16_t(p), C.uint16_t(q), C.uint16_t(nbDesc), C.uint(socketOf(p, socket)), nil)
	return rcError(fmt.Sprintf("rte_eth_tx_queue_setup port %d queue %d", p, q), rc)
}

func socketOf(p Port, socket int) int {
	if socket != SocketAny {
		return socket
	}
	if s := p.SocketID(); s >= 0 {
		return s
	}
	return 0
}

// SocketID is the NUMA socket of the device (rte_eth_dev_socket_id), or -1.
func (p Port) SocketID() int { return int(C.rte_eth_dev_socket_id(C.uint16_t(p))) }

// Start starts the port (rte_eth_dev_start).
func (p Port) Start() error {
	return rcError(fmt.Sprintf("rte_eth_dev_start port %d", p), C.rte_eth_dev_start(C.uint16_t(p)))
}

// Stop stops the port (rte_eth_dev_stop). No lcore may be polling it.
func (p Port) Stop() error {
	return rcError(fmt.Sprintf("rte_eth_dev_stop port %d", p), C.rte_eth_dev_stop(C.uint16_t(p)))
}

// Close closes a stopped port and releases it (rte_eth_dev_close); the
// port id is invalid afterwards. The device stays probed: see Remove.
func (p Port) Close() error {
	return rcError(fmt.Sprintf("rte_eth_dev_close port %d", p), C.rte_eth_dev_close(C.uint16_t(p)))
}

// Link is a port's link state.
type Link struct {
	Up         bool
	SpeedMbps  uint32
	FullDuplex bool
	Autoneg    bool
}

func (l Link) String() string {
	if !l.Up {
		return "down"
	}
	d := "half-duplex"
	if l.FullDuplex {
		d = "full-duplex"
	}
	return fmt.Sprintf("up %d Mbps %s", l.SpeedMbps, d)
}

// Link returns the link state without waiting (rte_eth_link_get_nowait).
func (p Port) Link() (Link, error) {
	var l C.struct_rte_eth_link
	if rc := C.rte_eth_link_get_nowait(C.uint16_t(p), &l); rc != 0 {
		return Link{}, rcError(fmt.Sprintf("rte_eth_link_get_nowait port %d", p), rc)
	}
	// link_duplex, link_autoneg and link_status are bit fields after the
	// 32-bit speed; read them through the struct's bytes.
	b := (*[8]byte)(unsafe.Pointer(&l))
	bits := b[4]
	return Link{
		SpeedMbps:  uint32(l.link_speed),
		FullDuplex: bits&1 != 0,
		Autoneg:    bits&2 != 0,
		Up:         bits&4 != 0,
	}, nil
}

// MAC returns the port's default MAC address (rte_eth_macaddr_get).
func (p Port) MAC() (net.HardwareAddr, error) {
	var a C.struct_rte_ether_addr
	if rc := C.rte_eth_macaddr_get(C.uint16_t(p), &a); rc != 0 {
		return nil, rcError(fmt.Sprintf("rte_eth_macaddr_get port %d", p), rc)
	}
	return net.HardwareAddr(C.GoBytes(unsafe.Pointer(&a.addr_bytes[0]), 6)), nil
}

// SetMAC sets the port's default MAC address (rte_eth_dev_default_mac_addr_set).
func (p Port) SetMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("set mac of port %d: %q is not a 6-byte MAC", p, mac.String())
	}
	var a C.struct_rte_ether_addr
	for i := range 6 {
		a.addr_bytes[i] = C.uint8_t(mac[i])
	}
	return rcError(fmt.Sprintf("rte_eth_dev_default_mac_addr_set port %d", p), C.rte_eth_dev_default_mac_addr_set(C.uint16_t(p), &a))
}

// SetPromiscuous turns promiscuous mode on or off
// (rte_eth_promiscuous_enable, rte_eth_promiscuous_disable).
func (p Port) SetPromiscuous(on bool) error {
	if on {
		return rcError(fmt.Sprintf("rte_eth_promiscuous_enable port %d", p), C.rte_eth_promiscuous_enable(C.uint16_t(p)))
	}
	return rcError(fmt.Sprintf("rte_eth_promiscuous_disable port %d", p), C.rte_eth_promiscuous_disable(C.uint16_t(p)))
}

// Promiscuous reports promiscuous mode (rte_eth_promiscuous_get).
func (p Port) Promiscuous() (bool, error) {
	rc := C.rte_eth_promiscuous_get(C.uint16_t(p))
	if rc < 0 {
		return false, rcError(fmt.Sprintf("rte_eth_promiscuous_get port %d", p), rc)
	}
	return rc == 1, nil
}

// Stats are a port's basic counters (struct rte_eth_stats).
type Stats struct {
	IPackets, OPackets uint64
	IBytes, OBytes     uint64
	IMissed            uint64 // dropped by the hardware: rx queues full
	IErrors, OErrors   uint64
	RxNoMbuf           uint64 // rx_nombuf
}

// Stats reads the port's counters (rte_eth_stats_get).
func (p Port) Stats() (Stats, error) {
	var s C.struct_rte_eth_stats
	if rc := C.rte_eth_stats_get(C.uint16_t(p), &s); rc != 0 {
		return Stats{}, rcError(fmt.Sprintf("rte_eth_stats_get port %d", p), rc)
	}
	return Stats{
		IPackets: uint64(s.ipackets), OPackets: uint64(s.opackets),
		IBytes: uint64(s.ibytes), OBytes: uint64(s.obytes),
		IMissed: uint64(s.imissed), IErrors: uint64(s.ierrors), OErrors: uint64(s.oerrors),
		RxNoMbuf: uint64(s.rx_nombuf),
	}, nil
}

// ResetStats clears the port's counters (rte_eth_stats_reset).
func (p Port) ResetStats() error {
	return rcError(fmt.Sprintf("rte_eth_stats_reset port %d", p), C.rte_eth_stats_reset(C.uint16_t(p)))
}

// XStat is one extended statistic.
type XStat struct {
	Name  string
	Value uint64
}

// XStats reads the port's extended statistics (rte_eth_xstats_get_names,
// rte_eth_xstats_get).
func (p Port) XStats() ([]XStat, error) {
	n := C.rte_eth_xstats_get_names(C.uint16_t(p), nil, 0)
	if n < 0 {
		return nil, rcError(fmt.Sprintf("rte_eth_xstats_get_names port %d", p), n)
	}
	if n == 0 {
		return nil, nil
	}
	names := make([]C.struct_rte_eth_xstat_name, n)
	vals := make([]C.struct_rte_eth_xstat, n)
	if rc := C.rte_eth_xstats_get_names(C.uint16_t(p), &names[0], C.uint(n)); rc != n {
		return nil, fmt.Errorf("rte_eth_xstats_get_names port %d: count changed (%d, then %d)", p, n, rc)
	}
	if rc := C.rte_eth_xstats_get(C.uint16_t(p), &vals[0], C.uint(n)); rc != n {
		if rc < 0 {
			return nil, rcError(fmt.Sprintf("rte_eth_xstats_get port %d", p), rc)
		}
		return nil, fmt.Errorf("rte_eth_xstats_get port %d: count changed (%d, then %d)", p, n, rc)
	}
	out := make([]XStat, n)
	for i := range out {
		out[i] = XStat{Name: C.GoString(&names[vals[i].id].name[0]), Value: uint64(vals[i].value)}
	}
	return out, nil
}

// RxBurst receives up to len(pkts) packets from queue q into pkts
// (rte_eth_rx_burst) and returns how many. The caller owns them. One cgo
// call per burst; pkts should be reused, and for the least overhead live in
// C memory (see NewMbufArray). Only one lcore may poll a queue.
func (p Port) RxBurst(q uint16, pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.pw_rx_burst(C.uint16_t(p), C.uint16_t(q), (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint16_t(len(pkts))))
}

// RxBurstIfUp is RxBurst, but reads the link state first
// (rte_eth_link_get_nowait, rte_eth_rx_burst) in the same C call and
// returns 0 without polling when the link is down. For PMDs whose rx path
// must not run once the peer is gone (memif in DPDK 22.11); it narrows
// that window to the race inside the PMD itself.
func (p Port) RxBurstIfUp(q uint16, pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.pw_rx_burst_if_up(C.uint16_t(p), C.uint16_t(q), (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint16_t(len(pkts))))
}

// TxBurst queues pkts for sending on queue q (rte_eth_tx_burst) and
// returns how many the port took; those belong to the port now. The caller
// still owns pkts[n:] and must send them again or free them.
func (p Port) TxBurst(q uint16, pkts []*Mbuf) int {
	if len(pkts) == 0 {
		return 0
	}
	return int(C.pw_tx_burst(C.uint16_t(p), C.uint16_t(q), (**C.struct_rte_mbuf)(unsafe.Pointer(&pkts[0])), C.uint16_t(len(pkts))))
}

// MbufArray is an array of mbuf pointers in C memory, for bursts: cgo does
// not scan it, so bursts through it cost the least. Free it with Free.
type MbufArray struct {
	ptr  unsafe.Pointer
	Pkts []*Mbuf
}

// NewMbufArray allocates room for n mbuf pointers in C memory (calloc).
func NewMbufArray(n int) *MbufArray {
	if n <= 0 {
		n = 1
	}
	ptr := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*Mbuf)(nil))))
	return &MbufArray{ptr: ptr, Pkts: unsafe.Slice((**Mbuf)(ptr), n)}
}

// Free releases the array (not the mbufs it points to).
func (a *MbufArray) Free() {
	if a.ptr != nil {
		C.free(a.ptr)
		a.ptr, a.Pkts = nil, nil
	}
}
