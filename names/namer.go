package names

import (
	"net/netip"

	"socktop/collect"
)

// Namer is the names a table shows, as output.Namer asks for them: host
// names from a cache (never a lookup: Name does not block), service names
// from a services table. A nil field names nothing of its kind.
type Namer struct {
	Hosts    *Hosts
	Services *Services
}

// Host returns the cached name of a.
func (n Namer) Host(a netip.Addr) (string, bool) {
	if n.Hosts == nil {
		return "", false
	}
	return n.Hosts.Name(a)
}

// Service returns the name of a port of proto.
func (n Namer) Service(proto collect.Proto, port uint16) (string, bool) {
	return n.Services.Name(proto, port)
}

// TableAddrs appends to dst each address of socks a table would name
// (the local and remote addresses of TCP and UDP sockets, not the
// unspecified ones), once each.
func TableAddrs(dst []netip.Addr, socks []collect.Socket) []netip.Addr {
	seen := make(map[netip.Addr]bool, len(dst))
	for _, a := range dst {
		seen[a] = true
	}
	for i := range socks {
		s := &socks[i]
		if s.Proto == collect.Unix {
			continue
		}
		for _, ap := range [2]netip.AddrPort{s.Local, s.Remote} {
			a := ap.Addr().Unmap()
			if a.IsValid() && !a.IsUnspecified() && !seen[a] {
				seen[a] = true
				dst = append(dst, a)
			}
		}
	}
	return dst
}
