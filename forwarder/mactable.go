package forwarder

import (
	"math/bits"
	"sync/atomic"
)

// macTable is one network's MAC table: a fixed array of 8-slot buckets that
// workers read and learn into without locks, and the control plane ages.
//
// A slot holds one uint64: the MAC in the high 48 bits and a port value in
// the low 16 (ethdev port id + 1, with staticBit for static entries); 0 is
// an empty slot. Writers change a slot with a single atomic store or CAS,
// so readers always see a whole entry. A MAC lives in the bucket its hash
// picks; a full bucket refuses to learn (counted), never evicts or grows.
type macTable struct {
	buckets []macBucket
	mask    uint64
	full    atomic.Uint64 // learn attempts refused: bucket full
	moves   atomic.Uint64 // learned MACs that moved to another port
}

const (
	slotsPerBucket = 8
	staticBit      = 1 << 15
	portMask       = staticBit - 1
)

type macBucket struct {
	slots [slotsPerBucket]atomic.Uint64
	seen  [slotsPerBucket]atomic.Uint32 // engine clock (seconds) of the last packet from the MAC
}

// newMACTable sizes a table for about maxMACs entries at half load.
func newMACTable(maxMACs int) *macTable {
	if maxMACs < slotsPerBucket {
		maxMACs = slotsPerBucket
	}
	n := uint64(1) << bits.Len64(uint64(2*maxMACs/slotsPerBucket-1))
	return &macTable{buckets: make([]macBucket, n), mask: n - 1}
}

// macKey packs a MAC (as the low 48 bits of v) for comparison with slots.
func hashMAC(mac uint64) uint64 {
	h := mac * 0x9E3779B97F4A7C15
	return h ^ h>>29
}

func (t *macTable) bucket(mac uint64) *macBucket { return &t.buckets[hashMAC(mac)&t.mask] }

// lookup returns the port of mac, or -1.
func (t *macTable) lookup(mac uint64) int {
	b := t.bucket(mac)
	for i := range b.slots {
		v := b.slots[i].Load()
		if v>>16 == mac && v != 0 {
			return int(v&portMask) - 1
		}
	}
	return -1
}

// learnResult is what learning a source MAC found.
type learnResult uint8

const (
	learnOK          learnResult = iota // learned, refreshed or moved
	learnFull                           // not known, and its bucket is full
	learnStaticOther                    // a static entry of another port: a spoofed source
)

// learn records that mac was seen on port at time now: learnFull when
// its bucket was full, learnStaticOther when mac is another port's static
// MAC (left alone).
func (t *macTable) learn(mac uint64, port uint16, now uint32) learnResult {
	b := t.bucket(mac)
	want := mac<<16 | uint64(port+1)
	empty := -1
	for i := range b.slots {
		v := b.slots[i].Load()
		if v == 0 {
			if empty < 0 {
				empty = i
			}
			continue
		}
		if v>>16 != mac {
			continue
		}
		if v&staticBit != 0 { // static entries neither move nor age
			if v&portMask != uint64(port+1) {
				return learnStaticOther
			}
			return learnOK
		}
		if v != want {
			// The MAC moved to another port.
			if b.slots[i].CompareAndSwap(v, want) {
				t.moves.Add(1)
			}
		}
		if b.seen[i].Load() != now {
			b.seen[i].Store(now)
		}
		return learnOK
	}
	for i := empty; i >= 0 && i < slotsPerBucket; i++ {
		if b.slots[i].Load() != 0 {
			continue
		}
		b.seen[i].Store(now)
		if b.slots[i].CompareAndSwap(0, want) {
			return learnOK
		}
	}
	t.full.Add(1)
	return learnFull
}

// setStatic installs a static entry for mac on port, replacing a learned
// one. It returns false if the bucket is full of other MACs.
func (t *macTable) setStatic(mac uint64, port uint16) bool {
	b := t.bucket(mac)
	want := mac<<16 | uint64(port+1) | staticBit
	for i := range b.slots {
		if v := b.slots[i].Load(); v != 0 && v>>16 == mac {
			b.slots[i].Store(want)
			return true
		}
	}
	for i := range b.slots {
		if b.slots[i].CompareAndSwap(0, want) {
			return true
		}
	}
	return false
}

// staticPort returns the port of mac's static entry, or -1.
func (t *macTable) staticPort(mac uint64) int {
	b := t.bucket(mac)
	for i := range b.slots {
		if v := b.slots[i].Load(); v != 0 && v>>16 == mac && v&staticBit != 0 {
			return int(v&portMask) - 1
		}
	}
	return -1
}

// age removes learned entries last seen before now-maxAge. Control plane.
func (t *macTable) age(now, maxAge uint32) (removed int) {
	for bi := range t.buckets {
		b := &t.buckets[bi]
		for i := range b.slots {
			v := b.slots[i].Load()
			if v == 0 || v&staticBit != 0 {
				continue
			}
			if now-b.seen[i].Load() > maxAge && b.slots[i].CompareAndSwap(v, 0) {
				removed++
			}
		}
	}
	return removed
}

// flushPort removes every entry, static ones too, that points to port.
func (t *macTable) flushPort(port uint16) (removed int) {
	for bi := range t.buckets {
		b := &t.buckets[bi]
		for i := range b.slots {
			v := b.slots[i].Load()
			if v != 0 && int(v&portMask)-1 == int(port) && b.slots[i].CompareAndSwap(v, 0) {
				removed++
			}
		}
	}
	return removed
}

// macEntry is a table entry as the control plane reports it.
type macEntry struct {
	MAC    uint64
	Port   uint16
	Static bool
	Seen   uint32
}

// entries lists the table; it may miss or double an entry that moves
// while it runs.
func (t *macTable) entries() []macEntry {
	var out []macEntry
	for bi := range t.buckets {
		b := &t.buckets[bi]
		for i := range b.slots {
			v := b.slots[i].Load()
			if v == 0 {
				continue
			}
			out = append(out, macEntry{MAC: v >> 16, Port: uint16(v&portMask) - 1, Static: v&staticBit != 0, Seen: b.seen[i].Load()})
		}
	}
	return out
}

// capacity is the number of slots.
func (t *macTable) capacity() int { return len(t.buckets) * slotsPerBucket }
