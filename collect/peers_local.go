package collect

import (
	"fmt"
	"net"
	"net/netip"
)

// PeerStatus says what Peers.Find learnt about a socket's other end.
type PeerStatus uint8

// The answers of Peers.Find.
const (
	// PeerNone: the socket has no other end: a listener, an unconnected
	// UDP or Unix socket, a Unix connection not accepted yet.
	PeerNone PeerStatus = iota
	// PeerFound: the other end is in the snapshot.
	PeerFound
	// PeerNotLocal: the remote address is not one of the socket's
	// namespace, so the other end is on another host (or another
	// namespace reached through a route).
	PeerNotLocal
	// PeerNotFound: the other end should be on this host, in the same
	// namespace, but the snapshot does not list it: it closed, it lives
	// in another namespace, or the dump was narrowed (states, filter).
	PeerNotFound
)

// String returns a short phrase for the status, as the views print it.
func (s PeerStatus) String() string {
	switch s {
	case PeerNone:
		return "no peer"
	case PeerFound:
		return "found"
	case PeerNotLocal:
		return "not local"
	case PeerNotFound:
		return "peer not found (closed, or in another namespace)"
	}
	return "?"
}

// peerTuple is one end of a TCP or UDP connection as the index files it:
// protocol, namespace (as Key.NetNS has it) and the 4-tuple, addresses in
// their 16-byte form. That form makes an IPv4 address and its v4-mapped
// IPv6 spelling one (the client of a dual-stack listener is AF_INET while
// its accepted end is AF_INET6), drops zones, and keeps the key free of
// pointers, which gives the collector nothing to scan in the map.
type peerTuple struct {
	proto        Proto
	netns        uint32
	lport, rport uint16
	laddr, raddr [16]byte
}

// peerTuple4 is a peerTuple whose addresses are both IPv4 (or v4-mapped),
// in 20 bytes rather than 44: at 100k sockets the build is bound by
// cache misses in the map, and loopback connections are mostly IPv4.
type peerTuple4 struct {
	netns        uint32
	laddr, raddr [4]byte
	lport, rport uint16
	proto        Proto
}

// v4 returns t in the short form, if both its addresses are IPv4.
func (t *peerTuple) v4() (peerTuple4, bool) {
	var prefix = [12]byte{10: 0xff, 11: 0xff}
	if [12]byte(t.laddr[:12]) != prefix || [12]byte(t.raddr[:12]) != prefix {
		return peerTuple4{}, false
	}
	return peerTuple4{netns: t.netns, laddr: [4]byte(t.laddr[12:]), raddr: [4]byte(t.raddr[12:]),
		lport: t.lport, rport: t.rport, proto: t.proto}, true
}

// nsAddr is an address of one namespace, in the 16-byte form.
type nsAddr struct {
	netns uint32
	addr  [16]byte
}

func tupleOf(proto Proto, ns uint32, local, remote netip.AddrPort) peerTuple {
	return peerTuple{proto: proto, netns: ns, lport: local.Port(), rport: remote.Port(),
		laddr: local.Addr().As16(), raddr: remote.Addr().As16()}
}

// connected reports whether a TCP or UDP socket has a fixed remote end.
func connected(s *Socket) bool {
	r := s.Remote.Addr()
	return s.Remote.Port() != 0 && r.IsValid() && !r.IsUnspecified()
}

// SetHostAddrs gives the index the addresses of the interfaces of the
// namespace socktop runs in (LocalAddrs reads them), which it counts as
// local beside loopback and every address a socket of the snapshot is
// bound to. It takes effect at the next Build; addrs is copied.
func (p *Peers) SetHostAddrs(addrs []netip.Addr) {
	p.host = p.host[:0]
	for _, a := range addrs {
		p.host = append(p.host, a)
	}
}

// LocalAddrs returns the addresses of the interfaces of the network
// namespace socktop runs in, for Peers.SetHostAddrs. It reads them from
// the kernel, so a view calls it outside its event loop.
func LocalAddrs() ([]netip.Addr, error) {
	ifa, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("collect: interface addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(ifa))
	for _, a := range ifa {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

// buildLocal indexes the TCP and UDP sockets that can be one end of a
// local connection: connected, with a remote address that is local to
// their namespace. Only those need to be found, since both ends of a
// local connection have a local remote. An address is local when it is
// loopback, one of the host addresses of the own namespace, or the local
// address of any socket of the same namespace in the snapshot: a socket
// can only be bound to an address its namespace has (IP_TRANSPARENT and
// IP_FREEBIND aside), and that covers the other namespaces, whose
// interfaces socktop does not read.
func (p *Peers) buildLocal(socks []Socket) {
	p.local = fitPeerMap(p.local, len(socks), 0)
	own := ownNetNS()
	nsOf := func(s *Socket) uint32 {
		if s.NetNS.Inode == own {
			return 0
		}
		return s.NetNS.Inode
	}
	for _, a := range p.host {
		p.local[nsAddr{addr: a.As16()}] = struct{}{}
	}
	// Most sockets share a few addresses, and a run of one address is
	// common: the last one added skips the map.
	var last nsAddr
	for i := range socks {
		s := &socks[i]
		if s.Proto == Unix {
			continue
		}
		a := s.Local.Addr()
		if !a.IsValid() || a.IsUnspecified() || a.Unmap().IsLoopback() {
			continue
		}
		k := nsAddr{netns: nsOf(s), addr: a.As16()}
		if k != last {
			p.local[k], last = struct{}{}, k
		}
	}
	p.udpBound = fitPeerMap(p.udpBound, len(socks), 0)
	for i := range socks {
		if s := &socks[i]; s.Proto == UDP && !connected(s) && s.Local.Port() != 0 {
			k := nsAddrPort{netns: nsOf(s), addr: s.Local.Addr().As16(), port: s.Local.Port()}
			if _, dup := p.udpBound[k]; !dup {
				p.udpBound[k] = int32(i)
			}
		}
	}
	candidate := func(s *Socket) bool {
		return s.Proto != Unix && connected(s) && p.isLocal(nsOf(s), s.Remote.Addr())
	}
	if p.byTuple4 == nil || len(p.byTuple4)+len(p.byTuple) > 4*len(socks)+64 {
		// A new map (the first build, or one after the table shrank) is
		// made at its size rather than grown through every power of two;
		// a reused one already has room.
		n4, n6 := 0, 0
		for i := range socks {
			if s := &socks[i]; candidate(s) {
				if s.Local.Addr().Unmap().Is4() && s.Remote.Addr().Unmap().Is4() {
					n4++
				} else {
					n6++
				}
			}
		}
		p.byTuple4 = make(map[peerTuple4]int32, n4)
		p.byTuple = make(map[peerTuple]int32, n6)
	} else {
		clear(p.byTuple4)
		clear(p.byTuple)
	}
	for i := range socks {
		s := &socks[i]
		if !candidate(s) {
			continue
		}
		t := tupleOf(s.Proto, nsOf(s), s.Local, s.Remote)
		if t4, ok := t.v4(); ok {
			fileTuple(p.byTuple4, t4, s, int32(i))
		} else {
			fileTuple(p.byTuple, t, s, int32(i))
		}
	}
}

// fileTuple files socks[i] (s) under t: two rows share a 4-tuple only
// when one is a TIME_WAIT leftover of an earlier connection on the same
// ports, and the live one stands for it. Only a TIME_WAIT row looks
// first, so a live one costs one map operation.
func fileTuple[K comparable](m map[K]int32, t K, s *Socket, i int32) {
	if s.State == StateTimeWait {
		if _, ok := m[t]; ok {
			return
		}
	}
	m[t] = i
}

// isLocal reports whether a is an address of namespace ns (as Key.NetNS).
func (p *Peers) isLocal(ns uint32, a netip.Addr) bool {
	if a.Unmap().IsLoopback() {
		return true
	}
	_, ok := p.local[nsAddr{netns: ns, addr: a.As16()}]
	return ok
}

// Find returns the other end of s in the indexed snapshot, and what it
// learnt: a Unix socket's by its PeerInode, a TCP or UDP socket's as the
// socket of the same namespace whose local end is s's remote and whose
// remote end is s's local, or for a UDP socket without one, the
// unconnected UDP socket bound where it sends (udpServer). A nil Peers finds nothing (PeerNotFound for a
// socket that has a peer).
func (p *Peers) Find(s *Socket) (*Socket, PeerStatus) {
	if s.Proto == Unix {
		if s.PeerInode == 0 {
			return nil, PeerNone
		}
		if p == nil {
			return nil, PeerNotFound
		}
		if i, ok := p.byInode[s.PeerInode]; ok {
			return &p.socks[i], PeerFound
		}
		return nil, PeerNotFound
	}
	if !connected(s) {
		return nil, PeerNone
	}
	if p == nil {
		return nil, PeerNotFound
	}
	ns := keyNetNS(s.NetNS.Inode)
	if !p.isLocal(ns, s.Remote.Addr()) {
		return nil, PeerNotLocal
	}
	t := tupleOf(s.Proto, ns, s.Remote, s.Local)
	var i int32
	var ok bool
	if t4, is4 := t.v4(); is4 {
		i, ok = p.byTuple4[t4]
	} else {
		i, ok = p.byTuple[t]
	}
	if !ok && s.Proto == UDP {
		i, ok = p.udpServer(ns, s.Remote)
	}
	if !ok {
		return nil, PeerNotFound
	}
	return &p.socks[i], PeerFound
}

// udpServer finds the unconnected UDP socket that receives what is sent
// to r in namespace ns: one bound to r's address, else one bound to the
// wildcard of its family or to :: (which takes IPv4 too unless
// IPV6_V6ONLY, which the dump does not tell). It is the other end of a
// connected UDP client of a local server, such as a resolver stub on
// 127.0.0.53:53, which is connected to nobody.
func (p *Peers) udpServer(ns uint32, r netip.AddrPort) (int32, bool) {
	a := r.Addr().Unmap()
	keys := [3]nsAddrPort{{netns: ns, addr: a.As16(), port: r.Port()}, {netns: ns, port: r.Port()}, {netns: ns, port: r.Port()}}
	if a.Is4() {
		keys[1].addr = netip.IPv4Unspecified().As16()
	}
	for _, k := range keys {
		if i, ok := p.udpBound[k]; ok {
			return i, true
		}
	}
	return 0, false
}

// nsAddrPort is a bound address of one namespace, in the 16-byte form.
type nsAddrPort struct {
	netns uint32
	addr  [16]byte
	port  uint16
}

// fitPeerMap returns m cleared, or a new map for size entries when m is
// nil or was filled from a table much bigger than n sockets: a Go map
// never gives back its buckets.
func fitPeerMap[K comparable, V any](m map[K]V, n, size int) map[K]V {
	if m == nil || len(m) > 4*n+64 {
		return make(map[K]V, size)
	}
	clear(m)
	return m
}
