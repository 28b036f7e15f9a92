package output

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"

	"socktop/collect"
)

// tableHeader names the columns of `socktop --once`, netstat's order.
var tableHeader = [...]string{"Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State", "PID/Program", "Timer"}

// WriteTable prints the snapshot as a netstat-like table, with the header
// line unless header is false (-H, for `| wc -l`). Column widths fit the
// widest cell; rows are formatted into one reused buffer so that 100k
// sockets cost no allocation per row. A cell the source could not know
// prints as "?".
func WriteTable(w io.Writer, snap *collect.Snapshot, header bool) error {
	var width [len(tableHeader)]int
	if header {
		for i, h := range tableHeader {
			width[i] = len(h)
		}
	}
	scratch := make([]byte, 0, 256)
	var memo [2]addrMemo
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		for c := 0; c < len(tableHeader)-1; c++ {
			scratch = appendCell(scratch[:0], s, c, &memo)
			width[c] = max(width[c], len(scratch))
		}
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 256)
	if header {
		for c, h := range tableHeader {
			line = appendPadded(line, []byte(h), width[c], c, c == len(tableHeader)-1)
		}
		line = append(line, '\n')
		bw.Write(line)
	}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		line = line[:0]
		for c := range tableHeader {
			scratch = appendCell(scratch[:0], s, c, &memo)
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

// addrMemo remembers the text of the last address formatted in a column.
// A table's rows share a few local and peer addresses, and formatting IPv6
// addresses was most of the table's cost at 100k rows.
type addrMemo struct {
	a     netip.Addr
	fam   uint8
	valid bool
	text  []byte // the address and its colon, as AppendAddr writes them
}

// append appends ap as AppendAddr does, reusing the address text
// when the address is the one of the previous call.
func (m *addrMemo) append(b []byte, ap netip.AddrPort, fam uint8) []byte {
	a := ap.Addr()
	if !m.valid || a != m.a || fam != m.fam {
		// Port 1 is never elided, so the text is "addr:1"; keep "addr:".
		m.text = AppendAddr(m.text[:0], netip.AddrPortFrom(a, 1), fam)
		m.text = m.text[:len(m.text)-1]
		m.a, m.fam, m.valid = a, fam, true
	}
	b = append(b, m.text...)
	if ap.Port() == 0 && (!a.IsValid() || a.IsUnspecified()) {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// cellField is the Socket field each column shows, for the columns a
// source may not know.
var cellField = [len(tableHeader)]collect.Fields{
	1: collect.FieldRecvQ, 2: collect.FieldSendQ, 6: collect.FieldOwners, 7: collect.FieldTimer,
}

// appendCell appends the text of column col for socket s, or "?" when the
// source could not know it; memo holds the Local and Foreign columns'
// address memos.
func appendCell(b []byte, s *collect.Socket, col int, memo *[2]addrMemo) []byte {
	if f := cellField[col]; f != 0 && !s.Known(f) {
		return append(b, '?')
	}
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
		b = memo[0].append(b, s.Local, s.Family)
	case 4:
		b = memo[1].append(b, s.Remote, s.Family)
	case 5:
		b = append(b, s.State.Canonical().String()...)
	case 6:
		b = AppendOwners(b, s.Owners)
	case 7:
		b = AppendTimer(b, s)
	}
	return b
}
