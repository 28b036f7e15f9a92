package ui

import (
	"strconv"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/output"
)

// peerIndex is the index of the other ends of the shown snapshot, built
// the first time a refresh asks for it (the detail view, the peer key)
// and reused, maps and all, for the next snapshot.
func (m *model) peerIndex() *collect.Peers {
	if m.snap == nil {
		return nil
	}
	if m.peersOf != m.snap {
		m.peers.Build(m.snap.Sockets)
		m.peersOf = m.snap
	}
	return &m.peers
}

// hostAddrs reads the addresses of this namespace's interfaces once, when
// the view is made, so the peer index can tell a connection to the host's
// own address from one to another host. An address that comes later is
// still known as local once a socket of the snapshot is bound to it.
func hostAddrs(p *collect.Peers) {
	if addrs, err := collect.LocalAddrs(); err == nil {
		p.SetHostAddrs(addrs)
	}
}

// jumpPeer moves the selection to the row of the other end of the
// selected socket (or of the detail view's), and in the detail view shows
// that end. When the row is not listed, the flash line says why; the
// filter stays as the user set it.
func (m *model) jumpPeer() tea.Cmd {
	var s *collect.Socket
	switch {
	case m.mode == modeDetail:
		s = &m.detail.sock
	case len(m.rows) > 0:
		s = m.rows[m.selected].s
	default:
		m.flash = "p: no socket selected"
		return nil
	}
	peer, st := m.peerIndex().Find(s)
	switch st {
	case collect.PeerNone:
		m.flash = "p: " + noPeerWhy(s)
		return nil
	case collect.PeerNotLocal:
		m.flash = "p: not local: the other end is on another host"
		return nil
	case collect.PeerNotFound:
		m.flash = "p: " + collect.PeerNotFound.String()
		return nil
	}
	if peer.Key() == s.Key() && peer.Inode == s.Inode {
		m.flash = "p: the socket is connected to itself"
		return nil
	}
	at := -1
	for i := range m.rows {
		if m.rows[i].s == peer {
			at = i
			break
		}
	}
	if at < 0 {
		why := "the filter hides it (esc clears the filter)"
		if !m.narrow.Match(peer) {
			why = "the command line's flags hide it"
		}
		m.flash = "p: the other end, " + peerName(peer) + ", is not listed: " + why
		return nil
	}
	m.selected = at
	m.selKey = peer.Key()
	m.fixScroll()
	m.flash = "p: the other end, " + peerName(peer)
	if m.mode != modeDetail {
		return nil
	}
	// The capture was of the socket the view showed; the other end's
	// view starts without one, as any detail view does.
	stop := m.stopSegments()
	return tea.Batch(stop, m.openDetail())
}

// noPeerWhy says why a socket has no other end.
func noPeerWhy(s *collect.Socket) string {
	switch {
	case s.State.Canonical() == collect.StateListen:
		return "a listener has no other end"
	case s.Proto == collect.Unix && s.State.Canonical() == collect.StateEstablished:
		return "its other end has no inode: a connection the server has not accepted yet"
	}
	return "not connected: it has no other end"
}

// peerName names a socket in a line: its address (or a Unix socket's name
// and inode) and its first owner.
func peerName(s *collect.Socket) string {
	name := s.Proto.String() + " " + output.FormatAddr(s.Local, s.Family)
	if s.Proto == collect.Unix {
		name = "unix " + unixName(s.Path) + " inode " + strconv.FormatUint(uint64(s.Inode), 10)
	}
	if len(s.Owners) > 0 {
		name += " (" + string(output.AppendOwner(nil, s.Owners[0])) + ")"
	}
	return name
}
