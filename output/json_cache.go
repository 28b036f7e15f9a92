package output

import (
	"net/netip"
	"slices"
	"strconv"

	"socktop/collect"
)

// jsonCache remembers, between the rows of one JSON document, what most
// rows repeat: the text of each endpoint's address, the last namespace
// object and the last owner list.
type jsonCache struct {
	addr [2][addrCacheSlots]jsonAddrEntry
	// netns is the text of `,"netns":{...}` for nsInode and nsName.
	nsInode uint32
	nsName  string
	netns   []byte
	// owners is the text of the owner list lastOwners: the sockets of
	// one process come in runs of the same list.
	lastOwners []collect.Owner
	owners     []byte
}

// jsonAddrEntry is one remembered address and its endpoint text up to
// the port, `{"addr":"X","port":`; n is 0 for an empty slot.
type jsonAddrEntry struct {
	a   netip.Addr
	fam uint8
	n   uint8
	buf [64]byte // `{"addr":"` + the longest IPv6 text (45) + `","port":`
}

// appendEndpoint appends ap as appendEndpointJSON does, for column col
// (0 local, 1 remote).
func (c *jsonCache) appendEndpoint(col int, b []byte, ap netip.AddrPort, family uint8) []byte {
	a := ap.Addr()
	if !a.IsValid() {
		return appendEndpointJSON(b, ap, family)
	}
	e := &c.addr[col][addrSlot(a)]
	if e.n == 0 || e.a != a || e.fam != family {
		if a.Zone() != "" {
			return appendEndpointJSON(b, ap, family)
		}
		text := append(e.buf[:0], `{"addr":"`...)
		text = a.AppendTo(text)
		text = append(text, `","port":`...)
		e.a, e.fam, e.n = a, family, uint8(len(text))
	}
	b = append(b, e.buf[:e.n]...)
	b = strconv.AppendUint(b, uint64(ap.Port()), 10)
	return append(b, '}')
}

// appendNetNS appends `,"netns":{"inode":N,"name":S}` ("name" only when
// there is one).
func (c *jsonCache) appendNetNS(b []byte, ns collect.NetNS) []byte {
	if c.netns == nil || ns.Inode != c.nsInode || ns.Name != c.nsName {
		t := append(c.netns[:0], `,"netns":{"inode":`...)
		t = strconv.AppendUint(t, uint64(ns.Inode), 10)
		if ns.Name != "" {
			t = append(t, `,"name":`...)
			t = appendJSONString(t, ns.Name)
		}
		c.netns = append(t, '}')
		c.nsInode, c.nsName = ns.Inode, ns.Name
	}
	return append(b, c.netns...)
}

// appendOwners appends an owner list as appendOwnersJSON does.
func (c *jsonCache) appendOwners(b []byte, owners []collect.Owner) []byte {
	if len(owners) == 0 {
		return appendOwnersJSON(b, owners)
	}
	if !slices.Equal(owners, c.lastOwners) {
		c.owners = appendOwnersJSON(c.owners[:0], owners)
		c.lastOwners = append(c.lastOwners[:0], owners...)
	}
	return append(b, c.owners...)
}
