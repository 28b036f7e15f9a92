package output

import (
	"net/netip"
	"strconv"

	"socktop/collect"
)

// Column is one column of a socket table. The live table and the --once
// table take their titles and cells from here, so a cell says the same in
// both; each lays its columns out in its own order. The constants are in
// the live table's order.
type Column uint8

// The columns of a socket table.
const (
	ColProto Column = iota
	ColState
	ColRecvQ
	ColSendQ
	ColLocal
	ColForeign
	ColProcess
	ColTimer
	// ColNetNS is the socket's network namespace: its name, else its
	// inode. Tables show it when their rows span several namespaces.
	ColNetNS
	// ColSendRate and ColRecvRate are a TCP connection's throughput since
	// the previous snapshot (collect.Socket.Rate), in decimal bytes per
	// second: "2.00MB" under Send/s is 2,000,000 bytes a second. Tables
	// show them when asked, since they need tcp_info on every socket.
	ColSendRate
	ColRecvRate
	NumColumns
)

// Form is how much a cell says, for the kind of table it goes into.
type Form uint8

const (
	// Plain is the --once table's form: no cell is empty, so that a row
	// splits into the same fields for awk; an idle timer is "off".
	Plain Form = iota
	// Live is the terminal's form from 120 columns: an idle timer is
	// blank, so that the running ones stand out.
	Live
	// Narrow is the terminal's form below 120 columns: as Live, with
	// "tcp" for tcp6 (the address shows the family) and the timer's kind
	// abbreviated ("tw 58.1s"), without its retransmit count.
	Narrow
)

// colDef is what a column is, whatever table shows it.
type colDef struct {
	title, short string
	right        bool           // a figure, right-aligned
	field        collect.Fields // the field a source may not know; 0 if none
	narrow, wide int            // the live table's width hints (Narrow, Live)
}

var colDefs = [NumColumns]colDef{
	ColProto:   {title: "Proto", short: "Pro", narrow: 3, wide: 5},
	ColState:   {title: "State", short: "St", narrow: 11, wide: 11},
	ColRecvQ:   {title: "Recv-Q", short: "RQ", right: true, field: collect.FieldRecvQ, narrow: 6, wide: 7},
	ColSendQ:   {title: "Send-Q", short: "SQ", right: true, field: collect.FieldSendQ, narrow: 6, wide: 7},
	ColLocal:   {title: "Local", short: "Loc"},
	ColForeign: {title: "Foreign", short: "For"},
	ColProcess: {title: "Process", short: "Proc", field: collect.FieldOwners, narrow: 9, wide: 24},
	ColTimer:   {title: "Timer", short: "Tmr", field: collect.FieldTimer, narrow: 8, wide: 17},
	ColNetNS:   {title: "NetNS", short: "NS", narrow: 10, wide: 16},
	// AppendRate's figures are at most six wide ("12.3MB"); the wide
	// form has room for the title and its sort arrow too.
	ColSendRate: {title: "Send/s", short: "Snd/s", right: true, narrow: 6, wide: 8},
	ColRecvRate: {title: "Recv/s", short: "Rcv/s", right: true, narrow: 6, wide: 8},
}

// String returns the column's title.
func (c Column) String() string { return colDefs[c].title }

// Short returns the title for a column narrower than its title.
func (c Column) Short() string { return colDefs[c].short }

// Right reports whether the column holds figures, which are right-aligned.
func (c Column) Right() bool { return colDefs[c].right }

// Width returns how many cells the live table gives the column in form f
// (Live or Narrow) before it shares out what is left. It is 0 for Local
// and Foreign, which get what their addresses need, and in the Plain
// form, whose columns fit their widest cell.
func (c Column) Width(f Form) int {
	switch f {
	case Narrow:
		return colDefs[c].narrow
	case Live:
		return colDefs[c].wide
	}
	return 0
}

// shortTimer are the timer kinds in the Narrow form, by collect.Timer.
var shortTimer = [...]string{"off", "on", "ka", "tw", "pr"}

// Cells formats the cells of a table's rows into a caller's buffer,
// without allocating when the buffer is large enough. Its zero value is
// ready; it may be copied. It remembers the last address of each of Local and Foreign: the
// rows of a table share a few addresses, and formatting an IPv6 address
// costs more than copying its text.
type Cells struct {
	// Names, when set, names the hosts and ports of Local and Foreign.
	Names Namer
	memo  [2]addrMemo
	// cache, when set, takes the place of memo: a table writer that
	// formats every socket of a host gives its Cells one.
	cache *addrCache
}

// Append appends the text of column col for socket s, in form f: "?"
// when the source could not know the field, "-" for a socket no process
// holds, the first owner as "name/pid" and "+N" for N more. A Unix
// socket's Proto is ss's Netid (u_str, u_dgr, u_seq), its Local the path
// ("*" when unnamed) and inode, "/run/x.sock:1234", and its Foreign the
// peer's inode, "*:1235", or "*" when it has no peer. A rate is "?"
// while unknown (one snapshot of the connection so far) and, for a socket
// without tcp_info (UDP, TIME_WAIT, a Unix socket), blank in the live
// forms and "-" in Plain.
func (cs *Cells) Append(b []byte, col Column, s *collect.Socket, f Form) []byte {
	if fl := colDefs[col].field; fl != 0 && !s.Known(fl) {
		return append(b, '?')
	}
	if col == ColSendRate || col == ColRecvRate {
		return appendRateCell(b, col, s, f)
	}
	if s.Proto == collect.Unix {
		switch col {
		case ColProto:
			return append(b, unixNetid(s.Type, f)...)
		case ColLocal:
			return appendUnixEnd(b, s.Path, s.Inode)
		case ColForeign:
			if s.PeerInode == 0 {
				return append(b, '*')
			}
			return appendUnixEnd(b, "", s.PeerInode)
		}
	}
	switch col {
	case ColProto:
		b = append(b, s.Proto.String()...)
		if s.Family == 6 && f != Narrow {
			b = append(b, '6')
		}
	case ColState:
		b = append(b, s.State.Canonical().String()...)
	case ColRecvQ:
		b = strconv.AppendUint(b, uint64(s.RecvQ), 10)
	case ColSendQ:
		b = strconv.AppendUint(b, uint64(s.SendQ), 10)
	case ColLocal:
		if cs.Names != nil {
			return AppendNamedAddr(b, s.Local, s.Family, s.Proto, cs.Names)
		}
		if cs.cache != nil {
			return cs.cache.append(0, b, s.Local, s.Family)
		}
		b = cs.memo[0].append(b, s.Local, s.Family)
	case ColForeign:
		if cs.Names != nil {
			return AppendNamedAddr(b, s.Remote, s.Family, s.Proto, cs.Names)
		}
		if cs.cache != nil {
			return cs.cache.append(1, b, s.Remote, s.Family)
		}
		b = cs.memo[1].append(b, s.Remote, s.Family)
	case ColProcess:
		if len(s.Owners) == 0 {
			return append(b, '-')
		}
		b = AppendOwner(b, s.Owners[0])
		if len(s.Owners) > 1 {
			b = append(b, ' ', '+')
			b = strconv.AppendInt(b, int64(len(s.Owners)-1), 10)
		}
	case ColNetNS:
		switch {
		case s.NetNS.Name != "":
			b = append(b, s.NetNS.Name...)
		case s.NetNS.Inode != 0:
			b = strconv.AppendUint(b, uint64(s.NetNS.Inode), 10)
		default:
			b = append(b, '?')
		}
	case ColTimer:
		switch {
		case s.Timer == collect.TimerOff && f != Plain:
		case f == Narrow && int(s.Timer) < len(shortTimer):
			b = append(b, shortTimer[s.Timer]...)
			b = append(b, ' ')
			b = AppendDuration(b, s.TimerLeft)
		default:
			b = AppendTimer(b, s)
		}
	}
	return b
}

// appendRateCell appends the Send/s or Recv/s cell of s in form f.
func appendRateCell(b []byte, col Column, s *collect.Socket, f Form) []byte {
	switch {
	case s.Rate != nil && col == ColSendRate:
		return AppendRate(b, s.Rate.Send)
	case s.Rate != nil:
		return AppendRate(b, s.Rate.Recv)
	case s.Info != nil:
		return append(b, '?')
	case f == Plain:
		return append(b, '-')
	}
	return b
}

// rateUnits are the decimal prefixes of AppendRate, from kilo.
const rateUnits = "kMGTP"

// AppendRate appends a figure in bytes (a rate: bytes per second) with
// three significant digits and a decimal prefix: "512B", "1.50kB",
// "20.0MB", "125MB", "1.25GB".
func AppendRate(b []byte, v float64) []byte {
	if v < 999.5 {
		return append(strconv.AppendInt(b, int64(max(v, 0)+0.5), 10), 'B')
	}
	u := -1
	for v >= 999.5 && u < len(rateUnits)-1 {
		v /= 1000
		u++
	}
	prec := 0
	switch {
	case v < 9.995:
		prec = 2
	case v < 99.95:
		prec = 1
	}
	b = strconv.AppendFloat(b, v, 'f', prec, 64)
	return append(b, rateUnits[u], 'B')
}

// unixNetid returns ss's Netid for a Unix socket of type t (u_str,
// u_dgr, u_seq), shortened to three letters in the Narrow form, or
// "unix" for a type ss has no name for.
func unixNetid(t collect.SockType, f Form) string {
	var long, short string
	switch t {
	case collect.SockStream:
		long, short = "u_str", "u_s"
	case collect.SockDgram:
		long, short = "u_dgr", "u_d"
	case collect.SockSeqpacket:
		long, short = "u_seq", "u_q"
	default:
		return "unix"
	}
	if f == Narrow {
		return short
	}
	return long
}

// appendUnixEnd appends one end of a Unix socket as ss's Address:Port
// columns show it: the path ("*" when unnamed) and the inode.
func appendUnixEnd(b []byte, path string, inode uint32) []byte {
	if path == "" {
		b = append(b, '*')
	} else {
		b = AppendPath(b, path)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(inode), 10)
}

// AppendPath appends a Unix socket's path for a terminal: a control
// character (an abstract name may hold any byte) becomes '?', so that a
// name cannot move the cursor or recolour the screen.
func AppendPath(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}

// AppendOwner appends a process that holds a socket as "name/pid", the
// form of every table and of the detail view.
func AppendOwner(b []byte, o collect.Owner) []byte {
	b = append(b, o.Name...)
	b = append(b, '/')
	return strconv.AppendInt(b, int64(o.PID), 10)
}

// addrMemo remembers the text of the last address formatted in a column.
// The text is held in the memo itself, so that a copied Cells shares
// nothing with the original.
type addrMemo struct {
	a   netip.Addr
	fam uint8
	n   int      // the length of the text; 0 when nothing is remembered
	buf [80]byte // the address and its colon, as AppendAddr writes them
}

// text returns AppendAddr's text of a up to its port, "addr:", from the
// memo when a is the address of the previous call.
func (m *addrMemo) text(a netip.Addr, fam uint8) []byte {
	if m.n != 0 && a == m.a && fam == m.fam {
		return m.buf[:m.n]
	}
	// Port 1 is never elided, so the text is "addr:1"; keep "addr:".
	text := AppendAddr(m.buf[:0], netip.AddrPortFrom(a, 1), fam)
	text = text[:len(text)-1]
	m.a, m.fam, m.n = a, fam, len(text)
	if len(text) > len(m.buf) {
		// Longer than an IPv6 address with the longest zone: AppendAddr
		// wrote it elsewhere, so it is not remembered.
		m.n = 0
	}
	return text
}

// append appends ap as AppendAddr does, reusing the address text when the
// address is the one of the previous call.
func (m *addrMemo) append(b []byte, ap netip.AddrPort, fam uint8) []byte {
	a := ap.Addr()
	b = append(b, m.text(a, fam)...)
	if ap.Port() == 0 && (!a.IsValid() || a.IsUnspecified()) {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// len returns the length of what append would append for ap.
func (m *addrMemo) len(ap netip.AddrPort, fam uint8) int {
	a := ap.Addr()
	n := len(m.text(a, fam))
	if ap.Port() == 0 && (!a.IsValid() || a.IsUnspecified()) {
		return n + 1
	}
	return n + decLen(uint64(ap.Port()))
}
