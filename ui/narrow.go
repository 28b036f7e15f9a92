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
	TCP, UDP bool // -t, -u; both false means both (unless -x)
	// Unix (-x) keeps Unix sockets; alone it keeps only those, as ss -x.
	Unix       bool
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
	if n.Unix || n.TCP != n.UDP {
		switch s.Proto {
		case collect.TCP:
			if !n.TCP && (n.UDP || n.Unix) {
				return false
			}
		case collect.UDP:
			if !n.UDP && (n.TCP || n.Unix) {
				return false
			}
		case collect.Unix:
			if !n.Unix {
				return false
			}
		}
	}
	if n.IPv4 != n.IPv6 && s.Proto != collect.Unix && (n.IPv4 && s.Family != 4 || n.IPv6 && s.Family != 6) {
		return false
	}
	return !n.Listening || listeningStates.Has(s.State.Canonical())
}

// String returns the flags as typed, "-t -6 -l", or "" when nothing is
// narrowed (-t -u, -t -u -x, or -4 -6, narrow nothing).
func (n Narrow) String() string {
	var f []string
	switch {
	case n.Unix && n.TCP && n.UDP, !n.Unix && n.TCP == n.UDP:
		// Every protocol shown (Unix collected only with -x).
	default:
		for _, p := range []struct {
			on   bool
			flag string
		}{{n.TCP, "-t"}, {n.UDP, "-u"}, {n.Unix, "-x"}} {
			if p.on {
				f = append(f, p.flag)
			}
		}
	}
	if n.IPv4 != n.IPv6 {
		f = append(f, map[bool]string{true: "-4", false: "-6"}[n.IPv4])
	}
	if n.Listening {
		f = append(f, "-l")
	}
	return strings.Join(f, " ")
}
