package ui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
)

type keyBinding = key.Binding

// Heights of the panes, decided once per resize (or when the prompt or the
// demo pane opens), not per frame.
type heights struct {
	header, table, log, demo, footer, body int
}

// layout sizes every pane for the terminal: the log pane only when the
// terminal is at least 24 lines high, the demo pane when demos run.
func (m *model) layout() {
	w, h := max(m.width, 1), max(m.height, 1)
	m.prompt.SetSize(w, 0) // its height depends on its width
	var hs heights
	switch {
	case h >= 12:
		hs.header = 3
	case h >= 6:
		hs.header = 2
	default:
		hs.header = 1
	}
	// Tiny terminals lose the footer first, then everything but the
	// header, so the frame is always exactly h lines.
	if h >= 3 {
		hs.footer = 1
		if m.prompt.active && h >= 6 {
			hs.footer = m.prompt.lines()
		}
	}
	if m.prompt.active && h < 3 {
		hs.footer, hs.header = 1, h-1
	}
	hs.body = max(h-hs.header-hs.footer, 0)
	m.demos.pane.runs, m.demos.pane.refused, m.demos.pane.err = m.demos.runs, m.demos.refused, m.demos.err
	if m.demos.active() && h >= 16 {
		// The transitions stay: they are what a demo is about.
		if h >= 24 {
			hs.log = max(h/6, 4)
		}
		rest := max(hs.body-hs.log, 0)
		// The pane gets what the table does not use, and half when both
		// want more than there is: the demo is what the user came for.
		m.demos.pane.build(w)
		paneWant := len(m.demos.pane.doc)
		tableWant := max(len(m.rows)+1, 2)
		if tableWant+paneWant <= rest {
			hs.table = rest - paneWant
		} else {
			paneMin := min(paneWant, max(rest/2, 6))
			hs.table = max(min(tableWant, rest-paneMin), min(2, rest))
		}
		hs.demo = rest - hs.table
	} else {
		if h >= 24 {
			hs.log = h/4 + 1
		}
		hs.table = max(hs.body-hs.log, 0)
	}
	m.header.SetSize(w, hs.header)
	m.table.SetSize(w, hs.table)
	m.log.SetSize(w, hs.log)
	m.demos.pane.SetSize(w, hs.demo)
	m.demos.list.SetSize(w, hs.body)
	m.detail.SetSize(w, hs.body)
	m.closed.SetSize(w, hs.body)
	m.diagram.SetSize(w, hs.body)
	m.group.SetSize(w, hs.table)
	m.prompt.SetSize(w, hs.footer)
	m.help.SetWidth(w)
	m.hs = hs
}

// padLines makes s exactly n lines: extra lines are cut, missing ones are
// blank.
func padLines(s string, n int) string {
	if n <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if s == "" {
		lines = lines[:0]
	}
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// render builds the whole screen once per Update; View only returns it.
func (m *model) render() {
	w := max(m.width, 1)
	if m.demos.active() {
		// Narration arrived or a promise was kept: the pane may want more
		// room from the table.
		m.layout()
		m.fixScroll()
	}
	hs := m.hs
	m.header.interval = m.interval
	m.header.paused = m.paused
	m.header.filter = m.filterText
	m.header.narrow = m.narrow.String()
	m.header.demos = m.demos.running()
	m.header.err = m.lastErr
	m.header.lost = m.lost
	m.header.owners = collect.OwnersComplete // nothing to say before the first snapshot
	if m.snap != nil {
		m.header.owners = m.snap.Owners
	}
	m.demos.list.items = m.demos.catalogue
	m.demos.list.err = m.demos.err
	m.table.rows = m.rows
	m.table.selected = m.selected
	m.table.marks = m.marks
	m.table.cells.Names = m.drawNames()
	if m.filterText != "" {
		m.table.empty = "no socket matches the filter"
	} else {
		m.table.empty = "no sockets yet"
	}

	parts := make([]string, 0, 5)
	add := func(s string, n int) {
		if n > 0 {
			parts = append(parts, padLines(s, n))
		}
	}
	add(m.header.Render(w), hs.header)
	switch m.mode {
	case modeTable:
		if m.group.on() {
			add(m.group.Render(w), hs.table)
		} else {
			add(m.table.Render(w), hs.table)
		}
		add(m.log.Render(w), hs.log)
		add(m.demos.pane.Render(w), hs.demo)
	case modeDetail:
		add(m.detail.Render(w), hs.body)
	case modeHelp:
		add(m.fullHelp(w), hs.body)
	case modeDemos:
		add(m.demos.list.Render(w), hs.body)
	case modeClosed:
		add(m.closed.Render(w), hs.body)
	case modeDiagram:
		m.syncDiagram()
		add(m.diagram.Render(w), hs.body)
	}
	m.above = strings.Join(parts, "\n")
	if m.prompt.active {
		m.renderPrompt()
		return
	}
	if hs.footer > 0 {
		parts = append(parts, padLines(truncLine(m.footer(w), w), hs.footer))
	}
	m.frame = strings.Join(parts, "\n")
}

// renderPrompt redraws the prompt under the rest of the last frame.
func (m *model) renderPrompt() {
	p := padLines(m.prompt.Render(max(m.width, 1)), m.hs.footer)
	switch {
	case m.hs.footer == 0:
		m.frame = m.above
	case m.above == "":
		m.frame = p
	default:
		m.frame = m.above + "\n" + p
	}
}

// footer is the short help of the current mode, or the answer to the
// last key. Help and quit are always in it; other keys go, least needed
// first, when the terminal is narrow. Keys that would do nothing (r with
// no demo it changes) are not offered.
func (m *model) footer(width int) string {
	if m.flash != "" {
		return m.styles.Dim.Render(m.flash)
	}
	k := &m.keys
	scrollHint := k.demoScroll()
	var b []keyBinding
	switch m.mode {
	case modeDetail:
		b = []keyBinding{k.Back, k.Quit}
		if m.detail.sock.Proto == collect.TCP {
			b = []keyBinding{k.Back, k.Segments, k.Quit}
		}
		if m.detail.peerStatus == collect.PeerFound {
			b = append(b[:len(b)-1], k.Peer, k.Quit)
		}
	case modeHelp:
		b = []keyBinding{k.Back, k.Quit}
	case modeClosed, modeDiagram:
		b = []keyBinding{k.Back, k.Quit}
	case modeDemos:
		b = m.demos.listHelp(k)
	default:
		if m.group.on() {
			b = []keyBinding{k.Drill, k.GroupBy, k.Sort, k.Back, k.Filter, k.Help, k.Quit}
			break
		}
		b = []keyBinding{k.Filter, k.Sort, k.Pause, k.Detail, k.Closed, k.Demos}
		if m.filterText != "" {
			b = append(b, k.ClearFilter)
		}
		if m.demos.reuseRun() != nil {
			b = append(b, k.ReuseAddr)
		}
		if m.demos.active() {
			b = append(b, k.StopDemo)
			if len(m.demos.pane.doc) > m.hs.demo && m.hs.demo > 0 {
				b = append(b, scrollHint)
			}
		}
		b = append(b, k.Help, k.Quit)
	}
	key := footKey(b, width)
	if m.foot.ok && m.foot.key == key {
		return m.foot.out
	}
	out := m.shortHelp(b, width)
	m.foot = footCache{key: key, out: out, ok: true}
	return out
}

// footCache is the last footer's help line and what it was built from:
// the line is rebuilt only when the bindings or the width change, since
// styling it is most of what an idle view's frame costs.
type footCache struct {
	key, out string
	ok       bool
}

// footKey names what a footer's help line depends on: the width and
// each binding's keys, description and whether it is enabled.
func footKey(b []keyBinding, width int) string {
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(width))
	for i := range b {
		h := b[i].Help()
		sb.WriteByte(0)
		if b[i].Enabled() {
			sb.WriteByte('+')
		}
		sb.WriteString(h.Key)
		sb.WriteByte(1)
		sb.WriteString(h.Desc)
	}
	return sb.String()
}

// shortHelp is the help line of bindings b in width cells: keys go,
// least needed first, until it fits.
func (m *model) shortHelp(b []keyBinding, width int) string {
	k := &m.keys
	scrollHint := k.demoScroll()
	hm := m.help
	hm.SetWidth(0) // measure unclipped
	for _, drop := range []keyBinding{k.Pause, k.Sort, k.Closed, k.Detail, k.ClearFilter, k.Demos, scrollHint, k.StopDemo, k.ReuseAddr, k.Filter} {
		if ansi.StringWidth(hm.ShortHelpView(b)) <= width {
			break
		}
		for i := range b {
			if b[i].Help() == drop.Help() {
				b = append(b[:i], b[i+1:]...)
				break
			}
		}
	}
	return hm.ShortHelpView(b)
}

// View returns the screen built by the last Update.
func (m *model) View() tea.View {
	v := tea.NewView(m.frame)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "socktop " + m.header.host
	if m.prompt.active {
		v.Cursor = tea.NewCursor(m.prompt.cursorX(m.width), m.hs.header+m.hs.body)
	}
	return v
}

// fullHelp lays the KeyMap's help groups out in as many rows of columns as
// the width needs, instead of letting narrow terminals cut columns off:
// the table's keys, then, under a title, the prompt's.
func (m *model) fullHelp(width int) string {
	text := m.noticesHelp(width) + m.helpColumns(m.keys.FullHelp(), width) + "\n\n" +
		m.styles.Title.Render("At the / prompt") + "\n" +
		m.helpColumns(m.keys.Prompt.FullHelp(), width)
	lines := strings.Split(text, "\n")
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return strings.Join(lines, "\n")
}

// noticesHelp is the run's notices in full, wrapped to width, under a
// title and before the keys; "" when there are none. The header's
// notice line is cut at the terminal's width, and what a notice says
// last (how to restore what is lost) is what the cut takes.
func (m *model) noticesHelp(width int) string {
	all := m.notices()
	if len(all) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(m.styles.Title.Render("What this run cannot show") + "\n")
	for _, n := range all {
		for i, l := range strings.Split(ansi.Wrap(n, max(width-2, 8), ""), "\n") {
			if i == 0 {
				b.WriteString("• " + l + "\n")
			} else {
				b.WriteString("  " + l + "\n")
			}
		}
	}
	return b.String() + "\n"
}

// helpColumns puts groups side by side, starting a new row of them where
// the next would not fit.
func (m *model) helpColumns(groups [][]keyBinding, width int) string {
	var rows []string
	var cur [][]keyBinding
	hm := m.help
	hm.SetWidth(0) // measure unclipped
	flush := func() {
		if len(cur) > 0 {
			rows = append(rows, hm.FullHelpView(cur))
			cur = nil
		}
	}
	for _, g := range groups {
		next := append(append([][]keyBinding(nil), cur...), g)
		if len(cur) > 0 && ansi.StringWidth(firstLine(hm.FullHelpView(next))) > width {
			flush()
			next = [][]keyBinding{g}
		}
		cur = next
	}
	flush()
	return strings.Join(rows, "\n\n")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
