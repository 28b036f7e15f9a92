package collect

// Peers finds the other end of a connected Unix socket in the same
// snapshot, by its PeerInode. Build it once per snapshot; Of then costs
// one map lookup. Its zero value is ready, and a Peers rebuilt for each
// new snapshot reuses its map, so the steady state allocates nothing.
// It holds a pointer into the snapshot's Sockets: rebuild it, or drop it,
// with the snapshot.
type Peers struct {
	socks   []Socket
	byInode map[uint32]int32
}

// Build indexes the Unix sockets of socks by inode, forgetting any earlier
// snapshot. TCP and UDP sockets are left out: their inodes never answer a
// Unix socket's PeerInode.
func (p *Peers) Build(socks []Socket) {
	if p.byInode == nil {
		p.byInode = make(map[uint32]int32)
	} else if len(p.byInode) > 4*len(socks)+64 {
		// A Go map never gives back its buckets; one sized for a much
		// bigger table is replaced.
		p.byInode = make(map[uint32]int32, len(socks))
	}
	clear(p.byInode)
	p.socks = socks
	for i := range socks {
		if s := &socks[i]; s.Proto == Unix && s.Inode != 0 {
			p.byInode[s.Inode] = int32(i)
		}
	}
}

// Of returns the other end of the Unix socket s, or nil when s is not a
// connected Unix socket or its peer is not in the snapshot (another
// namespace, or a connection not accepted yet, whose peer has no inode).
// A nil Peers knows no peers.
func (p *Peers) Of(s *Socket) *Socket {
	if p == nil || s.Proto != Unix || s.PeerInode == 0 {
		return nil
	}
	i, ok := p.byInode[s.PeerInode]
	if !ok {
		return nil
	}
	return &p.socks[i]
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
