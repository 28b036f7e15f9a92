package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/filter"
)

// The key handling of the root model: what each key of the KeyMap does in
// each mode, and the filter prompt's keys.

func (m *model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	if m.prompt.active {
		return m.promptKey(msg)
	}
	if m.kill.asking {
		return m.killKey(msg)
	}
	m.flash = ""
	k := &m.keys
	if key.Matches(msg, k.Quit) {
		return tea.Quit
	}
	switch m.mode {
	case modeHelp:
		if key.Matches(msg, k.Back, k.Help) {
			m.mode = modeTable
		}
		return nil
	case modeDetail:
		if key.Matches(msg, k.Back) {
			m.mode = modeTable
			return nil
		}
		if key.Matches(msg, k.Segments) {
			return m.toggleSegments()
		}
		if key.Matches(msg, k.Peer) {
			return m.jumpPeer()
		}
		if m.detailScroll(msg) {
			return nil
		}
		// The detail view stays on its socket: keys that would move the
		// selection or change the rows under it belong to the table (here
		// they would leave one socket's tcp_info under another's name).
		if key.Matches(msg, k.Detail, k.Filter, k.Sort, k.SortReverse, k.Demos, k.Closed, k.ReuseAddr, k.StopDemo,
			k.DemoScrollUp, k.DemoScrollDown) {
			return nil
		}
	case modeDemos:
		return m.applyDemo(m.demos.listKey(msg, &m.keys))
	case modeClosed:
		m.closedKey(msg)
		return nil
	case modeDiagram:
		m.diagramKey(msg)
		return nil
	}
	switch {
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.move(-max(m.table.visibleRows(), 1))
	case key.Matches(msg, k.PageDown):
		m.move(max(m.table.visibleRows(), 1))
	case key.Matches(msg, k.Top):
		m.move(-len(m.rows))
	case key.Matches(msg, k.Bottom):
		m.move(len(m.rows))
	case key.Matches(msg, k.Detail):
		return m.openDetail()
	case key.Matches(msg, k.Peer):
		return m.jumpPeer()
	case key.Matches(msg, k.ClearFilter):
		if m.filter != nil || m.filterText != "" {
			m.filter, m.filterText = nil, ""
			m.rebuildRows()
		}
	case key.Matches(msg, k.Filter):
		m.prompt.open(m.filterText)
		m.layout()
		return nil
	case key.Matches(msg, k.Sort):
		m.table.sortCol = nextSortCol(m.table.sortCol, m.table.need.netns)
		m.rebuildRows()
	case key.Matches(msg, k.SortReverse):
		m.table.sortDesc = !m.table.sortDesc
		m.rebuildRows()
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		if !m.paused && m.pending != nil {
			p := m.pending
			m.pending = nil
			m.apply(p, &collect.Changes{Marks: m.pendingMarks})
			m.pendingMarks = nil
		}
	case key.Matches(msg, k.Faster), key.Matches(msg, k.Slower):
		return m.stepInterval(key.Matches(msg, k.Faster))
	case key.Matches(msg, k.Help):
		m.mode = modeHelp
	case key.Matches(msg, k.Demos):
		m.mode = modeDemos
		m.demos.list.offset = 0
	case key.Matches(msg, k.Closed):
		m.mode = modeClosed
		m.closed.offset = 0
	case key.Matches(msg, k.Diagram):
		m.mode = modeDiagram
	case key.Matches(msg, k.Kill):
		m.askKill()
	default:
		return m.applyDemo(m.demos.tableKey(msg, &m.keys, m.hs.demo))
	}
	return nil
}

// stepInterval moves the refresh interval one step; the new generation
// makes the tick already scheduled stale.
func (m *model) stepInterval(faster bool) tea.Cmd {
	next := m.interval
	if faster {
		for i := len(intervalSteps) - 1; i >= 0; i-- {
			if intervalSteps[i] < m.interval {
				next = intervalSteps[i]
				break
			}
		}
	} else {
		for _, s := range intervalSteps {
			if s > m.interval {
				next = s
				break
			}
		}
	}
	if next == m.interval {
		return nil
	}
	m.interval = next
	m.gen++
	return m.tickCmd()
}

func (m *model) promptKey(msg tea.KeyPressMsg) tea.Cmd {
	p := &m.keys.Prompt
	switch {
	case key.Matches(msg, p.Quit):
		return tea.Quit
	case key.Matches(msg, p.Cancel):
		m.closePrompt()
		return nil
	case key.Matches(msg, p.Apply):
		// Parse what the user sees, leading spaces included, so the
		// error's column lands under the right character.
		raw := m.prompt.input.Value()
		text := strings.TrimSpace(raw)
		f, err := filter.Parse(raw)
		if err != nil {
			m.prompt.setError(err)
			m.layout()
			return nil
		}
		m.filter, m.filterText = f, text
		m.closePrompt()
		m.rebuildRows()
		return nil
	}
	return m.prompt.update(msg)
}

func (m *model) closePrompt() {
	m.prompt.active = false
	m.prompt.err = nil
	m.layout()
}
