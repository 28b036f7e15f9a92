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

// WriteTable prints the snapshot as a netstat-like table, with the header
// line unless header is false (-H, for `| wc -l`). Column widths fit the
// widest cell; rows are formatted into one reused buffer, with no
// allocation per row. A cell the source could not know prints as "?".
func WriteTable(w io.Writer, snap *collect.Snapshot, header bool) error {
	return WriteTableWith(w, snap, TableOptions{Header: header})
}

// TableOptions is what a --once table shows beyond its usual columns.
type TableOptions struct {
	// Header prints the column titles first.
	Header bool
	// Rates adds the Send/s and Recv/s columns, before Process.
	Rates bool
	// Info prints, under each socket with tcp_info, an indented line of
	// its internals as ss -i does (see AppendInfo), with its rates when
	// Rates is set too.
	Info bool
}

// WriteTableWith prints the snapshot as WriteTable does, with what o asks
// for.
func WriteTableWith(w io.Writer, snap *collect.Snapshot, o TableOptions) error {
	header := o.Header
	columns := onceColumns[:]
	if ManyNetNS(snap.Sockets) {
		columns = netnsColumns[:]
	}
	if o.Rates {
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
	var cells Cells
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
		line = append(line, '\n')
		if o.Info && s.Info != nil {
			line = AppendInfo(append(line, '\t'), s, o.Rates)
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
