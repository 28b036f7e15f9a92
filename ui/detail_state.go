package ui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/output"
)

// stateMeaning says in a line what a TCP or UDP socket's state means and
// what ends it, the way the state diagram reads: who moved it here and
// who must act next. A CLOSE_WAIT names the program that holds it, since
// that program's close is what it waits for. Each fits one line of an
// 80-column detail view, where the lines after it are cut to the height.
// "" for a Unix socket or a state with nothing to say.
func stateMeaning(s *collect.Socket) string {
	if s.Proto == collect.UDP {
		switch s.State.Canonical() {
		case collect.StateUnconn:
			return "bound, no fixed peer: it takes datagrams from anyone"
		case collect.StateEstablished:
			return "connected: it sends to and takes datagrams from one peer only"
		}
		return ""
	}
	if s.Proto != collect.TCP {
		return ""
	}
	switch s.State.Canonical() {
	case collect.StateListen:
		return "waiting for connections; Recv-Q is the accept queue"
	case collect.StateSynSent:
		return "connect sent a SYN; waiting for the SYN+ACK"
	case collect.StateSynRecv:
		return "SYN in, SYN+ACK out; waiting for the client's ACK"
	case collect.StateEstablished:
		return "open: data flows both ways"
	case collect.StateFinWait1:
		return "this end closed; its FIN is not acknowledged yet"
	case collect.StateFinWait2:
		if s.Inode == 0 && s.Known(collect.FieldInode) {
			return "its FIN acknowledged; orphaned, so it ends after tcp_fin_timeout"
		}
		return "its FIN acknowledged; waiting for the other end to close"
	case collect.StateTimeWait:
		return "closed first; kept 60 s so late segments miss a new connection"
	case collect.StateCloseWait:
		who := "its program"
		if len(s.Owners) > 0 {
			who = string(output.AppendOwner(nil, s.Owners[0]))
		}
		return "the peer closed; it stays until " + who + " closes it"
	case collect.StateLastAck:
		return "closed after the peer; waiting for the ACK of its FIN"
	case collect.StateClosing:
		return "both ends closed at once; waiting for the ACK of its FIN"
	case collect.StateClosed:
		return "bound, neither listening nor connected, or being torn down"
	}
	return ""
}

// wrapField lays a field's value out in width cells after its label's
// column, continuing on lines of their own under the value.
func wrapField(add func(label, value string), label, value string, width int) {
	for i, l := range strings.Split(ansi.Wrap(value, max(width-detailLabel-3, 20), ""), "\n") {
		if i == 0 {
			add(label, l)
		} else {
			add("", l)
		}
	}
}
