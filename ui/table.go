package ui

import (
	"cmp"
	"net/netip"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/output"
)

// column is one column of the socket table, as output's column model
// defines it; the order is the order `s` cycles through.
type column = output.Column

const (
	colProto    = output.ColProto
	colState    = output.ColState
	colRecvQ    = output.ColRecvQ
	colSendQ    = output.ColSendQ
	colLocal    = output.ColLocal
	colForeign  = output.ColForeign
	colProcess  = output.ColProcess
	colTimer    = output.ColTimer
	colNetNS    = output.ColNetNS
	colSendRate = output.ColSendRate
	colRecvRate = output.ColRecvRate
	numColumns  = output.NumColumns
)

// rowMark says how a row changed at the last refreshes. The first three
// values are collect.Mark's.
type rowMark uint8

const (
	markSame    = rowMark(collect.MarkSame)
	markNew     = rowMark(collect.MarkNew)
	markChanged = rowMark(collect.MarkChanged)
	markGone    = markChanged + 1
)

// markChar is the marker column: marks stay visible without colour.
var markChar = [...]byte{' ', '+', '*', '-'}

// fullChar marks a listener whose accept queue is full.
const fullChar = '!'

// row is one line of the table: a socket of the current snapshot (or a gone
// one kept for a few refreshes) and its mark.
type row struct {
	s    *collect.Socket
	key  sortKey
	mark rowMark
	// full: a listener whose accept queue is full.
	full bool
	// idx is the row's index in the shown snapshot, -1 for a gone row.
	idx int32
}

// cmpKey orders sockets by identity; it is the tie-break that keeps the
// ordering stable between refreshes. Listeners sharing a port with
// SO_REUSEPORT have the same Key, so inode and cookie break that tie.
func cmpKey(a, b *collect.Socket) int {
	if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	if c := a.Local.Compare(b.Local); c != 0 {
		return c
	}
	if c := a.Remote.Compare(b.Remote); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Inode, b.Inode); c != 0 {
		return c
	}
	return cmp.Compare(a.Cookie, b.Cookie)
}

func ownerName(s *collect.Socket) (string, int) {
	if len(s.Owners) == 0 {
		return "", 0
	}
	return s.Owners[0].Name, s.Owners[0].PID
}

// cmpBy compares two sockets by one column, then by key.
func cmpBy(col column, a, b *collect.Socket) int {
	c := 0
	switch col {
	case colProto:
		if c = cmp.Compare(a.Proto, b.Proto); c == 0 {
			c = cmp.Compare(a.Family, b.Family)
		}
	case colState:
		c = strings.Compare(a.State.Canonical().String(), b.State.Canonical().String())
	case colRecvQ:
		c = cmp.Compare(a.RecvQ, b.RecvQ)
	case colSendQ:
		c = cmp.Compare(a.SendQ, b.SendQ)
	case colLocal:
		if c = a.Local.Compare(b.Local); c == 0 {
			c = strings.Compare(a.Path, b.Path) // Unix sockets have no address
		}
	case colForeign:
		if c = a.Remote.Compare(b.Remote); c == 0 {
			c = cmp.Compare(a.PeerInode, b.PeerInode)
		}
	case colProcess:
		an, ap := ownerName(a)
		bn, bp := ownerName(b)
		if c = strings.Compare(an, bn); c == 0 {
			c = cmp.Compare(ap, bp)
		}
	case colTimer:
		if c = cmp.Compare(a.Timer, b.Timer); c == 0 {
			c = cmp.Compare(a.TimerLeft, b.TimerLeft)
		}
	case colNetNS:
		if c = strings.Compare(a.NetNS.Name, b.NetNS.Name); c == 0 {
			c = cmp.Compare(a.NetNS.Inode, b.NetNS.Inode)
		}
	case colSendRate, colRecvRate:
		c = cmp.Compare(rateRank(col, a), rateRank(col, b))
	}
	if c != 0 {
		return c
	}
	return cmpKey(a, b)
}

// colSpec is a column as laid out for one terminal width.
type colSpec struct {
	col   column
	width int
	right bool
}

// colNeed is what the rows ask of the layout, measured over every row
// of the table (not only the visible ones, so the columns do not change
// width, or their titles, while scrolling). rebuildRows adds each row as
// it filters the snapshot, while the socket is in the cache anyway.
type colNeed struct {
	local, foreign int  // widest address; 0 when unknown
	recvQ, sendQ   int  // widest queue figure
	timer, process bool // some row has a timer, an owner (or an unknown one)
	// netns is set when the snapshot spans several network namespaces:
	// the NetNS column is shown then.
	netns bool
	// rates is set while the rate columns are asked for (the t key).
	rates bool
	// names, when set, is what the addresses are measured with: the
	// table shows names, and the widths fit them.
	names output.Namer

	// v6 and v6Len remember, per end (local, foreign), the text width of
	// the last IPv6 address measured: formatting one is the dear part of
	// measuring, and a table repeats a few addresses (::1, a host's own)
	// over and over.
	v6    [2]netip.Addr
	v6Len [2]int
}

// add widens n for one more row.
func (n *colNeed) add(s *collect.Socket) {
	if s.Proto == collect.Unix {
		// output.Cells: "path:inode" (or "*:inode"), and "*:peer" or "*".
		n.local = max(n.local, max(len(s.Path), 1)+1+digits(s.Inode))
		if s.PeerInode != 0 {
			n.foreign = max(n.foreign, 2+digits(s.PeerInode))
		} else {
			n.foreign = max(n.foreign, 1)
		}
	} else if n.names != nil {
		var buf [96]byte
		n.local = max(n.local, len(output.AppendNamedAddr(buf[:0], s.Local, s.Family, s.Proto, n.names)))
		n.foreign = max(n.foreign, len(output.AppendNamedAddr(buf[:0], s.Remote, s.Family, s.Proto, n.names)))
	} else {
		n.local = max(n.local, n.addrLen(0, s.Local, s.Family))
		n.foreign = max(n.foreign, n.addrLen(1, s.Remote, s.Family))
	}
	n.recvQ = max(n.recvQ, digits(s.RecvQ))
	n.sendQ = max(n.sendQ, digits(s.SendQ))
	n.timer = n.timer || s.Timer != collect.TimerOff || !s.Known(collect.FieldTimer)
	n.process = n.process || len(s.Owners) > 0 || !s.Known(collect.FieldOwners)
}

// measureRows finds the widest addresses and which optional columns have
// anything to show.
func measureRows(rows []row) colNeed {
	var n colNeed
	for i := range rows {
		n.add(rows[i].s)
	}
	return n
}

// addrLen is len(output.AppendAddr(ap, family)), counted rather than
// formatted, since it runs on every row of every refresh; end picks the
// memo (0 local, 1 foreign).
func (n *colNeed) addrLen(end int, ap netip.AddrPort, family uint8) int {
	a := ap.Addr()
	if !a.IsValid() {
		var buf [64]byte
		return len(output.AppendAddr(buf[:0], ap, family))
	}
	var w int
	if a.Is4() {
		w = 4 // three dots and the colon
		for _, o := range a.As4() {
			w += digits(uint32(o))
		}
	} else {
		if a != n.v6[end] || n.v6Len[end] == 0 {
			var buf [64]byte
			n.v6[end], n.v6Len[end] = a, len(a.AppendTo(buf[:0]))
		}
		w = n.v6Len[end] + 3 // the brackets and the colon
	}
	if ap.Port() == 0 && a.IsUnspecified() {
		return w + 1 // "*"
	}
	return w + digits(uint32(ap.Port()))
}

// digits is the width of a queue figure ("?" when unknown is 1 wide too).
func digits(v uint32) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// layout picks the columns and their widths for a terminal width: all of
// them from 80 columns, then without Timer, Process and the queues as the
// terminal narrows. Local and Foreign get what the rows need, up to a
// cap; when they do not fit, a column with nothing to show (no timer, no
// owner) goes first, then Process shrinks, and only then is an address
// cut, because the address is what people read.
func layout(width int, need colNeed) (cols []colSpec, wide bool) {
	wide = width >= 120
	form := output.Narrow
	if wide {
		form = output.Live
	}
	w := map[column]int{}
	for c := range numColumns {
		if c != colLocal && c != colForeign {
			w[c] = c.Width(form)
		}
	}
	order := []column{colProto, colState, colRecvQ, colSendQ, colLocal, colForeign, colSendRate, colRecvRate, colNetNS, colProcess, colTimer}
	drop := map[column]bool{colNetNS: !need.netns, colSendRate: !need.rates, colRecvRate: !need.rates}
	// The rates were asked for; below 120 columns the timer makes room.
	if width < 80 || need.rates && width < 120 {
		drop[colTimer] = true
	}
	if width < 68 {
		drop[colProcess], drop[colNetNS] = true, true
	}
	if width < 54 {
		drop[colRecvQ], drop[colSendQ] = true, true
	}
	avail := width - 2 // marker and its gap
	flexFor := func() int {
		fixed, n := 0, 0
		for _, c := range order {
			if drop[c] {
				continue
			}
			n++
			fixed += w[c]
		}
		return avail - fixed - (n - 1)
	}
	// Addresses beyond these widths are rare (21 is 255.255.255.255:65535),
	// so the rest of a wide terminal goes to the process names.
	maxAddr := 21
	if wide {
		maxAddr = 32
	}
	want := func(need int) int {
		if need <= 0 {
			return 21 // no rows yet: room for an IPv4 address
		}
		return min(max(need, len("Local")+1), max(maxAddr, need))
	}
	const minProcess = 6
	local, foreign := want(need.local), want(need.foreign)
	spare := func() int {
		if drop[colProcess] {
			return 0
		}
		return w[colProcess] - minProcess
	}
	// Empty columns give their room to the addresses first.
	if local+foreign > flexFor()+spare() {
		if !drop[colTimer] && !need.timer && need.local > 0 {
			drop[colTimer] = true
		}
		if !drop[colProcess] && !need.process && need.local > 0 && local+foreign > flexFor()+spare() {
			drop[colProcess] = true
		}
		// Then the queues give up what their figures do not use (their
		// titles shorten to RQ and SQ).
		for _, q := range [][2]int{{int(colRecvQ), need.recvQ}, {int(colSendQ), need.sendQ}} {
			c := column(q[0])
			if over := local + foreign - flexFor() - spare(); over > 0 && !drop[c] && need.local > 0 {
				w[c] -= min(over, w[c]-max(q[1], len(c.Short())))
			}
		}
	}
	flex := flexFor()
	switch {
	case local+foreign <= flex:
		// Room to spare: Process gets it, or the addresses when Process
		// is not shown.
		rest := flex - local - foreign
		if drop[colProcess] {
			local += rest / 2
			foreign += rest - rest/2
		} else {
			// Past a generous width, process names gain nothing and the
			// timer drifts away from the row it belongs to.
			w[colProcess] = min(w[colProcess]+rest, max(w[colProcess], 40))
		}
	case local+foreign <= flex+spare():
		w[colProcess] -= local + foreign - flex
	default:
		pool := flex + spare()
		w[colProcess] -= spare()
		// The narrower need keeps its full width if it can, so only one
		// address is cut.
		switch {
		case local <= pool/2:
			foreign = max(pool-local, 5)
		case foreign <= pool/2:
			local = max(pool-foreign, 5)
		default:
			local = max(pool/2, 5)
			foreign = max(pool-local, 5)
		}
	}
	w[colLocal], w[colForeign] = local, foreign
	for _, c := range order {
		if drop[c] {
			continue
		}
		cols = append(cols, colSpec{col: c, width: w[c], right: c.Right()})
	}
	return cols, wide
}

// fit pads or truncates plain text to exactly n cells.
func fit(s string, n int, right bool) string {
	w := cellWidth(s)
	if w > n {
		// A wide character is never cut in half, so the cut can come a
		// cell short: padded, the columns after it stay in place.
		s = ansi.Truncate(s, n, "…")
		if w = ansi.StringWidth(s); w == n {
			return s
		}
	}
	pad := strings.Repeat(" ", n-w)
	if right {
		return pad + s
	}
	return s + pad
}

// cellWidth is the cells s takes on screen. Nearly every cell of the
// table is printable ASCII, one cell a byte, which is checked far faster
// than a string is split into grapheme clusters.
func cellWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return ansi.StringWidth(s)
		}
	}
	return len(s)
}

// fitAddr fits an address in n cells. An address that does not fit keeps
// its port and loses its whole IP to "…": a cut IP ("127.77.0…") reads
// as a real but different address. A host name is cut at its end
// instead ("build-server-…:ssh"): a name's start is what tells hosts
// apart, and it does not pass for another.
func fitAddr(s string, n int) string {
	if len(s) <= n {
		return s + strings.Repeat(" ", n-len(s))
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || len(s)-i+1 > n {
		return ansi.Truncate(s, n, "…")
	}
	if host := s[:i]; isHostName(host) {
		return fit(ansi.Truncate(host, n-(len(s)-i), "…")+s[i:], n, false)
	}
	return fit("…"+s[i:], n, false)
}

// isHostName reports whether the host part of an address cell is a name
// rather than an address ("[::1]", "127.0.0.1").
func isHostName(host string) bool {
	if host == "" || host[0] == '[' {
		return false
	}
	_, err := netip.ParseAddr(host)
	return err != nil
}

// cellText is a cell's plain text, as output's column model writes it for
// the live table's form; buf is the room it is formatted in.
func (t *tableView) cellText(c column, s *collect.Socket, wide bool, buf []byte) string {
	form := output.Narrow
	if wide {
		form = output.Live
	}
	return string(t.cells.Append(buf[:0], c, s, form))
}

// tableView renders the visible window of the sorted, filtered rows.
type tableView struct {
	width, height int
	styles        *Styles

	rows     []row
	offset   int
	selected int
	sortCol  column
	sortDesc bool
	empty    string // shown when there are no rows
	need     colNeed
	// renders counts the draws: typing at the prompt must not redraw a
	// table that did not change.
	renders int
	// marks are the new and changed marks by key, looked up only for the
	// visible rows.
	marks map[collect.Key]markAge
	cells output.Cells
}

// SetSize sets the table's size, the header row included.
func (t *tableView) SetSize(w, h int) { t.width, t.height = w, h }

// visibleRows is how many socket rows fit under the header row.
func (t *tableView) visibleRows() int { return max(t.height-1, 0) }

// Render draws the header row and the visible rows, each exactly width
// cells wide.
func (t *tableView) Render(width int) string {
	if t.height <= 0 {
		return ""
	}
	t.renders++
	n := t.visibleRows()
	var buf [80]byte
	cols, wide := layout(width, t.need)
	var b strings.Builder
	// Header row, with the sort column marked.
	var h strings.Builder
	h.WriteString("  ")
	for i, c := range cols {
		if i > 0 {
			h.WriteByte(' ')
		}
		title := c.col.String()
		arrow := 0
		if c.col == t.sortCol {
			arrow = 1
		}
		if len(title)+arrow > c.width {
			title = c.col.Short()
		}
		if c.col == t.sortCol {
			if t.sortDesc {
				title += "▼"
			} else {
				title += "▲"
			}
		}
		h.WriteString(fit(title, c.width, c.right))
	}
	b.WriteString(t.styles.Header.Render(fit(h.String(), width, false)))
	for i := t.offset; i < len(t.rows) && i < t.offset+n; i++ {
		b.WriteByte('\n')
		b.WriteString(t.renderRow(&t.rows[i], cols, wide, width, i == t.selected, buf[:]))
	}
	if len(t.rows) == 0 && n > 0 && t.empty != "" {
		b.WriteByte('\n')
		b.WriteString(t.styles.Dim.Render(fit(t.empty, width, false)))
	}
	return b.String()
}

func (t *tableView) renderRow(rp *row, cols []colSpec, wide bool, width int, selected bool, buf []byte) string {
	st := t.styles
	r := *rp
	if r.mark == markSame && len(t.marks) > 0 {
		if a, ok := t.marks[r.s.Key()]; ok {
			r.mark = a.mark
		}
	}
	var b strings.Builder
	// A full accept queue outranks the new and changed marks: its Recv-Q
	// changes as it fills, which would mark it changed.
	if r.full && r.mark != markGone {
		b.WriteByte(fullChar)
	} else {
		b.WriteByte(markChar[r.mark])
	}
	if selected {
		// Visible without colour too.
		b.WriteByte('>')
	} else {
		b.WriteByte(' ')
	}
	plainRow := selected || r.mark != markSame || r.full || !st.Color
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		text := t.cellText(c.col, r.s, wide, buf)
		var cell string
		if c.col == colLocal || c.col == colForeign {
			cell = fitAddr(text, c.width)
		} else {
			cell = fit(text, c.width, c.right)
		}
		if c.col == colState && !plainRow {
			cell = st.state(r.s.State, cell)
		}
		b.WriteString(cell)
	}
	line := fit(b.String(), width, false)
	switch {
	case selected:
		return st.Selected.Render(line)
	case r.full && r.mark != markGone:
		return st.Full.Render(line)
	case r.mark == markNew:
		return st.New.Render(line)
	case r.mark == markChanged:
		return st.Changed.Render(line)
	case r.mark == markGone:
		return st.Gone.Render(line)
	}
	return line
}
