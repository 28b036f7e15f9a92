package ui

import (
	"strconv"

	"socktop/collect"
	"socktop/output"
)

// unixTitle is the detail view's title line for a Unix socket: its type,
// its name (or "unnamed") and its inode.
func unixTitle(s *collect.Socket) string {
	return "Socket unix " + s.Type.String() + " " + unixName(s.Path) + " (inode " + strconv.FormatUint(uint64(s.Inode), 10) + ")"
}

func unixName(path string) string {
	if path == "" {
		return "unnamed"
	}
	return string(output.AppendPath(nil, path))
}

// unixFields adds what a Unix socket has in place of addresses: its type,
// path and the other end's inode; the Peer section (peerLines) shows that
// end and its owners, so the view answers who is connected to a server's
// socket.
func (d *detailView) unixFields(add func(label, value string)) {
	st := d.styles
	s := &d.sock
	add("Proto", "unix, "+s.Type.String())
	path := unixName(s.Path)
	if len(s.Path) > 0 && s.Path[0] == '@' {
		path += st.Dim.Render(" (abstract name)")
	}
	add("Path", path)
	switch {
	case s.PeerInode == 0 && s.State.Canonical() == collect.StateEstablished:
		add("Peer", "-"+st.Dim.Render(" (its other end has no inode: a connection the server has not accepted yet)"))
	case s.PeerInode == 0:
		add("Peer", "-")
	default:
		// The other end itself, with its owners, is the Peer section.
		peer := "inode " + strconv.FormatUint(uint64(s.PeerInode), 10)
		if d.peerStatus != collect.PeerFound {
			peer += st.Dim.Render(" (not found: closed, or in another namespace)")
		}
		add("Peer", peer)
	}
}
