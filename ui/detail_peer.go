package ui

import (
	"fmt"
	"strconv"

	"socktop/collect"
	"socktop/output"
)

// peerField adds the Peer line of a TCP or UDP socket whose other end the
// view does not show: why there is none, or why it is not found. One
// that is found gets a section of its own (peerLines).
func (d *detailView) peerField(add func(label, value string)) {
	st := d.styles
	s := &d.sock
	switch d.peerStatus {
	case collect.PeerFound:
		return
	case collect.PeerNone:
		add("Peer", "-"+st.Dim.Render(" ("+noPeerWhy(s)+")"))
	case collect.PeerNotLocal:
		add("Peer", "not local"+st.Dim.Render(" (the other end is on another host)"))
	default:
		add("Peer", "not found"+st.Dim.Render(" (closed, or in another namespace)"))
	}
}

// peerLines is the Peer section: the other end of a local connection or
// of a Unix pair, with its state, queues and owners, so one view shows
// both sides of the conversation, as lsof +E does.
func (d *detailView) peerLines() []string {
	if d.peerStatus != collect.PeerFound {
		return nil
	}
	st := d.styles
	p := &d.peer
	lines := []string{"", st.Title.Render("Peer") + st.Dim.Render(" (the other end, on this host: p selects it)")}
	add := func(label, value string) {
		lines = append(lines, fmt.Sprintf("  %-13s %s", label, value))
	}
	if p.Proto == collect.Unix {
		add("Socket", "unix "+p.Type.String()+" "+unixName(p.Path)+" (inode "+strconv.FormatUint(uint64(p.Inode), 10)+")")
	} else {
		sock := p.Proto.String() + " " + output.FormatAddr(p.Local, p.Family) + " -> " + output.FormatAddr(p.Remote, p.Family)
		switch {
		case !p.Known(collect.FieldInode):
		case p.Inode == 0:
			sock += st.Dim.Render(" (no file descriptor)")
		default:
			sock += " (inode " + strconv.FormatUint(uint64(p.Inode), 10) + ")"
		}
		add("Socket", sock)
	}
	// The owners come first: they are what the section is for, and an
	// 80x24 screen may cut what follows.
	switch {
	case len(p.Owners) == 0 && !p.Known(collect.FieldOwners):
		add("Owners", st.Dim.Render("unknown"))
	case len(p.Owners) == 0:
		add("Owners", "-"+st.Dim.Render(" (no process holds a descriptor)"))
	}
	for i, o := range p.Owners {
		label := ""
		if i == 0 {
			label = "Owners"
		}
		add(label, string(output.AppendOwner(nil, o)))
	}
	q := func(f collect.Fields, v uint32) string {
		if !p.Known(f) {
			return "?"
		}
		return strconv.FormatUint(uint64(v), 10)
	}
	add("State", st.state(p.State, p.State.Canonical().String())+", Recv-Q "+q(collect.FieldRecvQ, p.RecvQ)+", Send-Q "+q(collect.FieldSendQ, p.SendQ))
	return lines
}
