package output

import (
	"io"

	"socktop/collect"
)

// onceColumns are the columns of `socktop --once`, in netstat's order.
var onceColumns = [...]Column{ColProto, ColRecvQ, ColSendQ, ColLocal, ColForeign, ColState, ColProcess, ColTimer}

// netnsColumns are onceColumns with NetNS first, for rows of several
// network namespaces.
var netnsColumns = [...]Column{ColNetNS, ColProto, ColRecvQ, ColSendQ, ColLocal, ColForeign, ColState, ColProcess, ColTimer}

// ManyNetNS reports whether the sockets live in more than one network
// namespace, when a table shows the NetNS column.
func ManyNetNS(socks []collect.Socket) bool {
	for i := 1; i < len(socks); i++ {
		if socks[i].NetNS.Inode != socks[0].NetNS.Inode {
			return true
		}
	}
	return false
}

// TableOptions are what the command line asks of the --once table.
type TableOptions struct {
	// Header is the header line (false for -H, for `| wc -l`).
	Header bool
	// Names, when set, names hosts and ports (-r, --services); the
	// column widths fit the names.
	Names Namer
	// Options (-o) appends ss's timer:(...) to each row with a running
	// timer; Extended (-e) appends ss's uid:N ino:N sk:COOKIE.
	Options, Extended bool
	// Rates adds the Send/s and Recv/s columns, before Process.
	Rates bool
	// Info prints, under each socket with tcp_info, an indented line of
	// its internals as ss -i does (see AppendInfo), with its rates when
	// Rates is set too.
	Info bool
}

// WriteTable prints the snapshot as a netstat-like table, with the header
// line unless header is false; it is WriteTableWith with only the header
// chosen.
func WriteTable(w io.Writer, snap *collect.Snapshot, header bool) error {
	return WriteTableWith(w, snap, TableOptions{Header: header})
}

// WriteTableWith prints the snapshot as a netstat-like table. Column
// widths fit the widest cell; they are counted (Cells.Len) rather than
// formatted, and the rows are then formatted straight into one output
// buffer, with no allocation per row. A cell the source could not know
// prints as "?". The -o and -e fields follow the last column, as in ss.
func WriteTableWith(w io.Writer, snap *collect.Snapshot, opt TableOptions) error {
	header := opt.Header
	columns := onceColumns[:]
	if ManyNetNS(snap.Sockets) {
		columns = netnsColumns[:]
	}
	if opt.Rates {
		at := len(columns) - 2 // before Process and Timer
		columns = append(append(append([]Column(nil), columns[:at]...), ColSendRate, ColRecvRate), columns[at:]...)
	}
	last := len(columns) - 1
	var width [len(netnsColumns) + 2]int
	if header {
		for i, c := range columns {
			width[i] = len(c.String())
		}
	}
	cells := Cells{Names: opt.Names, cache: new(addrCache)}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		for j, c := range columns[:last] {
			width[j] = max(width[j], cells.Len(c, s, Plain))
		}
	}

	const flushAt = 64 << 10
	b := make([]byte, 0, flushAt+4096)
	if header {
		for j, c := range columns {
			b = appendPadded(b, []byte(c.String()), width[j], c.Right(), j == last)
		}
		b = append(b, '\n')
	}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		for j, c := range columns {
			at := len(b)
			b = cells.Append(b, c, s, Plain)
			pad := width[j] - (len(b) - at)
			switch {
			case c.Right():
				if pad > 0 {
					b = padLeft(b, at, pad)
				}
				if j != last {
					b = append(b, ' ', ' ')
				}
			case j != last:
				b = appendSpaces(b, pad+2)
			}
		}
		if opt.Options && s.Proto != collect.Unix && (s.Timer != collect.TimerOff || !s.Known(collect.FieldTimer)) {
			b = AppendSSTimer(append(b, ' '), s)
		}
		if opt.Extended {
			b = AppendSSDetails(append(b, ' '), s)
		}
		b = append(b, '\n')
		if opt.Info && s.Info != nil {
			b = AppendInfo(append(b, '\t'), s, opt.Rates)
			b = append(b, '\n')
		}
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

// spaces is the padding appendSpaces and padLeft copy from.
const spaces = "                                                                "

// appendSpaces appends n spaces (none when n is not positive).
func appendSpaces(b []byte, n int) []byte {
	for n > len(spaces) {
		b = append(b, spaces...)
		n -= len(spaces)
	}
	if n > 0 {
		b = append(b, spaces[:n]...)
	}
	return b
}

// padLeft right-aligns the cell that starts at b[at:] by moving it pad
// spaces to the right.
func padLeft(b []byte, at, pad int) []byte {
	n := len(b)
	b = appendSpaces(b, pad)
	copy(b[at+pad:], b[at:n])
	copy(b[at:at+pad], spaces)
	for k := at + len(spaces); k < at+pad; k++ {
		b[k] = ' '
	}
	return b
}

// appendPadded appends one cell padded to its column width, with two
// spaces between columns; the last column is not padded.
func appendPadded(b, cell []byte, width int, right, last bool) []byte {
	pad := width - len(cell)
	if right {
		b = appendSpaces(b, pad)
		b = append(b, cell...)
	} else {
		b = append(b, cell...)
		if !last {
			b = appendSpaces(b, pad)
		}
	}
	if !last {
		b = append(b, ' ', ' ')
	}
	return b
}
