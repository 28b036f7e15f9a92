package collect

import (
	"errors"
	"time"
)

// PeekStatus is what the kernel said of one row asked of Netlink.Lookup.
type PeekStatus uint8

// The answers of Netlink.Lookup.
const (
	// PeekNotAsked: the row was not asked for. It is not a TCP or UDP
	// socket of the namespace the source collects in, it has no cookie,
	// or it is a TCP socket in no table the kernel looks sockets up in
	// (closed, bound only).
	PeekNotAsked PeekStatus = iota
	// PeekFound: the kernel answered with the socket of the row's
	// 4-tuple, interface and cookie.
	PeekFound
	// PeekMissing: the kernel found no socket with the row's 4-tuple,
	// interface and cookie. For a TCP socket that is not listening the
	// lookup is of the established table, exact by 4-tuple, so the
	// socket is gone (or is another socket now: a reused 4-tuple has
	// another cookie). A listener or a UDP socket is looked up the way a
	// packet is delivered: the kernel picks one socket for the port (a
	// member of a SO_REUSEPORT group by a hash of the request's
	// addresses, or a better match bound to the same port), and when
	// that is another socket the row is not peekable, not gone. The
	// caller tells the two apart with its table.
	PeekMissing
)

// Peeked is the kernel's answer for one row: its status and, when
// Found, the row as the kernel has it now. Owners, Info and Rate are
// never filled: a lookup does not scan processes nor ask for tcp_info.
type Peeked struct {
	Status PeekStatus
	Socket Socket
}

// SockCounters are the counters of /proc/net/sockstat and sockstat6
// that belong to one network namespace: the hashed TCP and UDP sockets
// of each family and the TIME_WAIT sockets. A socket bound, connected,
// closed or expired from TIME_WAIT moves one of them, whether or not an
// event announced it. The files' other TCP figures (orphan, alloc, mem)
// are the whole host's, so they are left out: another namespace's
// traffic would move them.
type SockCounters struct {
	TCPInUse, TCP6InUse int
	TCPTimeWait         int
	UDPInUse, UDP6InUse int
}

// parseSockCounters reads the counters from the text of sockstat (v4)
// or sockstat6, into c. It does not allocate. ok is false when a line it
// needs is missing or holds no number.
func parseSockCounters(text []byte, v4 bool, c *SockCounters) (ok bool) {
	var tcpSeen, udpSeen bool
	for len(text) > 0 {
		line := text
		if i := indexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		name, rest := nextField(line)
		switch {
		case v4 && string(name) == "TCP:":
			tcpSeen = true
			if !pairs(rest, func(k []byte, v int) {
				switch string(k) {
				case "inuse":
					c.TCPInUse = v
				case "tw":
					c.TCPTimeWait = v
				}
			}) {
				return false
			}
		case v4 && string(name) == "UDP:":
			udpSeen = true
			if !pairs(rest, func(k []byte, v int) {
				if string(k) == "inuse" {
					c.UDPInUse = v
				}
			}) {
				return false
			}
		case !v4 && string(name) == "TCP6:":
			tcpSeen = true
			if !pairs(rest, func(k []byte, v int) {
				if string(k) == "inuse" {
					c.TCP6InUse = v
				}
			}) {
				return false
			}
		case !v4 && string(name) == "UDP6:":
			udpSeen = true
			if !pairs(rest, func(k []byte, v int) {
				if string(k) == "inuse" {
					c.UDP6InUse = v
				}
			}) {
				return false
			}
		}
	}
	return tcpSeen && udpSeen
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// nextField returns the first space-separated field of b and the rest.
func nextField(b []byte) (field, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	i := 0
	for i < len(b) && b[i] != ' ' {
		i++
	}
	return b[:i], b[i:]
}

// pairs calls f with each "name value" pair of b; false when a value is
// not a number.
func pairs(b []byte, f func(k []byte, v int)) bool {
	for {
		var k, v []byte
		k, b = nextField(b)
		if len(k) == 0 {
			return true
		}
		v, b = nextField(b)
		if len(v) == 0 {
			return false
		}
		n := 0
		for _, d := range v {
			if d < '0' || d > '9' {
				return false
			}
			n = n*10 + int(d-'0')
		}
		f(k, n)
	}
}

// ErrNoPatch means Netlink.Patch cannot vouch for a table built without
// a dump: the caller walks instead.
var ErrNoPatch = errors.New("the table cannot be patched")

// PatchCounts is what Patch counted: the table it built, counted as the
// kernel counts a namespace's sockets (see SockCounters), and the
// kernel's counters read after its lookups. For a table a kernel filter
// narrowed, which holds too few sockets to count, Table is what the
// table vouches for: the kernel's TCP counters (every TCP change has an
// event) and the base's UDP ones (a UDP bind or close has none). Only the protocols and
// families the source dumps are counted; the others are zero in both.
type PatchCounts struct {
	Table, Kernel SockCounters
	// At is when the kernel's counters were read.
	At time.Time
	// Origin is, for each row of the patched table, the index of the row
	// of prev it was kept from, unchanged, or -1 for a row the kernel
	// answered for: the kept rows are in prev's order. It is nil when
	// rows were dropped after (duplicates, TIME_WAIT ended early). It is
	// the source's, until its next Patch.
	Origin []int32
}

// Within reports whether the table and the kernel's counters are at most
// tcp apart in each TCP counter and udp in each UDP one: the numbers of
// TCP and UDP sockets the caller heard of changing while Patch ran
// (their events and destroy records read after it), each of which moves
// a counter of its protocol by one at most. A socket that came or went
// unannounced moves one more, and a slack of 0 lets none by.
func (p PatchCounts) Within(tcp, udp int) bool {
	t, k := p.Table, p.Kernel
	for i, d := range [...]int{t.TCPInUse - k.TCPInUse, t.TCP6InUse - k.TCP6InUse, t.TCPTimeWait - k.TCPTimeWait,
		t.UDPInUse - k.UDPInUse, t.UDP6InUse - k.UDP6InUse} {
		slack := tcp
		if i >= 3 {
			slack = udp
		}
		if d > slack || -d > slack {
			return false
		}
	}
	return true
}
