package ui

import (
	"strings"

	"socktop/collect"
)

// apply makes cur the shown snapshot: diff against the previous one, marks,
// gone rows, transitions, then filter and sort once.
func (m *model) apply(cur *collect.Snapshot) {
	m.refreshes++
	if prev := m.snap; prev != nil {
		ch := collect.Diff(prev, cur)
		m.curMarks = ch.Marks
		// Marks of this refresh are read by index; only a refresh with a
		// sane number of changes carries its marks into the next ones, by
		// key (marking 100k churned rows for three refreshes tells nobody
		// anything and costs a map of 100k keys).
		changed := 0
		for _, mk := range ch.Marks {
			if mk != collect.MarkSame {
				changed++
			}
		}
		var goneKeys map[collect.Key]bool
		if len(m.gone) > 0 {
			goneKeys = make(map[collect.Key]bool, len(m.gone))
			for i := range m.gone {
				goneKeys[m.gone[i].s.Key()] = true
			}
		}
		back := map[collect.Key]bool{}
		for i, mk := range ch.Marks {
			if mk == collect.MarkSame {
				continue
			}
			if changed <= maxCarriedMarks {
				rm := markChanged
				if mk == collect.MarkNew {
					rm = markNew
				}
				m.marks[cur.Sockets[i].Key()] = markAge{mark: rm, until: m.refreshes + markRefreshes}
			}
			if mk == collect.MarkNew && goneKeys != nil {
				if k := cur.Sockets[i].Key(); goneKeys[k] {
					back[k] = true
				}
			}
		}
		// A socket that comes back is no longer gone.
		kept := m.gone[:0]
		for _, g := range m.gone {
			if g.until > m.refreshes && !back[g.s.Key()] {
				kept = append(kept, g)
			}
		}
		m.gone = kept
		for _, g := range ch.Gone[max(len(ch.Gone)-maxGone, 0):] {
			m.gone = append(m.gone, goneSock{s: g, until: m.refreshes + markRefreshes})
		}
		if len(m.gone) > maxGone {
			m.gone = append(m.gone[:0], m.gone[len(m.gone)-maxGone:]...)
		}
		// A gone socket past the length still holds the owner slices of
		// its refresh.
		m.gone = fitSlice(m.gone)
		m.marksPeak = max(m.marksPeak, len(m.marks))
		m.recordTransitions(cur, &ch)
	}
	for k, a := range m.marks {
		if a.until <= m.refreshes {
			delete(m.marks, k)
		}
	}
	m.marks, m.marksPeak = fitMap(m.marks, m.marksPeak)
	if m.snap == nil {
		m.curMarks = nil
	}
	m.snap = cur
	// The window is dropped from the front in place, so the buffer stays
	// the size of one window whatever the refresh rate.
	drop := 0
	for drop < len(m.samples) && cur.Taken.Sub(m.samples[drop].at) > sparkWindow {
		drop++
	}
	m.samples = append(m.samples[:copy(m.samples, m.samples[drop:])], sample{at: cur.Taken, total: len(cur.Sockets)})
	m.header.source = cur.Source
	m.header.partial = cur.Partial
	if len(cur.Notices) > 0 {
		m.header.notice = strings.Join(cur.Notices, "; ")
	}
	m.rebuildRows()
}

// rebuildRows filters and sorts the shown snapshot and the gone rows, then
// finds the selected socket again by its key.
func (m *model) rebuildRows() {
	m.rows = m.rows[:0]
	var counts [collect.NumStates]int
	if m.snap != nil {
		marks := m.curMarks
		if len(marks) != len(m.snap.Sockets) {
			marks = nil
		}
		for i := range m.snap.Sockets {
			s := &m.snap.Sockets[i]
			if m.filter.Match(s) {
				r := row{s: s}
				if marks != nil {
					r.mark = rowMark(marks[i]) // MarkSame, MarkNew, MarkChanged line up
				}
				m.rows = append(m.rows, r)
				counts[s.State.Canonical()]++
			}
		}
	}
	for i := range m.gone {
		if s := &m.gone[i].s; m.filter.Match(s) {
			m.rows = append(m.rows, row{s: s, mark: markGone})
		}
	}
	m.rows = fitSlice(m.sorter.sortRows(m.rows, m.table.sortCol, m.table.sortDesc))
	m.header.counts = counts
	m.header.shown = 0
	for _, c := range counts {
		m.header.shown += c
	}
	m.header.total = 0
	if m.snap != nil {
		m.header.total = len(m.snap.Sockets)
	}
	m.header.spark = sparkline(m.samples, 20)
	m.rowsChanged()
	m.reselect()
}

// reselect puts the selection back on the socket it was on; if that socket
// is no longer listed, the selection stays at the same index.
func (m *model) reselect() {
	found := false
	for i := range m.rows {
		if m.rows[i].s.Key() == m.selKey {
			m.selected, found = i, true
			break
		}
	}
	if !found {
		m.selected = min(max(m.selected, 0), max(len(m.rows)-1, 0))
		if m.mode == modeDetail {
			// The detail view keeps showing its socket, as gone, rather
			// than jumping to whatever row took its place.
			m.detail.gone = true
			m.fixScroll()
			return
		}
		if len(m.rows) > 0 {
			m.selKey = m.rows[m.selected].s.Key()
		}
	}
	m.fixScroll()
	if m.mode == modeDetail {
		m.syncDetail()
	} else {
		// A closed detail view would otherwise keep the copy of its
		// socket, whose owner slice and tcp_info belong to the refresh it
		// was opened in; openDetail fills it again.
		m.detail.sock, m.detail.hist, m.detail.info = collect.Socket{}, nil, nil
	}
}

// move moves the selection by delta rows.
func (m *model) move(delta int) {
	if len(m.rows) == 0 {
		return
	}
	m.selected = min(max(m.selected+delta, 0), len(m.rows)-1)
	m.selKey = m.rows[m.selected].s.Key()
	m.fixScroll()
}

// fixScroll keeps the selected row in the visible window.
func (m *model) fixScroll() {
	n := max(m.table.visibleRows(), 1)
	t := &m.table
	if m.selected < t.offset {
		t.offset = m.selected
	}
	if m.selected >= t.offset+n {
		t.offset = m.selected - n + 1
	}
	t.offset = min(t.offset, max(len(m.rows)-n, 0))
	t.offset = max(t.offset, 0)
}

// recordTransitions adds to the log and to the per-connection history the
// transitions of sockets that match the active filter, so that a demo or a
// port filter is not drowned by the rest of a busy host (whose churn would
// otherwise push the rows being watched out of the bounded history). The
// socket judged is the one the diff marked, or the gone one, so owner
// filters such as `proc nginx` work on the log too. Under heavy churn only
// the newest transitions can stay, so older ones are not even added.
func (m *model) recordTransitions(cur *collect.Snapshot, ch *collect.Changes) {
	kept := ch.Transitions
	if len(kept) == 0 {
		return
	}
	if m.filter != nil {
		// collect.Diff lists transitions in cur's order, each on a socket
		// it marked new or changed, then the gone ones in the order of
		// ch.Gone: one walk finds every transition's socket, with no map
		// (a map of 100k keys cost 40 MB a refresh when a table churned).
		// Only the newest maxHistKeys can stay in the history (and fewer
		// in the log): keep them in a ring rather than every match.
		ring := make([]collect.Transition, 0, min(len(kept), maxHistKeys))
		matched := 0
		i, g := 0, 0
		for _, t := range ch.Transitions {
			var s *collect.Socket
			if t.To != collect.StateUnknown {
				for i < len(cur.Sockets) && (ch.Marks[i] == collect.MarkSame || cur.Sockets[i].Key() != t.Key) {
					i++
				}
				if i == len(cur.Sockets) {
					continue
				}
				s = &cur.Sockets[i]
				i++
			} else if g < len(ch.Gone) {
				s = &ch.Gone[g]
				g++
			} else {
				continue
			}
			if m.filter.Match(s) {
				if len(ring) < cap(ring) {
					ring = append(ring, t)
				} else {
					ring[matched%len(ring)] = t
				}
				matched++
			}
		}
		kept = ring
		if matched > len(ring) {
			start := matched % len(ring)
			kept = append(append(make([]collect.Transition, 0, len(ring)), ring[start:]...), ring[:start]...)
		}
	}
	for _, t := range kept[max(len(kept)-maxHistKeys, 0):] {
		m.hist.add(t)
	}
	logged := kept[max(len(kept)-maxLog, 0):]
	socks := transitionSockets(cur, ch, logged)
	for j, t := range logged {
		m.log.add(logEntry{at: t.At, key: t.Key, from: t.From, to: t.To}, socks[j])
	}
}
