package ui

import (
	"slices"
	"sort"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
)

// Bounds of a paused view that reads only the event stream (pauseSkips):
// a snapshot is still taken every pausedDumpEvery ticks, or once the
// tracker was handed pausedMaxEvents events without one, since it keeps
// them until a snapshot is merged.
const (
	pausedDumpEvery = 10
	pausedMaxEvents = 50000
)

// collectCmd runs one collection off the event loop. The closure captures
// the source, never the model. It sets the kernel filter the view wants
// before the dump, and gives the source the spare array to fill, which
// belongs to the Cmd from here on (see release).
func (m *model) collectCmd() tea.Cmd {
	m.gate.walking = true
	walk, buf := m.walkFunc()
	return func() tea.Msg { return walk(buf) }
}

// walkFunc is collectCmd's collection, and the spare array it is to be
// given, which the caller's Cmd owns from here on: a peek that does not
// walk hands it back (gate.go).
func (m *model) walkFunc() (func(buf []collect.Socket) snapMsg, []collect.Socket) {
	m.inFlight = true
	m.rlog.started()
	stat, _ := m.src.(peeker)
	src, ctx, ev, rlog, scope := m.src, m.ctx, m.events, m.rlog, m.eventScope()
	capture, segGen := m.seg.capture, m.seg.gen
	kf, kgen := m.kernelWant()
	kset, _ := src.(kernelFilterSetter)
	ksc, sc, sgen := m.kscope, m.streamScope(scope), m.kscope.issue()
	fill, _ := src.(refiller)
	rates, rateTr := m.rates, m.rateTr
	infoSet, _ := src.(collect.TCPInfoSetter)
	buf := m.spare
	m.spare = nil
	readListen := m.listen.read
	return func(buf []collect.Socket) snapMsg {
		// Before the dump: a socket that comes during it moves the
		// counters from what the dump saw, and the next refresh walks.
		var st gateStat
		if stat != nil {
			c, err := stat.Sockstat()
			st = gateStat{c: c, ok: err == nil}
		}
		// The stream's kernel side narrows with the dump: what comes
		// after is what the new table needs, and what came before is
		// in the dump.
		scopeErr := ksc.apply(sgen, sc)
		if kset != nil {
			kset.SetKernelFilter(kf)
		}
		// tcp_info only while a rate column is shown: it makes a dump of
		// a large table dearer (docs/performance.md).
		if infoSet != nil {
			infoSet.SetTCPInfo(rates)
		}
		var snap collect.Snapshot
		var err error
		if fill != nil {
			snap, err = fill.SnapshotInto(ctx, buf)
		} else {
			snap, err = src.Snapshot(ctx)
		}
		if err == nil {
			if rates {
				rateTr.Fill(&snap)
			} else {
				// Counters from before the columns were hidden would
				// give the first refresh after showing them again a
				// rate over the whole gap.
				rateTr.Forget()
			}
		}
		rlog.collected()
		// Drained after the snapshot, so the events that led to the
		// states it lists are merged with it rather than a refresh late.
		syncEvents(ev, time.Now())
		msg := snapMsg{snap: snap, err: err, ev: drain(ev, scope), segGen: segGen, kgen: kgen, counters: readCounters(readListen), stat: st, scopeErr: scopeErr}
		if capture != nil {
			msg.segs = capture.Drain(nil)
		}
		return msg
	}, buf
}

// pauseSkips reports whether the next tick may read the event stream and
// take no snapshot: the view is paused, so nothing it shows can change,
// no demo checks its promises against the snapshots, and the kernel
// reports every transition, so none is lost; the next snapshot is
// diffed against the last one taken. With sampled transitions every
// snapshot is taken: the changes between them are all there is.
func (m *model) pauseSkips() bool {
	return m.paused && m.snap != nil && m.events != nil && m.demos.mode.Exact() && !m.demos.active() &&
		m.pausedTicks < pausedDumpEvery && m.pausedEvents < pausedMaxEvents
}

// drainCmd reads the event stream, and the segment capture, only.
func (m *model) drainCmd() tea.Cmd {
	m.inFlight = true
	ev, capture, segGen, scope := m.events, m.seg.capture, m.seg.gen, m.eventScope()
	return func() tea.Msg {
		msg := snapMsg{drainOnly: true, ev: drain(ev, scope), segGen: segGen}
		if capture != nil {
			msg.segs = capture.Drain(nil)
		}
		return msg
	}
}

// received handles the result of a collection.
func (m *model) received(msg snapMsg) tea.Cmd {
	m.inFlight = false
	m.gate.walking = false
	m.gate.walkingNow.Store(false)
	// Events go to the tracker even when the snapshot failed: the next
	// Update merges them.
	m.tracker.AddEvents(msg.ev.events, msg.ev.lost)
	m.tracker.AddClosed(msg.ev.closed, msg.ev.closedLost)
	if msg.ev.err != nil {
		m.header.events = eventsText(m.events, msg.ev.err)
		m.demos.mode = events.ModeSampled
	}
	m.seg.add(msg.segGen, msg.segs)
	quiet := len(msg.ev.events) == 0 && len(msg.ev.closed) == 0 && msg.ev.lost == 0 && msg.ev.closedLost == 0 && msg.ev.err == nil
	if quiet {
		m.quiet++
	} else {
		m.quiet = 0
	}
	if msg.drainOnly {
		m.noteDrain(&msg.ev)
		m.pausedTicks++
		m.pausedEvents += len(msg.ev.events) + len(msg.ev.closed)
		return nil
	}
	m.walked(&msg)
	if msg.scopeErr != nil && !m.scopeTold {
		// Once: the stream reads everything, as it did before scopes.
		m.scopeTold = true
		m.extraNotices = append(m.extraNotices, "events unfiltered in the kernel: "+msg.scopeErr.Error())
		m.setNotice()
	}
	if msg.err != nil {
		m.lastErr = msg.err.Error()
		return nil
	}
	m.lastErr = ""
	m.pausedTicks, m.pausedEvents = 0, 0
	snap := &msg.snap
	if note := m.listen.observe(msg.counters, snap.Taken); note != "" {
		m.extraNotices = append(m.extraNotices, note)
		m.setNotice()
	}
	if m.unchanged(snap) {
		// What does not come from the rows goes on: the counters, the
		// sparkline, the host's total.
		m.header.listen = m.listen.headerText()
		m.sample(snap)
		m.header.total = hostTotal(snap)
		m.giveBack(snap.Sockets)
		return nil
	}
	oldSnap, oldPending, oldFed := m.snap, m.pending, m.fed
	// A new kernel filter lists other sockets: the ones it leaves out have
	// not gone, nor have the ones it adds appeared.
	rebased := msg.kgen != m.kern.shown
	m.kern.shown = msg.kgen
	if rebased {
		m.tracker.Rebase()
	}
	// One diff per snapshot, for the view and every demo; while paused
	// the demos go on and the view holds what changed. A patch's origins
	// pair its carried rows (a walk has none, and after a Rebase the
	// tracker has no previous table for them to be of).
	ch := m.tracker.UpdateFrom(snap, msg.origin, msg.originOf)
	m.fed = snap
	m.lost += ch.Lost
	m.demos.observe(snap, &ch)
	if m.paused {
		m.hold(snap, &ch, rebased)
		m.pending, m.pendingMarks = snap, ch.Marks
		if rebased {
			m.pendingMarks = nil
		}
	} else {
		switch {
		case rebased:
		case msg.patched:
			m.origin, m.originOf = msg.origin, msg.originOf
		case oldFed == oldSnap:
			// The tracker paired the walk's rows with the shown ones.
			m.origin, m.originOf = m.walkOrigin(snap, oldSnap, &ch), oldSnap
		}
		m.applyRebased(snap, &ch, rebased)
	}
	m.release(oldSnap)
	m.release(oldPending)
	m.release(oldFed)
	mem := m.noteTableSize(len(snap.Sockets))
	m.gc.tune()
	if m.paused {
		return mem
	}
	return tea.Batch(m.refreshInfo(), mem)
}

// release gives s's array back for the next collection once nobody may
// hold a row of it: it is neither shown, nor the newest received while
// paused, nor the tracker's previous snapshot. The rule on the Snapshot
// type holds because everything else keeps copies: gone rows, held
// changes, the log, the closed log and the detail view copy the sockets
// they keep, the demo runs keep keys, and the rows and the peer index
// are rebuilt on the shown snapshot.
func (m *model) release(s *collect.Snapshot) {
	if s == nil || s == m.snap || s == m.pending || s == m.fed {
		return
	}
	m.giveBack(s.Sockets)
	s.Sockets = nil
}

// giveBack keeps socks for the next collection, when the source can fill
// it and it is not far larger than the table shown now (a burst's array
// would keep the burst's memory).
func (m *model) giveBack(socks []collect.Socket) {
	if _, ok := m.src.(refiller); !ok || cap(socks) == 0 {
		return
	}
	n := 0
	if m.snap != nil {
		n = len(m.snap.Sockets)
	}
	if oversized(cap(socks), n) {
		return
	}
	m.spare = socks[:0]
}

// unchanged reports whether cur, a kernel filter's answer, would show
// nothing new: the same rows as the shown snapshot, which the tracker
// diffed against last, no event read this refresh or the one before (so
// the tracker has none waiting to be merged), and no mark or gone row
// left to age. Such a snapshot is dropped before the tracker and the
// table see it. The detail view's tcp_info changes whatever the dump
// says, so it always refreshes.
func (m *model) unchanged(cur *collect.Snapshot) bool {
	s := m.snap
	if !cur.Filtered || s == nil || m.mode == modeDetail || m.paused || m.pending != nil || m.fed != s ||
		m.held != nil || m.demos.active() || m.quiet < 2 || m.curChanged || len(m.marks) > 0 || len(m.gone) > 0 {
		return false
	}
	if cur.Partial != s.Partial || cur.Owners != s.Owners || cur.Source != s.Source || len(cur.Notices) > 0 {
		return false
	}
	if len(cur.Sockets) > 0 && len(s.Sockets) > 0 && &cur.Sockets[0] == &s.Sockets[0] {
		return false // the shown array handed again: it cannot be told from itself
	}
	return sameSockets(s.Sockets, cur.Sockets)
}

// hostTotal is how many sockets the host's table holds, as far as cur
// tells: its length, or for a snapshot the kernel filter narrowed the
// kernel's count, -1 when unknown.
func hostTotal(cur *collect.Snapshot) int {
	if !cur.Filtered {
		return len(cur.Sockets)
	}
	if cur.Total <= 0 {
		return -1
	}
	return max(cur.Total, len(cur.Sockets))
}

// sample adds cur's total to the sparkline's window. The window is
// dropped from the front in place, so the buffer stays the size of one
// window whatever the refresh rate.
func (m *model) sample(cur *collect.Snapshot) {
	drop := 0
	for drop < len(m.samples) && cur.Taken.Sub(m.samples[drop].at) > sparkWindow {
		drop++
	}
	total := hostTotal(cur)
	if total < 0 {
		total = len(cur.Sockets)
	}
	m.samples = append(m.samples[:copy(m.samples, m.samples[drop:])], sample{at: cur.Taken, total: total})
}

// apply makes cur the shown snapshot, with ch the tracker's changes from
// the snapshot received before it.
func (m *model) apply(cur *collect.Snapshot, ch *collect.Changes) {
	m.applyRebased(cur, ch, false)
}

// applyRebased makes cur the shown snapshot, with ch the tracker's changes
// from the snapshot received before it: what was held while paused, then
// marks, gone rows and transitions, then filter and sort once. After a
// rebase (a new kernel filter) the marks and gone rows say nothing, and
// only the kernel's transitions are real.
func (m *model) applyRebased(cur *collect.Snapshot, ch *collect.Changes, rebased bool) {
	m.refreshes++
	if m.held != nil {
		m.noteHeld(m.held)
		m.held = nil
	}
	// Until a snapshot has been shown, nothing has changed on screen: the
	// first one marks nothing and logs nothing.
	m.curChanged = false
	if m.snap != nil {
		if rebased {
			m.curMarks = nil
			m.noteGone(nil, m.goneBack(cur, ch.Marks, nil))
		} else {
			m.curMarks = ch.Marks
			m.noteMarks(cur, ch)
			m.noteGone(ch.Gone, m.goneBack(cur, ch.Marks, nil))
			m.curChanged = slices.ContainsFunc(ch.Marks, func(mk collect.Mark) bool { return mk != collect.MarkSame })
		}
		kept, socks := m.matchTransitions(cur, ch)
		m.noteTransitions(kept, socks)
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
	old := m.snap
	var oldSocks []collect.Socket // what the rows point into, released below
	if old != nil {
		oldSocks = old.Sockets
	}
	m.snap = cur
	m.release(old)
	m.listen.compute(cur)
	m.header.listen = m.listen.headerText()
	m.sample(cur)
	m.header.source = cur.Source
	m.header.partial = cur.Partial
	if len(cur.Notices) > 0 {
		m.snapNotices = cur.Notices
		m.setNotice()
	}
	m.closed.addAll(ch.Closed)
	origin, of := m.origin, m.originOf
	m.origin, m.originOf = nil, nil
	if of == nil || of != old || !m.rebuildPatched(old, oldSocks, origin) {
		m.rebuildRows()
	}
}

// noteMarks carries the marks of a refresh into the next ones, by key.
// Marks of this refresh are read by index; only a refresh with a sane
// number of changes carries them (marking 100k churned rows for three
// refreshes tells nobody anything and costs a map of 100k keys).
func (m *model) noteMarks(cur *collect.Snapshot, ch *collect.Changes) {
	changed := 0
	for _, mk := range ch.Marks {
		if mk != collect.MarkSame {
			changed++
		}
	}
	if changed > maxCarriedMarks {
		return
	}
	for i, mk := range ch.Marks {
		if mk == collect.MarkSame {
			continue
		}
		rm := markChanged
		if mk == collect.MarkNew {
			rm = markNew
		}
		m.marks[cur.Sockets[i].Key()] = markAge{mark: rm, until: m.refreshes + markRefreshes}
	}
	m.marksPeak = max(m.marksPeak, len(m.marks))
}

// goneBack returns the keys of the gone rows, and of the sockets in also,
// that a new row of cur lists again.
func (m *model) goneBack(cur *collect.Snapshot, marks []collect.Mark, also []collect.Socket) map[collect.Key]bool {
	if len(m.gone)+len(also) == 0 {
		return nil
	}
	goneKeys := make(map[collect.Key]bool, len(m.gone)+len(also))
	for i := range m.gone {
		goneKeys[m.gone[i].s.Key()] = true
	}
	for i := range also {
		goneKeys[also[i].Key()] = true
	}
	back := map[collect.Key]bool{}
	for i, mk := range marks {
		if mk == collect.MarkNew {
			if k := cur.Sockets[i].Key(); goneKeys[k] {
				back[k] = true
			}
		}
	}
	return back
}

// noteGone drops the gone rows that expired or came back and adds the
// sockets that went away.
func (m *model) noteGone(gone []collect.Socket, back map[collect.Key]bool) {
	kept := m.gone[:0]
	for _, g := range m.gone {
		if g.until > m.refreshes && !back[g.s.Key()] {
			kept = append(kept, g)
		}
	}
	m.gone = kept
	for _, g := range gone[max(len(gone)-maxGone, 0):] {
		m.gone = append(m.gone, goneSock{s: g, until: m.refreshes + markRefreshes})
	}
	if len(m.gone) > maxGone {
		m.gone = append(m.gone[:0], m.gone[len(m.gone)-maxGone:]...)
	}
	// A gone socket past the length still holds the owner slices of
	// its refresh.
	m.gone = fitSlice(m.gone)
}

// noteTransitions adds transitions to the per-connection history and, with
// the sockets of the last len(socks) of them, to the log.
func (m *model) noteTransitions(kept []collect.Transition, socks []*collect.Socket) {
	for _, t := range kept[max(len(kept)-maxHistKeys, 0):] {
		m.hist.add(t)
	}
	logged := kept[len(kept)-len(socks):]
	// The log is in time order: a refresh's kernel transitions happened
	// before the snapshot that the sampled ones are stamped with.
	order := make([]int, len(logged))
	for j := range order {
		order[j] = j
	}
	sort.SliceStable(order, func(x, y int) bool { return logged[order[x]].At.Before(logged[order[y]].At) })
	for _, j := range order {
		t := logged[j]
		s := socks[j]
		if s == nil {
			ks := keySocket(t.Key, t.From, t.To, t.Cookie)
			s = &ks
		}
		m.log.add(logEntry{at: t.At, key: t.Key, from: t.From, to: t.To, source: t.Source}, s)
	}
}

// matchTransitions picks the transitions of sockets that the view shows
// (the flags and the filter), so that a demo or a port filter is not
// drowned by the rest of a busy host (whose churn would otherwise push
// the rows being watched out of the bounded history). The socket judged is
// the one the transition points at, in cur or among the gone ones, so
// owner filters such as `proc nginx` work on the log too. Under heavy
// churn only the newest transitions can stay, so only the newest
// maxHistKeys are returned, and the sockets of the newest maxLog of them.
func (m *model) matchTransitions(cur *collect.Snapshot, ch *collect.Changes) ([]collect.Transition, []*collect.Socket) {
	n := len(ch.Transitions)
	if n == 0 {
		return nil, nil
	}
	// A ring of the newest matches rather than every match: a table that
	// churned 100k rows would otherwise copy them all.
	ring := make([]int32, 0, min(n, maxHistKeys))
	matched := 0
	all := m.filter == nil && m.narrow == (Narrow{})
	for i := range ch.Transitions {
		if all && i < n-cap(ring) {
			continue
		}
		if !all {
			s := ch.Socket(cur, &ch.Transitions[i])
			if s == nil {
				// Opened and closed between two refreshes: the kernel's
				// events are all there is of it, so its key is judged.
				tr := &ch.Transitions[i]
				ks := keySocket(tr.Key, tr.From, tr.To, tr.Cookie)
				s = &ks
			}
			if !m.shows(s) {
				continue
			}
		}
		if len(ring) < cap(ring) {
			ring = append(ring, int32(i))
		} else {
			ring[matched%len(ring)] = int32(i)
		}
		matched++
	}
	if len(ring) == 0 {
		return nil, nil
	}
	start := 0
	if matched > len(ring) {
		start = matched % len(ring)
	}
	kept := make([]collect.Transition, 0, len(ring))
	for j := range ring {
		kept = append(kept, ch.Transitions[ring[(start+j)%len(ring)]])
	}
	socks := make([]*collect.Socket, min(len(kept), maxLog))
	off := len(kept) - len(socks)
	for j := range socks {
		socks[j] = ch.Socket(cur, &kept[off+j])
	}
	return kept, socks
}

// shows reports whether the table lists s: the command line's narrowing
// flags and the filter both keep it.
func (m *model) shows(s *collect.Socket) bool {
	return m.narrow.Match(s) && m.filter.Match(s)
}

// rebuildRows filters and sorts the shown snapshot and the gone rows, then
// finds the selected socket again by its key.
func (m *model) rebuildRows() {
	m.rows = m.rows[:0]
	var counts [collect.NumStates]int
	need := colNeed{names: m.measureNames()}
	m.spaces.reset()
	if m.snap != nil {
		marks := m.curMarks
		if len(marks) != len(m.snap.Sockets) {
			marks = nil
		}
		// The health is in socket order: one cursor walks it.
		health, next := m.listen.health, 0
		for i := range m.snap.Sockets {
			s := &m.snap.Sockets[i]
			m.spaces.add(s.NetNS)
			full := false
			if next < len(health) && health[next].Index == i {
				full = health[next].Full()
				next++
			}
			if m.shows(s) {
				r := row{s: s, full: full, idx: int32(i)}
				if marks != nil {
					r.mark = rowMark(marks[i]) // MarkSame, MarkNew, MarkChanged line up
				}
				m.rows = append(m.rows, r)
				need.add(s)
				counts[s.State.Canonical()]++
			}
		}
	}
	for i := range m.gone {
		if s := &m.gone[i].s; m.shows(s) {
			m.rows = append(m.rows, row{s: s, mark: markGone, idx: -1})
			need.add(s)
		}
	}
	m.rows = fitSlice(m.sorter.sortRows(m.rows, m.table.sortCol, m.table.sortDesc))
	m.finishRows(counts, need)
}

// finishRows is what rebuildRows does once the rows are in order: the
// header's counts, the columns' widths, the selection.
func (m *model) finishRows(counts [collect.NumStates]int, need colNeed) {
	m.header.counts = counts
	m.header.shown = 0
	for _, c := range counts {
		m.header.shown += c
	}
	m.header.total = 0
	if m.snap != nil {
		m.header.total = hostTotal(m.snap)
	}
	m.header.spark = sparkline(m.samples, 20)
	need.netns = m.spaces.count > 1
	need.rates = m.rates
	m.header.netns = m.spaces.label()
	m.table.need = need
	m.rowsOf, m.rowsSig = m.snap, m.rowSig()
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
			// Its path goes on: the kernel reports the steps of its
			// close after the last snapshot that listed it.
			m.syncPath()
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
		m.detail.sock, m.detail.peer, m.detail.hist, m.detail.info = collect.Socket{}, collect.Socket{}, nil, nil
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

// heldChanges is what the snapshots received while paused changed, kept
// apart from them (sockets are copies) so that the view stays as it was,
// only the newest snapshot is kept, and the resume loses no transition.
type heldChanges struct {
	marks map[collect.Key]rowMark // nil once more than maxCarriedMarks
	back  map[collect.Key]bool    // gone rows of the view listed again
	gone  []collect.Socket        // at most maxGone, oldest first
	trans []collect.Transition    // at most maxHistKeys, oldest first
	socks []collect.Socket        // the sockets of the last len(socks) of trans
	// closed are the destroy records, kept by the closed log's rules
	// (copies, at most maxClosed).
	closed closedView
}

// hold adds the changes of cur, received while paused, to m.held. After a
// rebase (a new kernel filter) cur's marks say nothing.
func (m *model) hold(cur *collect.Snapshot, ch *collect.Changes, rebased bool) {
	if m.snap == nil {
		return // nothing shown yet: the resume shows the first table
	}
	h := m.held
	if h == nil {
		h = &heldChanges{marks: map[collect.Key]rowMark{}, back: map[collect.Key]bool{}}
		m.held = h
	}
	for i, mk := range ch.Marks {
		if rebased {
			break
		}
		if mk == collect.MarkSame || h.marks == nil {
			continue
		}
		if len(h.marks) >= maxCarriedMarks {
			h.marks = nil
			continue
		}
		rm := markChanged
		if mk == collect.MarkNew {
			rm = markNew
		}
		h.marks[cur.Sockets[i].Key()] = rm
	}
	// A socket that went while paused and is listed again is not gone.
	if back := m.goneBack(cur, ch.Marks, h.gone); len(back) > 0 {
		h.gone = slices.DeleteFunc(h.gone, func(s collect.Socket) bool { return back[s.Key()] })
		for k := range back {
			h.back[k] = true
		}
	}
	for i := range ch.Gone {
		h.gone = append(h.gone, detached(&ch.Gone[i]))
	}
	if len(h.gone) > maxGone {
		h.gone = slices.Delete(h.gone, 0, len(h.gone)-maxGone)
	}
	kept, socks := m.matchTransitions(cur, ch)
	// The sockets of the older transitions are given up first: only the
	// last maxLog transitions can be logged.
	if len(socks) < len(kept) {
		h.socks = h.socks[:0] // no longer the sockets of the last ones
	}
	h.trans = append(h.trans, kept...)
	if len(h.trans) > maxHistKeys {
		h.trans = slices.Delete(h.trans, 0, len(h.trans)-maxHistKeys)
	}
	h.closed.addAll(ch.Closed)
	off := len(kept) - len(socks)
	for j, s := range socks {
		if s == nil {
			tr := &kept[off+j]
			ks := keySocket(tr.Key, tr.From, tr.To, tr.Cookie)
			s = &ks
		}
		h.socks = append(h.socks, detached(s))
	}
	if n := min(len(h.socks), len(h.trans), maxLog); n < len(h.socks) {
		h.socks = slices.Delete(h.socks, 0, len(h.socks)-n)
	}
}

// noteHeld applies what was held while paused, as one refresh.
func (m *model) noteHeld(h *heldChanges) {
	for k, rm := range h.marks {
		m.marks[k] = markAge{mark: rm, until: m.refreshes + markRefreshes}
	}
	m.marksPeak = max(m.marksPeak, len(m.marks))
	m.noteGone(h.gone, h.back)
	for i := range h.closed.entries {
		m.closed.add(&h.closed.entries[i].c)
	}
	socks := make([]*collect.Socket, len(h.socks))
	for i := range h.socks {
		socks[i] = &h.socks[i]
	}
	m.noteTransitions(h.trans, socks)
}

// detached returns a copy of s that keeps nothing of its snapshot: owners
// of its own and no tcp_info.
func detached(s *collect.Socket) collect.Socket {
	c := *s
	c.Owners = slices.Clone(s.Owners)
	c.Info = nil
	return c
}
