package ui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/demo"
)

// demoListView is the scenario list `d` opens: the scenarios grouped by
// the section of the course material they teach, a heading per section.
// When the rows do not fit it scrolls, by the arrows, the page keys and
// home/end only: j, k and g are scenario keys here.
type demoListView struct {
	width, height int
	styles        *Styles
	items         []*demo.Scenario
	err           string
	// refuses holds the scenarios this process lacks the privileges
	// for, and what it lacks: they are marked. Privileges do not change
	// while socktop runs, so it is read once, not per frame.
	refuses map[*demo.Scenario]string
	offset  int // rows hidden above the window

	// rows is items laid out, rebuilt when items change.
	rows    []listRow
	rowsFor []*demo.Scenario
}

// listRow is a section heading (sc nil) or a scenario.
type listRow struct {
	section demo.Section
	sc      *demo.Scenario
}

// listNameWidth fits the longest name of the course's scenarios
// (nonblocking-connect), so the titles line up.
const listNameWidth = 19

// rootMark is how the picker marks a scenario this process cannot run.
const rootMark = "[root]"

// SetSize sets the list's size.
func (l *demoListView) SetSize(w, h int) {
	l.width, l.height = w, h
	l.clamp()
}

func (l *demoListView) layoutRows() {
	if sameScenarios(l.rowsFor, l.items) {
		return
	}
	l.rows = l.rows[:0]
	for _, g := range demo.Grouped(l.items) {
		l.rows = append(l.rows, listRow{section: g.Section})
		for _, sc := range g.Scenarios {
			l.rows = append(l.rows, listRow{section: g.Section, sc: sc})
		}
	}
	l.rowsFor = l.items
	l.clamp()
}

func sameScenarios(a, b []*demo.Scenario) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// head is the lines above the rows: the title, and the last error.
func (l *demoListView) head() int {
	if l.err != "" {
		return 2
	}
	return 1
}

// body is how many lines the rows get.
func (l *demoListView) body() int { return max(l.height-l.head(), 0) }

// scrolls says whether the rows do not fit.
func (l *demoListView) scrolls() bool { return len(l.rows) > l.body() }

// window is the rows shown from offset: [offset, end), and whether the
// first line repeats the heading of a section whose own heading has
// scrolled away. One line goes to the scroll indicator when the rows do
// not fit, at the bottom.
func (l *demoListView) window(offset int) (end int, sticky bool) {
	room := l.body()
	if l.scrolls() {
		room = max(room-1, 0)
	}
	sticky = offset < len(l.rows) && l.rows[offset].sc != nil && room > 1
	if sticky {
		room--
	}
	end = min(offset+room, len(l.rows))
	if end < len(l.rows) && end-offset > 1 && l.rows[end-1].sc == nil {
		// A heading whose scenarios are all below the window waits for
		// them.
		end--
	}
	return end, sticky
}

// lastOffset is the smallest offset whose window shows the last row.
func (l *demoListView) lastOffset() int {
	for off := range l.rows {
		if end, _ := l.window(off); end >= len(l.rows) {
			return off
		}
	}
	return 0
}

func (l *demoListView) clamp() {
	l.offset = min(max(l.offset, 0), l.lastOffset())
}

func (l *demoListView) scrollBy(n int) {
	l.offset += n
	l.clamp()
}

// scrollKey scrolls the list on its scroll keys (see KeyMap.listMoves),
// and reports whether msg was one of them.
func (l *demoListView) scrollKey(msg tea.KeyPressMsg, k *KeyMap) bool {
	end, _ := l.window(l.offset)
	page := max(end-l.offset-1, 1)
	up, down, pageUp, pageDown, top, bottom := k.listMoves()
	switch {
	case key.Matches(msg, up):
		l.scrollBy(-1)
	case key.Matches(msg, down):
		l.scrollBy(1)
	case key.Matches(msg, pageUp):
		l.scrollBy(-page)
	case key.Matches(msg, pageDown):
		l.scrollBy(page)
	case key.Matches(msg, top):
		l.scrollBy(-len(l.rows))
	case key.Matches(msg, bottom):
		l.scrollBy(len(l.rows))
	default:
		return false
	}
	return true
}

// Render draws the title, then the window over the rows: a heading per
// section and a line per scenario (its key, name and title, cut to the
// width), and where the window is when the rows do not fit. Only the
// rows in the window are drawn.
func (l *demoListView) Render(width int) string {
	st := l.styles
	l.layoutRows()
	lines := []string{truncLine(st.Title.Render("Demos")+st.Dim.Render(" (press a key to start one; several can run at once)"), width)}
	if l.err != "" {
		lines = append(lines, truncLine(st.Error.Render(l.err), width))
	}
	l.clamp()
	end, sticky := l.window(l.offset)
	if sticky {
		lines = append(lines, l.rowLine(listRow{section: l.rows[l.offset].section}, width))
	}
	for _, r := range l.rows[l.offset:end] {
		lines = append(lines, l.rowLine(r, width))
	}
	if l.scrolls() && l.body() > 0 {
		for len(lines) < l.height-1 {
			lines = append(lines, "")
		}
		ind := "scenarios: rows " + strconv.Itoa(l.offset+1) + "-" + strconv.Itoa(end) + " of " + strconv.Itoa(len(l.rows)) +
			" · ↑/↓ pgup/pgdn home/end scroll"
		lines = append(lines, truncLine(st.Dim.Render(ind), width))
	}
	return strings.Join(lines, "\n")
}

func (l *demoListView) rowLine(r listRow, width int) string {
	st := l.styles
	if r.sc == nil {
		name := string(r.section)
		if name == "" {
			name = "(no section)"
		}
		return truncLine(st.Header.Render(name), width)
	}
	sc := r.sc
	head := fmt.Sprintf("  %-2s %-*s ", sc.Key, listNameWidth, sc.Name)
	room := width - ansi.StringWidth(head)
	mark := ""
	if l.refuses[sc] != "" {
		mark = " " + rootMark
		room -= len(mark)
	}
	title := sc.Title
	if room <= 0 {
		title = ""
	} else if ansi.StringWidth(title) > room {
		title = ansi.Truncate(title, room, "…")
	}
	line := head + title
	if mark != "" {
		line += st.Paused.Render(mark)
	}
	return truncLine(line, width)
}
