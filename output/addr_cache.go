package output

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// addrCacheSlots is the number of addresses an addrCache remembers per
// column: a table's rows come in the kernel's hash order, which
// interleaves a host's few local addresses (IPv4 and IPv6) row by row, so
// one remembered address misses on almost every row.
const addrCacheSlots = 64

// addrCache remembers the text of the addresses last formatted in the
// Local and Foreign columns, by a hash of the address, so that a table of
// every socket on a host formats each of its addresses about once.
type addrCache struct {
	slot [2][addrCacheSlots]addrCacheEntry
}

// addrCacheEntry is one remembered address and its text up to the port,
// "addr:", which fits for every address without a zone. n is 0 for an
// empty slot.
type addrCacheEntry struct {
	a   netip.Addr
	fam uint8
	n   uint8
	buf [48]byte // "[" + the longest IPv6 text (45) + "]:"
}

// text returns AppendAddr's text of a up to its port for column col (0
// Local, 1 Foreign), and false for a zoned address, which it does not
// keep.
func (c *addrCache) text(col int, a netip.Addr, fam uint8) ([]byte, bool) {
	e := &c.slot[col][addrSlot(a)]
	if e.n != 0 && e.a == a && e.fam == fam {
		return e.buf[:e.n], true
	}
	if a.Zone() != "" {
		return nil, false
	}
	// Port 1 is never elided, so the text is "addr:1"; keep "addr:".
	text := AppendAddr(e.buf[:0], netip.AddrPortFrom(a, 1), fam)
	text = text[:len(text)-1]
	e.a, e.fam, e.n = a, fam, uint8(len(text))
	return text, true
}

// append appends ap as AppendAddr does, for column col.
func (c *addrCache) append(col int, b []byte, ap netip.AddrPort, fam uint8) []byte {
	a := ap.Addr()
	text, ok := c.text(col, a, fam)
	if !ok {
		return AppendAddr(b, ap, fam)
	}
	b = append(b, text...)
	if ap.Port() == 0 && (!a.IsValid() || a.IsUnspecified()) {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// len returns the length of what append would append for ap.
func (c *addrCache) len(col int, ap netip.AddrPort, fam uint8) int {
	a := ap.Addr()
	text, ok := c.text(col, a, fam)
	if !ok {
		var buf [128]byte
		return len(AppendAddr(buf[:0], ap, fam))
	}
	if ap.Port() == 0 && (!a.IsValid() || a.IsUnspecified()) {
		return len(text) + 1
	}
	return len(text) + decLen(uint64(ap.Port()))
}

// addrSlot hashes an address to a slot of a cache of addrCacheSlots.
func addrSlot(a netip.Addr) uint64 {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[8:]) ^ binary.LittleEndian.Uint64(b[:8])*0xff51afd7ed558ccd
	return (h * 0x9e3779b97f4a7c15) >> (64 - 6)
}
