package forwarder

import "sync/atomic"

// Drop reasons: every packet podwired does not forward is counted under one.
type DropReason int

const (
	DropBadHeader      DropReason = iota // shorter than an Ethernet header, or a broken VLAN tag
	DropBadSrcMAC                        // multicast or zero source MAC
	DropSamePort                         // destination is the port it came in on
	DropNoNetwork                        // the port (or the VLAN on the uplink) is in no network
	DropTxFull                           // the output queue refused it
	DropNoMbuf                           // no mbuf for a copy (flooding to a tagged uplink)
	DropPortDown                         // the output port's link is down
	DropTaggedOnAccess                   // an 802.1Q/802.1ad-tagged frame on an access port
	DropSrcMACSpoof                      // source MAC is another port's static MAC
	numDropReasons
)

var dropNames = [numDropReasons]string{
	DropBadHeader:      "bad_header",
	DropBadSrcMAC:      "bad_src_mac",
	DropSamePort:       "same_port",
	DropNoNetwork:      "no_network",
	DropTxFull:         "tx_full",
	DropNoMbuf:         "no_mbuf",
	DropPortDown:       "port_down",
	DropTaggedOnAccess: "tagged_on_access",
	DropSrcMACSpoof:    "src_mac_spoof",
}

func (r DropReason) String() string { return dropNames[r] }

// DropReasons lists every reason name, in order.
func DropReasons() []string { return dropNames[:] }

// portCounters are one worker's counters for one port. The worker is the
// only writer; it stores once per burst with atomic stores, so readers on
// other goroutines see whole values.
type portCounters struct {
	rxPkts, rxBytes atomic.Uint64
	txPkts, txBytes atomic.Uint64
	flooded         atomic.Uint64 // packets sent out of this port by flooding
	drops           [numDropReasons]atomic.Uint64
	_               [64]byte
}

func add(c *atomic.Uint64, n uint64) {
	if n != 0 {
		c.Store(c.Load() + n) // single writer
	}
}

// Counters are totals for a port, a worker or the whole forwarder.
type Counters struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Flooded            uint64
	Drops              map[string]uint64
}

func (c *Counters) addFrom(p *portCounters) {
	c.RxPackets += p.rxPkts.Load()
	c.RxBytes += p.rxBytes.Load()
	c.TxPackets += p.txPkts.Load()
	c.TxBytes += p.txBytes.Load()
	c.Flooded += p.flooded.Load()
	if c.Drops == nil {
		c.Drops = map[string]uint64{}
	}
	for r := range p.drops {
		if v := p.drops[r].Load(); v != 0 {
			c.Drops[dropNames[r]] += v
		}
	}
}

// TotalDrops sums the drops over all reasons.
func (c Counters) TotalDrops() uint64 {
	var n uint64
	for _, v := range c.Drops {
		n += v
	}
	return n
}
