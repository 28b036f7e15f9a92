package main

import (
	"bufio"
	"io"
	"strconv"

	"socktop/collect"
)

// tableHeader names the columns of `socktop --once`, netstat's order.
var tableHeader = [...]string{"Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State", "PID/Program", "Timer"}

// writeTable prints the snapshot as a netstat-like table. Column widths fit
// the widest cell; rows are formatted into one reused buffer so that 100k
// sockets cost no allocation per row.
func writeTable(w io.Writer, snap *collect.Snapshot) error {
	var width [len(tableHeader)]int
	for i, h := range tableHeader {
		width[i] = len(h)
	}
	scratch := make([]byte, 0, 256)
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		for c := 0; c < len(tableHeader)-1; c++ {
			scratch = appendCell(scratch[:0], s, c)
			width[c] = max(width[c], len(scratch))
		}
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 256)
	for c, h := range tableHeader {
		line = appendPadded(line, []byte(h), width[c], c, c == len(tableHeader)-1)
	}
	line = append(line, '\n')
	bw.Write(line)
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		line = line[:0]
		for c := range tableHeader {
			scratch = appendCell(scratch[:0], s, c)
			line = appendPadded(line, scratch, width[c], c, c == len(tableHeader)-1)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// rightAligned marks the numeric columns, which netstat right-aligns.
func rightAligned(col int) bool { return col == 1 || col == 2 }

// appendPadded appends one cell padded to its column width, with two
// spaces between columns; the last column is not padded.
func appendPadded(b, cell []byte, width, col int, last bool) []byte {
	pad := width - len(cell)
	if rightAligned(col) {
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

// appendCell appends the text of column col for socket s.
func appendCell(b []byte, s *collect.Socket, col int) []byte {
	switch col {
	case 0:
		b = append(b, s.Proto.String()...)
		if s.Family == 6 {
			b = append(b, '6')
		}
	case 1:
		b = strconv.AppendUint(b, uint64(s.RecvQ), 10)
	case 2:
		b = strconv.AppendUint(b, uint64(s.SendQ), 10)
	case 3:
		b = collect.AppendAddr(b, s.Local, s.Family)
	case 4:
		b = collect.AppendAddr(b, s.Remote, s.Family)
	case 5:
		b = append(b, s.State.Canonical().String()...)
	case 6:
		b = collect.AppendOwners(b, s.Owners)
	case 7:
		b = collect.AppendTimer(b, s)
	}
	return b
}
