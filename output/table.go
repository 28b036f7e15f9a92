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
	columns := onceColumns[:]
	if ManyNetNS(snap.Sockets) {
		columns = netnsColumns[:]
	}
	last := len(columns) - 1
	var width [len(netnsColumns)]int
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
