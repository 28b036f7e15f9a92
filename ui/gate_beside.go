package ui

import (
	"time"

	tea "charm.land/bubbletea/v2"
)

// Peeks beside a walk. A walk of a large table takes longer than the
// interval (a second or more of a core at a million sockets), and the
// ticks that come while it runs would otherwise be skipped: the rows on
// screen would stand still for the walk's length. A walk fills the
// spare array and a peek patches the shown one, and collect.Netlink
// answers lookups on a netlink socket of their own, so they run side
// by side: each tick while a walk is in flight peeks, unless a peek is
// still running.
//
// A peek beside a walk does lookups only. It does not read the event
// stream, the segment capture or the listen counters, which the walk's
// Cmd reads after its dump: the events wait in the stream for it, in
// order, so nothing the walk merges is split between two messages.

// mayPeekBeside reports whether a tick that comes while a walk is in
// flight may peek at the rows shown.
func (m *model) mayPeekBeside() bool {
	g := &m.gate
	// Not peekable but patchable: the last walk's marks and gone rows
	// wait for the walk in flight to age them, as they would without
	// the peek.
	return (g.walking || g.walkingNow.Load()) && !g.peeking && m.patchable()
}

// peekBesideCmd copies the keys of the rows on screen and looks them up.
func (m *model) peekBesideCmd() tea.Cmd {
	g := &m.gate
	g.peeking = true
	m.rlogBeside.started()
	p := m.src.(peeker)
	keys, out := m.peekKeys()
	ctx, rlog := m.ctx, m.rlogBeside
	return func() tea.Msg {
		var err error
		out, err = p.Lookup(ctx, keys, out)
		rlog.collected()
		return peekMsg{at: time.Now(), keys: keys, out: out, beside: true, failed: err != nil}
	}
}

// peekedBeside patches the rows shown with a peek made beside a walk;
// the walk, when it lands, replaces them whole. A failed lookup leaves
// them as they were: the walk in flight reads them anyway.
func (m *model) peekedBeside(msg peekMsg) tea.Cmd {
	g := &m.gate
	g.peeking = false
	g.besides++
	if msg.failed {
		return nil
	}
	was := g.dirty
	m.patch(msg)
	if g.dirty && !was && g.walking {
		// A shown row gone or in another state: the walk in flight may
		// have dumped before the change, and walked sets dirty from its
		// own drain alone.
		g.dirtyBeside = true
	}
	return nil
}
