package collect

import "net/netip"

// Peers finds the other end of a socket in the same snapshot: a Unix
// socket's by its PeerInode, a TCP or UDP socket's, when its remote
// address is local, by the reversed 4-tuple in the same namespace (see
// Find). Build it once per snapshot; Find and Of then cost a map lookup
// or two. Its zero value is ready, and a Peers rebuilt for each new
// snapshot reuses its maps, so the steady state allocates nothing. It
// holds a pointer into the snapshot's Sockets: rebuild it, or drop it,
// with the snapshot.
type Peers struct {
	socks   []Socket
	byInode map[uint32]int32
	// byTuple4 and byTuple file the TCP and UDP sockets with a local
	// remote end by their own end (IPv4 in the short form), udpBound the
	// unconnected UDP sockets by their bound address; local holds the
	// addresses counted as local per namespace, and host the own
	// namespace's interface addresses.
	byTuple4 map[peerTuple4]int32
	byTuple  map[peerTuple]int32
	udpBound map[nsAddrPort]int32
	local    map[nsAddr]struct{}
	host     []netip.Addr
}

// Build indexes socks, forgetting any earlier snapshot: the Unix sockets
// by inode, the TCP and UDP sockets that can be one end of a local
// connection by their 4-tuple.
func (p *Peers) Build(socks []Socket) {
	p.byInode = fitPeerMap(p.byInode, len(socks), 0)
	p.socks = socks
	for i := range socks {
		if s := &socks[i]; s.Proto == Unix && s.Inode != 0 {
			p.byInode[s.Inode] = int32(i)
		}
	}
	p.buildLocal(socks)
}

// Of returns the other end of s, or nil when s has none or it is not in
// the snapshot (Find says which). A nil Peers knows no peers.
func (p *Peers) Of(s *Socket) *Socket {
	peer, _ := p.Find(s)
	return peer
}

// PeerOf returns the other end of the Unix socket s in snap, or nil, by
// a walk of the snapshot. It is for one question, such as the detail
// view's; a table that asks for every row builds a Peers once instead.
func PeerOf(snap *Snapshot, s *Socket) *Socket {
	if s.Proto != Unix || s.PeerInode == 0 {
		return nil
	}
	for i := range snap.Sockets {
		if p := &snap.Sockets[i]; p.Proto == Unix && p.Inode == s.PeerInode {
			return p
		}
	}
	return nil
}
