package ui

import (
	"strings"

	"socktop/collect"
)

// Narrow is what the command line's -t, -u, -4, -6 and -l keep of the live
// table. The live view collects every socket whatever the flags, so that a
// demo sees its own; Narrow then hides the rest from the table and the
// log, as the filter does, and the header names the flags. The zero value
// keeps everything.
type Narrow struct {
	TCP, UDP   bool // -t, -u; both false means both
	IPv4, IPv6 bool // -4, -6; both false means both
	// Listening (-l) keeps what ss -l shows: TCP LISTEN, and UDP sockets
	// without a fixed peer.
	Listening bool
}

// listeningStates are the states -l keeps (a bound-only TCP socket is
// CLOSED, and ss -l lists it too).
const listeningStates = collect.StateMask(1<<collect.StateListen | 1<<collect.StateUnconn | 1<<collect.StateClosed)

// Match reports whether the flags keep s.
func (n Narrow) Match(s *collect.Socket) bool {
	if n.TCP != n.UDP && (n.TCP && s.Proto != collect.TCP || n.UDP && s.Proto != collect.UDP) {
		return false
	}
	if n.IPv4 != n.IPv6 && (n.IPv4 && s.Family != 4 || n.IPv6 && s.Family != 6) {
		return false
	}
	return !n.Listening || listeningStates.Has(s.State.Canonical())
}

// String returns the flags as typed, "-t -6 -l", or "" when nothing is
// narrowed (-t -u, or -4 -6, narrow nothing).
func (n Narrow) String() string {
	var f []string
	if n.TCP != n.UDP {
		f = append(f, map[bool]string{true: "-t", false: "-u"}[n.TCP])
	}
	if n.IPv4 != n.IPv6 {
		f = append(f, map[bool]string{true: "-4", false: "-6"}[n.IPv4])
	}
	if n.Listening {
		f = append(f, "-l")
	}
	return strings.Join(f, " ")
}
