package ui

import (
	"context"

	"socktop/collect"
)

// Patches. When the kernel says the table changed (an event of the
// collector's namespace, a destroy record, a shown row gone), the change
// is named by cookie: the view need not dump the whole table to show it.
// A patch builds the table a walk would read from the shown one and the
// changed sockets, each asked for again (collect.Netlink.Patch), and
// checks it against the namespace's sockstat counters; it then goes the
// way of a walk: to the tracker, the marks, the rows. Where the kernel's
// word is not enough (a loss, a counter that moved without an event, a
// listener's change, a connect whose port its event came before) the
// patch refuses and the refresh walks. A walk still comes at the
// reconcile period: patches count as refreshes since the last walk.

// patcher is a source that can patch its last table.
type patcher interface {
	Patch(ctx context.Context, prev *collect.Snapshot, base collect.SockCounters, evs []collect.StateEvent,
		closed []collect.Closed, shown []collect.Socket, buf []collect.Socket) (collect.Snapshot, collect.PatchCounts, error)
}

// mayPatch reports whether a refresh that may not peek may still patch
// rather than walk: what changed since the last walk is known by cookie.
func (m *model) mayPatch() bool {
	if _, ok := m.src.(patcher); !ok || !m.patchable() {
		return false
	}
	g := &m.gate
	if g.mustWalk || !g.base.ok || g.held >= gateMaxHeld {
		return false
	}
	return g.age+1 < reconcileEvery(m.interval)
}

// patchFunc returns what a peek's Cmd calls to patch instead of walking:
// it reports false when the source cannot, or the patch refused, and
// the Cmd walks; what it drained meanwhile is added to d for the walk.
// shown is the keys of the rows on screen, which the patch refreshes
// too. The function reads the shown snapshot's rows off the event loop:
// nothing writes them while the Cmd runs, since only a peek's answer
// patches them in Update and no other refresh is in flight.
func (m *model) patchFunc(shown []collect.Socket) func(buf []collect.Socket, d *drained) (snapMsg, bool) {
	pt, ok := m.src.(patcher)
	g := &m.gate
	if !ok || g.mustWalk || m.snap == nil || m.rates {
		return func([]collect.Socket, *drained) (snapMsg, bool) { return snapMsg{}, false }
	}
	prev, base := m.snap, g.base.c
	// Owners are read only on screen unless a filter or the sort reads
	// every row's: a new socket off screen then waits for the periodic
	// owner scan rather than make each refresh scan.
	onScreen := !m.filter.ReadsOwners() && m.table.sortCol != colProcess
	lazy, _ := m.src.(interface{ SetOwnersOnScreen(bool) })
	carry, carryClosed := g.carry, g.carryClosed
	ctx, ev, scope, readListen, rlog := m.ctx, m.events, m.eventScope(), m.listen.read, m.rlog
	capture, segGen := m.seg.capture, m.seg.gen
	ns := scope.ns
	_, kgen := m.kernelWant()
	return func(buf []collect.Socket, d *drained) (snapMsg, bool) {
		if d.lost > 0 || d.closedLost > 0 || d.err != nil {
			return snapMsg{}, false
		}
		evs, closed := d.events, d.closed
		if len(carry) > 0 {
			evs = append(carry[:len(carry):len(carry)], evs...)
		}
		if len(carryClosed) > 0 {
			closed = append(carryClosed[:len(carryClosed):len(carryClosed)], closed...)
		}
		// Any error walks: ErrNoPatch says the kernel's word was not
		// enough, another that a lookup failed, which the walk reports.
		if lazy != nil {
			lazy.SetOwnersOnScreen(onScreen)
		}
		snap, counts, err := pt.Patch(ctx, prev, base, evs, closed, shown, buf)
		if err != nil {
			return snapMsg{}, false
		}
		// What changed while the patch ran: its events are read now, and
		// each such socket may have moved a counter by one.
		syncEvents(ev, counts.At)
		d2 := drain(ev, scope)
		mergeDrained(d, d2)
		if d2.lost > 0 || d2.closedLost > 0 || d2.err != nil || !counts.Within(changedSockets(&d2, ns)) {
			return snapMsg{}, false
		}
		rlog.collected()
		msg := snapMsg{snap: snap, ev: *d, segGen: segGen, kgen: kgen, counters: readCounters(readListen),
			stat: gateStat{c: counts.Kernel, ok: true}, patched: true}
		if counts.Origin != nil {
			// The source's own array, not a copy (4 MB a patch at a
			// million rows, garbage that lifted the view's peak): it is
			// read in the Update that receives this, and the source's
			// next Patch, which overwrites it, is a later refresh's.
			msg.origin, msg.originOf = counts.Origin, prev
		}
		msg.carry, msg.carryClosed = ownEvents(d2.events, ns), d2.closed
		if capture != nil {
			msg.segs = capture.Drain(nil)
		}
		return msg, true
	}
}

// mergeDrained adds b's events, records and losses to a's.
func mergeDrained(a *drained, b drained) {
	a.events = append(a.events, b.events...)
	a.closed = append(a.closed, b.closed...)
	a.lost += b.lost
	a.closedLost += b.closedLost
	if a.err == nil {
		a.err = b.err
	}
}

// ownEvents is the events of namespace ns (or of none known) in evs, in
// a new slice.
func ownEvents(evs []collect.StateEvent, ns uint32) []collect.StateEvent {
	var out []collect.StateEvent
	for _, e := range evs {
		if e.NetNS == 0 || e.NetNS == ns {
			out = append(out, e)
		}
	}
	return out
}

// changedSockets counts the TCP and the UDP sockets of namespace ns
// that d's events and destroy records name.
func changedSockets(d *drained, ns uint32) (tcp, udp int) {
	seen := make(map[uint64]struct{}, len(d.events)+len(d.closed))
	note := func(cookie uint64, proto collect.Proto) {
		if _, dup := seen[cookie]; dup {
			return
		}
		seen[cookie] = struct{}{}
		if proto == collect.UDP {
			udp++
		} else {
			tcp++
		}
	}
	for _, e := range d.events {
		if e.NetNS == 0 || e.NetNS == ns {
			note(e.Cookie, e.Proto)
		}
	}
	for _, c := range d.closed {
		note(c.Cookie, c.Proto)
	}
	return tcp, udp
}

// patched notes a patch's result: it is a refresh since the last walk,
// its counters are the base the next refresh compares with, and what
// the walk before it left to carry has been looked up.
func (m *model) patched(msg *snapMsg) {
	g := &m.gate
	g.patches++
	g.age++
	g.held = 0
	g.base = msg.stat
	g.dirty = g.dirtyBeside
	g.dirtyBeside = false
	g.carry, g.carryClosed = msg.carry, msg.carryClosed
	g.text = "walked " + walkAgo(msg.snap.Taken.Sub(g.lastWalk)) + " ago"
	m.header.gate = g.text
}

// noteCarry keeps what a walk's own drain read of the collector's
// namespace: read after the dump, it may be of changes the dump missed,
// and a patch after the walk asks for those sockets again. A loss, a
// stopped reader or a failed walk leave no word to patch by: the next
// refresh walks.
func (g *gateState) noteCarry(msg *snapMsg, ns uint32) {
	g.carry, g.carryClosed = nil, nil
	g.mustWalk = msg.err != nil || msg.ev.lost > 0 || msg.ev.closedLost > 0 || msg.ev.err != nil
	for _, e := range msg.ev.events {
		// An event from before the dump began is in the dump.
		if (e.NetNS == 0 || e.NetNS == ns) && !e.Time.Before(msg.snap.Taken) {
			g.carry = append(g.carry, e)
		}
	}
	g.carryClosed = append(g.carryClosed, msg.ev.closed...)
	if len(g.carry)+len(g.carryClosed) > max(carryMax, len(msg.snap.Sockets)/8) {
		g.mustWalk = true
	}
}

// carryMax is what a walk may leave for the next patch to ask for, or an
// eighth of the table when that is more (as Netlink.Patch bounds its
// lookups): more and a walk is cheaper than the lookups. A walk of a
// million sockets takes seconds, and a churning host's events meanwhile
// are tens of thousands.
const carryMax = 4096
