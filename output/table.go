package output

import (
	"bufio"
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
// widths fit the widest cell; rows are formatted into one reused buffer,
// with no allocation per row. A cell the source could not know prints as
// "?". The -o and -e fields follow the last column, as in ss.
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
	scratch := make([]byte, 0, 256)
	cells := Cells{Names: opt.Names}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		for j, c := range columns[:last] {
			scratch = cells.Append(scratch[:0], c, s, Plain)
			width[j] = max(width[j], len(scratch))
		}
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 256)
	if header {
		for j, c := range columns {
			line = appendPadded(line, []byte(c.String()), width[j], c.Right(), j == last)
		}
		line = append(line, '\n')
		bw.Write(line)
	}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		line = line[:0]
		for j, c := range columns {
			scratch = cells.Append(scratch[:0], c, s, Plain)
			line = appendPadded(line, scratch, width[j], c.Right(), j == last)
		}
		if opt.Options && s.Proto != collect.Unix && (s.Timer != collect.TimerOff || !s.Known(collect.FieldTimer)) {
			line = AppendSSTimer(append(line, ' '), s)
		}
		if opt.Extended {
			line = AppendSSDetails(append(line, ' '), s)
		}
		line = append(line, '\n')
		if opt.Info && s.Info != nil {
			line = AppendInfo(append(line, '\t'), s, opt.Rates)
			line = append(line, '\n')
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendPadded appends one cell padded to its column width, with two
// spaces between columns; the last column is not padded.
func appendPadded(b, cell []byte, width int, right, last bool) []byte {
	pad := width - len(cell)
	if right {
		for ; pad > 0; pad-- {
			b = append(b, ' ')
		}
		b = append(b, cell...)
	} else {
		b = append(b, cell...)
		if !last {
			for ; pad > 0; pad-- {
				b = append(b, ' ')
			}
		}
	}
	if !last {
		b = append(b, ' ', ' ')
	}
	return b
}
