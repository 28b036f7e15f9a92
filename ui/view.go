package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
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
	if m.demos.active() && h >= 16 {
		hs.demo = max(h/3, 6)
		if h >= 36 {
			hs.log = h / 6
		}
	} else if h >= 24 {
		hs.log = h/4 + 1
	}
	hs.table = max(hs.body-hs.log-hs.demo, 0)
	m.header.SetSize(w, hs.header)
	m.table.SetSize(w, hs.table)
	m.log.SetSize(w, hs.log)
	m.demos.pane.SetSize(w, hs.demo)
	m.demos.list.SetSize(w, hs.body)
	m.detail.SetSize(w, hs.body)
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
	hs := m.hs
	m.header.interval = m.interval
	m.header.paused = m.paused
	m.header.filter = m.filterText
	m.header.demos = m.demos.running()
	m.header.err = m.lastErr
	m.demos.pane.runs = m.demos.runs
	m.demos.pane.err = m.demos.err
	m.demos.list.items = m.demos.catalogue
	m.demos.list.err = m.demos.err
	m.table.rows = m.rows
	m.table.selected = m.selected
	m.table.marks = m.marks
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
		add(m.table.Render(w), hs.table)
		add(m.log.Render(w), hs.log)
		add(m.demos.pane.Render(w), hs.demo)
	case modeDetail:
		add(m.detail.Render(w), hs.body)
	case modeHelp:
		add(m.fullHelp(w), hs.body)
	case modeDemos:
		add(m.demos.list.Render(w), hs.body)
	}
	if m.prompt.active {
		add(m.prompt.Render(w), hs.footer)
	} else {
		add(truncLine(m.footer(), w), hs.footer)
	}
	m.frame = strings.Join(parts, "\n")
}

// footer is the short help of the current mode.
func (m *model) footer() string {
	k := &m.keys
	switch m.mode {
	case modeDetail:
		return m.help.ShortHelpView([]keyBinding{k.Back, k.Quit})
	case modeHelp:
		return m.help.ShortHelpView([]keyBinding{k.Back, k.Quit})
	case modeDemos:
		return m.help.ShortHelpView(m.demos.listHelp(k))
	}
	b := k.ShortHelp()
	if m.demos.running() > 0 {
		b = append(b, k.ReuseAddr, k.StopDemo)
	}
	return m.help.ShortHelpView(b)
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
// the width needs, instead of letting narrow terminals cut columns off.
func (m *model) fullHelp(width int) string {
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
	for _, g := range m.keys.FullHelp() {
		next := append(append([][]keyBinding(nil), cur...), g)
		if len(cur) > 0 && ansi.StringWidth(firstLine(hm.FullHelpView(next))) > width {
			flush()
			next = [][]keyBinding{g}
		}
		cur = next
	}
	flush()
	lines := strings.Split(strings.Join(rows, "\n\n"), "\n")
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
