package ui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/filter"
	"socktop/group"
	"socktop/output"
)

// groupStates are the states the group table gives a column each: the
// ones whose counts operators ask about; the rest add up in "other".
var groupStates = []collect.State{
	collect.StateEstablished, collect.StateListen, collect.StateSynRecv,
	collect.StateCloseWait, collect.StateTimeWait,
}

// groupView is the group table that replaces the socket table while a
// group key is chosen: one row per group of the filtered rows, with its
// count, the big states' counts, rates when any socket has one, and its
// owners. The groups are counted once per refresh (rowsChanged), not per
// frame, and only the visible rows are drawn.
type groupView struct {
	styles *Styles
	// by is the key; 0 when the view is off and the table shows.
	by      group.By
	order   group.Order
	reverse bool

	grouper group.Grouper
	groups  []group.Group
	rates   bool // some group has a rate: the Send and Recv columns show

	selected, offset int
	width, height    int
}

// on reports whether the group table replaces the socket table.
func (g *groupView) on() bool { return g.by != 0 }

// SetSize sets the view's size; the first line is the column titles.
func (g *groupView) SetSize(w, h int) { g.width, g.height = w, h }

func (g *groupView) visibleRows() int { return max(g.height-1, 0) }

// next moves the key one step round port, remote, process, state,
// container and off.
func (g *groupView) next() {
	switch g.by {
	case 0:
		g.by = group.Bys[0]
	case group.Bys[len(group.Bys)-1]:
		g.by = 0
	default:
		for i, b := range group.Bys {
			if b == g.by {
				g.by = group.Bys[i+1]
				break
			}
		}
	}
	g.selected, g.offset = 0, 0
}

// rebuild counts the rows into groups and sorts them, keeping the
// selection on the group it was on. Gone rows are not counted: they are
// on screen for a few refreshes after they left the kernel's table.
func (g *groupView) rebuild(rows []row) {
	if !g.on() {
		g.groups = nil
		return
	}
	var sel group.Key
	hadSel := g.selected < len(g.groups)
	if hadSel {
		sel = g.groups[g.selected].Key
	}
	g.grouper.Reset(g.by)
	for i := range rows {
		if rows[i].mark != markGone {
			g.grouper.Add(rows[i].s)
		}
	}
	g.groups = g.grouper.Groups()
	group.Sort(g.groups, g.order, g.reverse)
	g.rates = output.RatesShown(g.groups)
	if hadSel {
		for i := range g.groups {
			if g.groups[i].Key == sel {
				g.selected = i
				break
			}
		}
	}
	g.clamp()
}

func (g *groupView) move(delta int) {
	g.selected += delta
	g.clamp()
}

// clamp keeps the selection on a group and in sight.
func (g *groupView) clamp() {
	g.selected = min(max(g.selected, 0), max(len(g.groups)-1, 0))
	n := max(g.visibleRows(), 1)
	if g.selected < g.offset {
		g.offset = g.selected
	}
	if g.selected >= g.offset+n {
		g.offset = g.selected - n + 1
	}
	g.offset = max(min(g.offset, len(g.groups)-n), 0)
}

// groupCol is one column of the group table.
type groupCol struct {
	title string
	width int
	right bool
	cell  func(g *group.Group) string
}

// columns lays the table out for width: the key and the count always;
// then the big states' columns, TIME_WAIT and CLOSE_WAIT before the
// others (what the view is mostly asked about), while they fit; then
// "other", the rates, and the owners in the rest.
func (g *groupView) columns(width int) []groupCol {
	keyW := len(output.KeyTitle(g.by)) + 1
	for i := range g.groups {
		keyW = max(keyW, len(g.groups[i].Key.String()))
	}
	keyW = min(keyW, 24, max(width/3, 8))
	cols := []groupCol{
		{title: output.KeyTitle(g.by), width: keyW, cell: func(gr *group.Group) string { return gr.Key.String() }},
		{title: "Count", width: 7, right: true, cell: func(gr *group.Group) string { return strconv.Itoa(gr.Count) }},
	}
	used := func(cs ...groupCol) int {
		n := 2 // the selection marker
		for _, c := range cs {
			n += c.width + 1
		}
		return n - 1
	}
	var shown [collect.NumStates]bool
	n := used(cols...)
	for _, st := range []collect.State{collect.StateTimeWait, collect.StateCloseWait, collect.StateEstablished,
		collect.StateListen, collect.StateSynRecv} {
		w := max(len(st.SSName()), 5) + 1
		if n+w > width {
			break
		}
		shown[st], n = true, n+w
	}
	for _, st := range groupStates {
		if !shown[st] {
			continue
		}
		st := st
		title := st.SSName()
		cols = append(cols, groupCol{title: title, width: max(len(title), 5), right: true,
			cell: func(gr *group.Group) string { return strconv.Itoa(gr.States[st]) }})
	}
	other := groupCol{title: "other", width: 5, right: true, cell: func(gr *group.Group) string {
		n := gr.Count
		for _, st := range groupStates {
			if shown[st] {
				n -= gr.States[st]
			}
		}
		return strconv.Itoa(n)
	}}
	var rates []groupCol
	if g.rates {
		rates = []groupCol{
			{title: "Send", width: 8, right: true, cell: func(gr *group.Group) string { s, _ := output.GroupRates(gr); return s }},
			{title: "Recv", width: 8, right: true, cell: func(gr *group.Group) string { _, r := output.GroupRates(gr); return r }},
		}
	}
	for _, extra := range [][]groupCol{{other}, rates} {
		if len(extra) > 0 && used(append(cols, extra...)...) <= width {
			cols = append(cols, extra...)
		}
	}
	// By process, the key is the owner.
	if rest := width - used(cols...) - 1; rest >= 8 && g.by != group.ByProcess {
		cols = append(cols, groupCol{title: "Owners", width: rest, cell: output.GroupOwners})
	}
	return cols
}

// Render draws the column titles, with the sort marked, and the visible
// groups, each line exactly width cells wide.
func (g *groupView) Render(width int) string {
	if g.height <= 0 {
		return ""
	}
	cols := g.columns(width)
	arrow := "▲"
	if g.order == group.ByCount || g.order == group.ByRate {
		arrow = "▼" // the biggest first
	}
	if g.reverse {
		arrow = map[string]string{"▲": "▼", "▼": "▲"}[arrow]
	}
	sortTitle := map[group.Order]string{group.ByKey: cols[0].title, group.ByCount: "Count", group.ByRate: "Send"}[g.order]
	var h strings.Builder
	h.WriteString("  ")
	for i, c := range cols {
		if i > 0 {
			h.WriteByte(' ')
		}
		title := c.title
		if title == sortTitle {
			title += arrow
		}
		h.WriteString(fit(title, c.width, c.right))
	}
	var b strings.Builder
	b.WriteString(g.styles.Header.Render(fit(h.String(), width, false)))
	n := g.visibleRows()
	for i := g.offset; i < len(g.groups) && i < g.offset+n; i++ {
		b.WriteByte('\n')
		b.WriteString(g.renderRow(&g.groups[i], cols, width, i == g.selected))
	}
	if len(g.groups) == 0 && n > 0 {
		b.WriteByte('\n')
		b.WriteString(g.styles.Dim.Render(fit("no sockets to group", width, false)))
	}
	return b.String()
}

func (g *groupView) renderRow(gr *group.Group, cols []groupCol, width int, selected bool) string {
	var b strings.Builder
	b.WriteByte(' ')
	if selected {
		b.WriteByte('>')
	} else {
		b.WriteByte(' ')
	}
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		cell := fit(c.cell(gr), c.width, c.right)
		if !selected && g.by == group.ByState && i == 0 {
			cell = g.styles.state(gr.Key.State, cell)
		}
		b.WriteString(cell)
	}
	line := fit(b.String(), width, false)
	if selected {
		return g.styles.Selected.Render(line)
	}
	return line
}

// groupKey handles a key while the group table shows, and reports
// whether it did; keys it leaves (the filter prompt, pause, help, quit,
// the other panes) do what they do over the table.
func (m *model) groupKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := &m.keys
	g := &m.group
	switch {
	case key.Matches(msg, k.GroupBy):
		m.cycleGroup()
	case key.Matches(msg, k.Back):
		g.by = 0
	case key.Matches(msg, k.Up):
		g.move(-1)
	case key.Matches(msg, k.Down):
		g.move(1)
	case key.Matches(msg, k.PageUp):
		g.move(-max(g.visibleRows(), 1))
	case key.Matches(msg, k.PageDown):
		g.move(max(g.visibleRows(), 1))
	case key.Matches(msg, k.Top):
		g.move(-len(g.groups))
	case key.Matches(msg, k.Bottom):
		g.move(len(g.groups))
	case key.Matches(msg, k.Detail):
		m.drillDown()
	case key.Matches(msg, k.Sort):
		for i, o := range group.Orders {
			if o == g.order {
				g.order = group.Orders[(i+1)%len(group.Orders)]
				break
			}
		}
		g.rebuild(m.rows)
	case key.Matches(msg, k.SortReverse):
		g.reverse = !g.reverse
		g.rebuild(m.rows)
	case key.Matches(msg, k.Kill, k.Peer, k.Segments):
		m.flash = "the group table has no socket rows: enter shows a group's sockets"
	default:
		return nil, false
	}
	return nil, true
}

// cycleGroup moves the group key one step and counts the rows by it.
func (m *model) cycleGroup() {
	m.group.next()
	m.group.rebuild(m.rows)
	m.layout()
}

// drillDown narrows the table to the selected group: the group's filter,
// joined to the filter in force with "and", through the same parser the
// prompt uses; the group table closes on the group's rows. A group no
// expression selects (sockets without an owner) keeps the view as it is
// and says why.
func (m *model) drillDown() {
	g := &m.group
	if g.selected >= len(g.groups) {
		return
	}
	k := g.groups[g.selected].Key
	text, ok := k.Filter()
	if !ok {
		m.flash = "no filter selects the group " + k.String() + " alone"
		return
	}
	if m.filterText != "" {
		text = "(" + m.filterText + ") and " + text
	}
	if err := m.setFilter(text); err != nil {
		m.flash = "filter " + text + ": " + err.Error()
		return
	}
	g.by = 0
	m.layout()
}

// timeWaits answers "who holds the TIME_WAITs" in one key: the table
// filtered to TIME_WAIT, grouped by local port (the service whose
// connections closed first); b then goes on to the remote hosts, for
// the TIME_WAITs of outgoing connections.
func (m *model) timeWaits() {
	if err := m.setFilter("state time-wait"); err != nil {
		m.flash = err.Error()
		return
	}
	m.mode = modeTable
	m.group.by = group.ByPort
	m.group.order, m.group.reverse = group.ByCount, false
	m.group.selected, m.group.offset = 0, 0
	m.group.rebuild(m.rows)
	m.layout()
}

// setFilter parses text as the prompt does and, when it parses, makes it
// the table's filter; a bad one leaves the filter in force.
func (m *model) setFilter(text string) error {
	f, err := filter.Parse(text)
	if err != nil {
		return err
	}
	m.filter, m.filterText = f, text
	m.rebuildRows()
	return nil
}
