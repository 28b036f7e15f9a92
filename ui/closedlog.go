package ui

import (
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/output"
)

// maxClosed bounds the closed-connections log.
const maxClosed = 500

// closedEntry is one connection the kernel destroyed, with the socket the
// filter judges it by.
type closedEntry struct {
	c    collect.ClosedConn
	sock collect.Socket
}

// closedView is the closed-connections log, tcplife's columns and the
// state each connection closed from, newest first, showing the entries
// the current filter matches.
type closedView struct {
	width, height int
	styles        *Styles
	entries       []closedEntry // oldest first; drawn from the end
	shown         []int         // indices of the entries the filter matches
	offset        int           // shown entries scrolled past, from the newest
}

// SetSize sets the pane's size, its title line included.
func (v *closedView) SetSize(w, h int) { v.width, v.height = w, h }

// add keeps a copy of c that shares nothing with the Changes it came in
// (owners, path and tcp_info of its own), dropping the oldest entry past
// maxClosed.
func (v *closedView) add(c *collect.ClosedConn) {
	v.push(c)
	v.trim()
}

// addAll adds the records of one refresh, trimming once: trimming after
// each record would move the whole log for every connection a busy host
// closes.
func (v *closedView) addAll(cs []collect.ClosedConn) {
	for i := range cs[max(len(cs)-maxClosed, 0):] {
		v.push(&cs[max(len(cs)-maxClosed, 0)+i])
	}
	v.trim()
}

// push appends a copy of c that keeps nothing of the tracker's.
func (v *closedView) push(c *collect.ClosedConn) {
	e := closedEntry{c: *c}
	e.c.Owners = slices.Clone(c.Owners)
	e.c.Path = slices.Clone(c.Path)
	if c.Info != nil {
		info := *c.Info
		e.c.Info = &info
	}
	e.sock = collect.Socket{Proto: c.Proto, Family: c.Family, State: c.State, Local: c.Local, Remote: c.Remote,
		Cookie: c.Cookie, Owners: e.c.Owners, Unknown: unknownOfKey &^ collect.FieldOwners}
	if !c.OwnersKnown && !c.OwnersFromEvents {
		e.sock.Unknown |= collect.FieldOwners
	}
	v.entries = append(v.entries, e)
}

// trim keeps the newest maxClosed entries.
func (v *closedView) trim() {
	if len(v.entries) > maxClosed {
		n := copy(v.entries, v.entries[len(v.entries)-maxClosed:])
		clear(v.entries[n:])
		v.entries = v.entries[:n]
	}
}

// refilter picks the entries match keeps; the model calls it whenever the
// entries or the filter change, so Render does no matching.
func (v *closedView) refilter(match func(*collect.Socket) bool) {
	v.shown = v.shown[:0]
	for i := range v.entries {
		if match(&v.entries[i].sock) {
			v.shown = append(v.shown, i)
		}
	}
	v.offset = min(v.offset, max(len(v.shown)-1, 0))
}

// scroll moves the view by delta entries, newest at 0.
func (v *closedView) scroll(delta int) {
	v.offset = min(max(v.offset+delta, 0), max(len(v.shown)-1, 0))
}

// closedKey handles a key in the closed log: it scrolls, and esc or the
// log's own key go back to the table.
func (m *model) closedKey(msg tea.KeyPressMsg) {
	k := &m.keys
	page := max(m.closed.height-2, 1)
	switch {
	case key.Matches(msg, k.Back, k.Closed):
		m.mode = modeTable
	case key.Matches(msg, k.Up):
		m.closed.scroll(-1)
	case key.Matches(msg, k.Down):
		m.closed.scroll(1)
	case key.Matches(msg, k.PageUp):
		m.closed.scroll(-page)
	case key.Matches(msg, k.PageDown):
		m.closed.scroll(page)
	case key.Matches(msg, k.Top):
		m.closed.scroll(-len(m.closed.shown))
	case key.Matches(msg, k.Bottom):
		m.closed.scroll(len(m.closed.shown))
	}
}

// closedCells is one line of the log as text, column by column: PID COMM
// LADDR:LPORT RADDR:RPORT TX_KB RX_KB MS STATE. A value the record does
// not give is "?", never 0.
func closedCells(c *collect.ClosedConn) [8]string {
	var r [8]string
	r[7] = "?"
	if st := closedFrom(c); st != collect.StateUnknown {
		r[7] = st.String()
	}
	switch {
	case !c.OwnersKnown && !c.OwnersFromEvents:
		r[0], r[1] = "?", "?"
	case len(c.Owners) == 0:
		r[0], r[1] = "-", "-"
	default:
		r[0], r[1] = strconv.Itoa(int(c.Owners[0].PID)), c.Owners[0].Name
		if len(c.Owners) > 1 {
			r[0] += "+"
		}
	}
	r[2], r[3] = output.FormatAddr(c.Local, c.Family), output.FormatAddr(c.Remote, c.Family)
	r[4], r[5] = "?", "?"
	if c.Info != nil {
		r[4] = strconv.FormatUint(c.Info.BytesAcked/1024, 10)
		r[5] = strconv.FormatUint(c.Info.BytesReceived/1024, 10)
	}
	r[6] = "?"
	if d, ok := c.Lifetime(); ok && d >= 0 {
		r[6] = strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
	}
	return r
}

// closedFrom is the state a connection closed from: the last one of its
// path before CLOSED (TIME_WAIT after an active close, LAST_ACK after a
// passive one), else the kernel's state at destruction when that says
// more than CLOSED (a listener, a UDP socket), else StateUnknown.
func closedFrom(c *collect.ClosedConn) collect.State {
	for i := len(c.Path) - 1; i >= 0; i-- {
		if st := c.Path[i].State.Canonical(); st != collect.StateClosed && st != collect.StateUnknown {
			return st
		}
	}
	if st := c.State.Canonical(); st != collect.StateClosed {
		return st
	}
	return collect.StateUnknown
}

var closedHeads = [8]string{"PID", "COMM", "LADDR:LPORT", "RADDR:RPORT", "TX_KB", "RX_KB", "MS", "STATE"}

// maxComm is the widest the COMM column grows: the kernel's comm is 15
// bytes, but the addresses need the room more.
const maxComm = 12

// Render draws the title, the column heads and the newest shown entries
// that fit, from the scroll offset. Columns are as wide as what they
// show; the two addresses share what is left, each keeping its port.
func (v *closedView) Render(width int) string {
	if v.height <= 0 {
		return ""
	}
	st := v.styles
	title := st.Title.Render("Closed connections") + st.Dim.Render(" (newest first, "+strconv.Itoa(len(v.shown))+
		"; STATE: the one it closed from)")
	lines := []string{truncLine(title, width)}
	if len(v.shown) == 0 {
		why := "  no connection closed since socktop started"
		if len(v.entries) > 0 {
			why = "  none matches the filter"
		}
		if v.height > 1 {
			lines = append(lines, truncLine(st.Dim.Render(why), width))
		}
		return strings.Join(lines, "\n")
	}
	n := max(v.height-2, 0)
	rows := make([][8]string, 0, n)
	states := make([]collect.State, 0, n)
	for i := len(v.shown) - 1 - v.offset; i >= 0 && len(rows) < n; i-- {
		c := &v.entries[v.shown[i]].c
		rows = append(rows, closedCells(c))
		states = append(states, closedFrom(c))
	}
	var w [8]int
	for c := range w {
		w[c] = len(closedHeads[c])
		for _, r := range rows {
			w[c] = max(w[c], len(r[c]))
		}
	}
	w[1] = min(w[1], maxComm)
	fixed := 0
	for c, x := range w {
		if c != 2 && c != 3 {
			fixed += x
		}
	}
	if room := width - fixed - 7; w[2]+w[3] > room {
		// Each address gets half, and the shorter one gives the rest.
		half := max(room/2, len("…:65535"))
		w[2], w[3] = min(w[2], max(half, room-w[3])), min(w[3], max(half, room-w[2]))
	}
	right := [8]bool{0: true, 4: true, 5: true, 6: true}
	line := func(r [8]string) string {
		var b strings.Builder
		for c := range r {
			if c > 0 {
				b.WriteByte(' ')
			}
			switch {
			case c == 2 || c == 3:
				b.WriteString(fitAddr(r[c], w[c]))
			case c == 7:
				b.WriteString(r[c])
			default:
				b.WriteString(fit(r[c], w[c], right[c]))
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	lines = append(lines, truncLine(st.Header.Render(line(closedHeads)), width))
	for i, r := range rows {
		// The state in its colour, as everywhere else.
		text := strings.TrimSuffix(line(r), r[7]) + st.state(states[i], r[7])
		lines = append(lines, truncLine(text, width))
	}
	return strings.Join(lines, "\n")
}
