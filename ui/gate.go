package ui

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/segments"
)

// The gate: a tick walks the whole socket table (a dump, collectCmd) only
// when something can have changed it, and otherwise peeks: it asks the
// kernel again for the rows on screen alone (collect.Netlink.Lookup) and
// patches their volatile fields. With exact kernel events the table's
// membership and states cannot change without an event, a destroy record
// or a move of the namespace's sockstat counters; what changes silently
// is the queues, the timer and the retransmits, and only the rows shown
// need those fresh. docs/performance.md ("Issue 14: walk only when
// something changed") has the rules and the figures.

// peeker is a source that can look rows up one by one and read its
// namespace's counters (collect.Netlink).
type peeker interface {
	Lookup(ctx context.Context, rows []collect.Socket, out []collect.Peeked) ([]collect.Peeked, error)
	Sockstat() (collect.SockCounters, error)
	PeekNetNS() (uint32, bool)
}

// Reconciling: however quiet the events and counters, a walk comes at
// least every reconcileTicks refreshes, and at least every reconcileMax.
// What no event nor counter announces (a UDP socket's connect, a
// half-open request socket, a new owner of a socket, the queues of rows
// off screen) is as of the last walk until then. Peeks keep the rows on
// screen fresh and patches follow every change the kernel announces, so
// what the reconcile walk catches is off screen or rare: half a minute
// at the usual intervals, and the cap keeps it there at the slow ones.
const (
	reconcileTicks = 30
	reconcileMax   = 30 * time.Second
)

// gateMaxHeld bounds the events and destroy records of other namespaces
// a run of peeks hands the tracker, which keeps them until a walk merges
// them: the merge of many at once costs far more than their share of
// the merges a walk every refresh makes (docs/performance.md).
const gateMaxHeld = 2000

// reconcileEvery is how many refreshes in a row may be peeks plus one.
func reconcileEvery(interval time.Duration) int {
	return max(1, min(reconcileTicks, int(reconcileMax/interval)))
}

// gateStat is one reading of the namespace's counters.
type gateStat struct {
	c  collect.SockCounters
	ok bool
}

// gateState is what the gate knows of the walks and peeks.
type gateState struct {
	walks, peeks int // refreshes of each kind, for the tests and the log
	// besides counts the peeks made beside a walk in flight; walking is
	// set while a walk's Cmd (collectCmd) runs, peeking while such a
	// peek does (gate_beside.go).
	besides          int
	walking, peeking bool
	// walkingNow is set by a peek's Cmd when it goes on to walk, so that
	// the ticks during that walk may peek beside it too.
	walkingNow atomic.Bool
	// dirtyBeside is a dirty that a peek beside the walk in flight
	// found, for walked to keep.
	dirtyBeside bool
	// patches counts the refreshes patched (gate_patch.go); mustWalk
	// says the next refresh may not patch (a loss, a failed walk);
	// carry and carryClosed are what the last walk's own drain read of
	// the namespace, for the next patch to ask for.
	patches     int
	mustWalk    bool
	carry       []collect.StateEvent
	carryClosed []collect.Closed
	// base is the counters read before the last walk's dump; lastWalk
	// its snapshot's time; age the peeks since.
	base     gateStat
	lastWalk time.Time
	age      int
	// held counts the events and records handed to the tracker since.
	held int
	// dirty is set by what says the table may differ from the last walk:
	// an event of the collector's namespace, a destroy record or a loss
	// read since (in any drain, the walk's own too), a walk that failed,
	// a shown row that a peek found gone or in another state.
	dirty bool
	// keys and out are the peek's buffers, the Cmd's while one runs;
	// targets are the shown rows they were copied from, in of's array.
	keys    []collect.Socket
	out     []collect.Peeked
	targets []*collect.Socket
	of      *collect.Snapshot
	// ports counts the listeners and UDP sockets of portsOf by
	// protocol and local port (see exactMissing).
	ports   map[gatePort]int
	portsOf *collect.Snapshot
	// unpeekable counts the shown rows the last peek could not ask
	// about or the kernel answered with another socket for.
	unpeekable int
	// text is the header's word after a peek: when the last walk was.
	text string
	// ownersTried is the cookies of shown rows whose unknown owner a
	// patch was made to look for (see ownerWanted).
	ownersTried map[uint64]bool
}

// ownerWanted reports whether a row on screen has an owner not known
// yet that no patch has looked for: a patch scans only for the owners
// of the rows shown when it started (collect.Netlink.SetOwnersOnScreen),
// and a new row is shown only after the patch that found it, so the
// refresh after patches rather than peeks, and its scan finds the owner.
// Each row is tried once (a socket of another pid namespace stays
// unknown); the walks forget the tries.
func (m *model) ownerWanted() bool {
	g := &m.gate
	t := &m.table
	for i := t.offset; i < len(m.rows) && i < t.offset+t.visibleRows(); i++ {
		s := m.rows[i].s
		if s.Inode == 0 || s.Known(collect.FieldOwners) || g.ownersTried[s.Cookie] {
			continue
		}
		if g.ownersTried == nil || len(g.ownersTried) > 4096 {
			g.ownersTried = map[uint64]bool{}
		}
		g.ownersTried[s.Cookie] = true
		return true
	}
	return false
}

// gatePort is a protocol and local port.
type gatePort struct {
	proto collect.Proto
	port  uint16
}

// peekMsg is the result of a peek.
type peekMsg struct {
	at       time.Time
	keys     []collect.Socket
	out      []collect.Peeked
	ev       drained
	counters counterReading
	segGen   uint64
	segs     []segments.Segment
	// spare is the array a walk would have filled, handed back.
	spare []collect.Socket
	// beside marks a peek made while a walk was in flight
	// (gate_beside.go): lookups only; failed, one whose lookup failed.
	beside, failed bool
}

// refreshCmd is a tick's collection: a peek when the gate allows one,
// a walk otherwise.
func (m *model) refreshCmd() tea.Cmd {
	switch {
	case m.mayPeek() && !m.ownerWanted():
		return m.peekCmd(false)
	case m.mayPatch():
		return m.peekCmd(true)
	}
	return m.collectCmd()
}

// volatileSort reports whether the table is sorted by a figure that
// changes without an event: the order of every row would need it fresh.
func volatileSort(col column) bool {
	switch col {
	case colRecvQ, colSendQ, colTimer, colSendRate, colRecvRate:
		return true
	}
	return false
}

// mayPeek reports whether the next refresh may peek, from what the model
// knows; the peek's Cmd still walks if the counters moved or an event
// of the collector's namespace came. The filter's conditions are all of
// fields that no socket changes silently but its owners, which a walk
// refreshes at the reconcile period.
func (m *model) mayPeek() bool {
	if !m.peekable() {
		return false
	}
	g := &m.gate
	if g.dirty || !g.base.ok || g.held >= gateMaxHeld {
		return false
	}
	return g.age+1 < reconcileEvery(m.interval)
}

// peekable reports whether the rows shown may be refreshed by a peek at
// all, whatever the walks: the part of mayPeek that a peek beside a
// walk in flight (gate_beside.go) needs too.
func (m *model) peekable() bool {
	// A walk's marks and gone rows age by walks: rows of the last walk
	// marked by index would keep their mark, and gone rows need a
	// rebuild to drop. A patch is a walk to the tracker (gate_patch.go).
	return m.patchable() && !m.curChanged && len(m.gone) == 0
}

// patchable is peekable without the marks: what a patch needs.
func (m *model) patchable() bool {
	p, ok := m.src.(peeker)
	if !ok || m.events == nil || !m.demos.mode.Exact() || m.demos.active() || m.paused {
		return false
	}
	// The counters and the event check are of the namespace the source
	// collects in. Under --all-netns or -N they would have to be read in
	// every namespace dumped (or the one named), and tracefs events do
	// not say theirs: such a source walks.
	if _, own := p.PeekNetNS(); !own {
		return false
	}
	if m.snap == nil || m.pending != nil || m.held != nil || m.fed != m.snap || m.lastErr != "" {
		return false
	}
	// The group view sums queues over groups, the rates need tcp_info of
	// every connection, the detail view and the other modes show more
	// than the table's rows.
	if m.mode != modeTable || m.group.on() || m.rates || volatileSort(m.table.sortCol) {
		return false
	}
	if _, gen := m.kernelWant(); gen != m.kern.shown {
		return false // a new kernel filter lists other sockets
	}
	return true
}

// ownNamespace reports whether d says the collector's namespace ns may
// have changed: an event of it (or of no known namespace), a destroy
// record (their watcher listens in socktop's own namespace), a loss or
// a stopped reader.
func ownNamespace(d *drained, ns uint32) bool {
	if len(d.closed) > 0 || d.lost > 0 || d.closedLost > 0 || d.err != nil {
		return true
	}
	for i := range d.events {
		if n := d.events[i].NetNS; n == 0 || n == ns {
			return true
		}
	}
	return false
}

// peekCmd copies the keys of the rows on screen and returns the Cmd that
// reads the counters and the event stream and, when neither says the
// table changed, looks the rows up; otherwise it walks, as collectCmd.
func (m *model) peekCmd(mustPatch bool) tea.Cmd {
	g := &m.gate
	walk, buf := m.walkFunc()
	p := m.src.(peeker)
	ns, _ := p.PeekNetNS()
	base := g.base.c
	keys, out := m.peekKeys()
	ctx, ev, readListen, rlog, scope := m.ctx, m.events, m.listen.read, m.rlog, m.eventScope()
	capture, segGen := m.seg.capture, m.seg.gen
	patch := m.patchFunc(keys)
	walkingNow := &g.walkingNow
	return func() tea.Msg {
		c, err := p.Sockstat()
		syncEvents(ev, time.Now())
		d := drain(ev, scope)
		if err != nil || mustPatch || c != base || ownNamespace(&d, ns) {
			if msg, ok := patch(buf, &d); ok {
				return msg
			}
			// From here the Cmd reads no row of the shown table: a tick
			// may peek beside the walk (gate_beside.go).
			walkingNow.Store(true)
			return walkAfter(walk(buf), d)
		}
		if out, err = p.Lookup(ctx, keys, out); err != nil {
			return walkAfter(walk(buf), d)
		}
		rlog.collected()
		msg := peekMsg{at: time.Now(), keys: keys, out: out, ev: d, counters: readCounters(readListen), segGen: segGen, spare: buf}
		if capture != nil {
			msg.segs = capture.Drain(nil)
		}
		return msg
	}
}

// peekKeys copies the keys of the rows on screen into the peek's buffer,
// which belongs to the peek's Cmd from here on, and notes the rows they
// came from (targets, in of's array) for peeked.
func (m *model) peekKeys() ([]collect.Socket, []collect.Peeked) {
	g := &m.gate
	keys, out := g.keys[:0], g.out
	g.keys, g.out, g.targets, g.of = nil, nil, g.targets[:0], m.snap
	t := &m.table
	for i := t.offset; i < len(m.rows) && i < t.offset+t.visibleRows(); i++ {
		s := m.rows[i].s
		keys = append(keys, collect.Socket{Proto: s.Proto, Family: s.Family, State: s.State, Local: s.Local,
			Remote: s.Remote, Cookie: s.Cookie, Ifindex: s.Ifindex, NetNS: s.NetNS, Unknown: s.Unknown})
		g.targets = append(g.targets, s)
	}
	return keys, out
}

// walkAfter puts what a drain read before the walk ahead of the walk's.
func walkAfter(msg snapMsg, d drained) snapMsg {
	e := &msg.ev
	e.events = append(d.events, e.events...)
	e.closed = append(d.closed, e.closed...)
	e.lost += d.lost
	e.closedLost += d.closedLost
	if e.err == nil {
		e.err = d.err
	}
	return msg
}

// walked notes a walk's result: its counters become the base, and what
// its own drain read decides whether the next refresh may peek.
func (m *model) walked(msg *snapMsg) {
	g := &m.gate
	if msg.patched {
		m.patched(msg)
		return
	}
	g.walks++
	g.age = 0
	g.ownersTried = nil
	g.held = 0
	g.text = ""
	m.header.gate = ""
	g.base = msg.stat
	ns := uint32(0)
	if p, ok := m.src.(peeker); ok {
		ns, _ = p.PeekNetNS()
	}
	g.dirty = msg.err != nil || ownNamespace(&msg.ev, ns) || g.dirtyBeside
	g.dirtyBeside = false
	g.noteCarry(msg, ns)
	if msg.err == nil {
		g.lastWalk = msg.snap.Taken
	}
}

// noteDrain notes what a paused view's drain read.
func (m *model) noteDrain(d *drained) {
	ns := uint32(0)
	if p, ok := m.src.(peeker); ok {
		ns, _ = p.PeekNetNS()
	}
	if ownNamespace(d, ns) {
		m.gate.dirty = true
	}
}

// peeked patches the shown rows with a peek's answers. No row moves:
// the sort is of a field a peek does not change, and a row gone or in
// another state is left as it is for the next refresh, a walk. The rows
// are those of the shown snapshot's array, which is the tracker's
// previous one too: the next walk is diffed against what the peeks
// showed, so a queue change a peek marked is not marked again.
func (m *model) peeked(msg peekMsg) tea.Cmd {
	g := &m.gate
	g.keys, g.out = msg.keys, msg.out
	if msg.beside {
		return m.peekedBeside(msg)
	}
	m.inFlight = false
	m.tracker.AddEvents(msg.ev.events, msg.ev.lost)
	m.tracker.AddClosed(msg.ev.closed, msg.ev.closedLost)
	m.seg.add(msg.segGen, msg.segs)
	m.quiet++ // the Cmd walks instead of a peek when its drain was not empty
	m.giveBack(msg.spare)
	g.peeks++
	g.age++
	g.held += len(msg.ev.events) + len(msg.ev.closed)
	if note := m.listen.observe(msg.counters, msg.at); note != "" {
		m.extraNotices = append(m.extraNotices, note)
		m.setNotice()
	}
	m.header.listen = m.listen.headerText()
	m.patch(msg)
	return nil
}

// patch writes a peek's answers into the rows it asked about, when they
// are still the rows of the snapshot shown.
func (m *model) patch(msg peekMsg) {
	g := &m.gate
	if g.of != m.snap || len(msg.out) != len(g.targets) {
		return // not the rows shown now: nothing to patch
	}
	m.refreshes++
	for k, a := range m.marks {
		if a.until <= m.refreshes {
			delete(m.marks, k)
		}
	}
	listeners := false
	need := m.table.need
	g.unpeekable = 0
	for i, t := range g.targets {
		p := &msg.out[i]
		switch p.Status {
		case collect.PeekNotAsked:
			g.unpeekable++
		case collect.PeekMissing:
			if m.exactMissing(t) {
				g.dirty = true
			} else {
				g.unpeekable++
			}
		case collect.PeekFound:
			f := &p.Socket
			if f.State != t.State {
				g.dirty = true
				continue
			}
			if f.RecvQ != t.RecvQ || f.SendQ != t.SendQ || f.Timer != t.Timer {
				m.marks[t.Key()] = markAge{mark: markChanged, until: m.refreshes + markRefreshes}
				listeners = listeners || t.State == collect.StateListen
			}
			t.RecvQ, t.SendQ, t.Timer, t.TimerLeft, t.Retrans = f.RecvQ, f.SendQ, f.Timer, f.TimerLeft, f.Retrans
			need.add(t)
		}
	}
	m.marksPeak = max(m.marksPeak, len(m.marks))
	if need.recvQ != m.table.need.recvQ || need.sendQ != m.table.need.sendQ || need.timer != m.table.need.timer {
		m.table.need = need
		m.layout()
	}
	if listeners {
		// A listener's accept queue moved: its health, and the header's
		// count of full ones, are of the queues now.
		m.listen.compute(m.snap)
		m.header.listen = m.listen.headerText()
		t := &m.table
		for i := t.offset; i < len(m.rows) && i < t.offset+t.visibleRows(); i++ {
			if r := &m.rows[i]; r.s.State == collect.StateListen {
				h := m.listen.healthOf(m.snap, r.s)
				r.full = h != nil && h.Full()
			}
		}
	}
	m.sample(&collect.Snapshot{Taken: msg.at, Sockets: m.snap.Sockets, Filtered: m.snap.Filtered, Total: m.snap.Total})
	m.header.spark = sparkline(m.samples, 20)
	g.text = "walked " + walkAgo(msg.at.Sub(g.lastWalk)) + " ago"
	m.header.gate = g.text
}

// walkAgo is a short duration for the header: whole seconds, or
// milliseconds under one.
func walkAgo(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(max(d.Milliseconds(), 0), 10) + "ms"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// exactMissing reports whether a row the kernel did not find is gone or
// changed, rather than not peekable: a TCP socket that is not listening
// is looked up in the established table by its 4-tuple, and a listener
// or UDP socket alone on its port has no other socket the kernel could
// have answered with. A shared port (SO_REUSEPORT, several binds, a
// connected UDP socket beside the port's unconnected one) is not
// peekable: its rows stay as of the last walk.
func (m *model) exactMissing(s *collect.Socket) bool {
	if s.Proto == collect.TCP && s.State != collect.StateListen {
		return true
	}
	g := &m.gate
	if g.portsOf != m.snap {
		if g.ports == nil {
			g.ports = map[gatePort]int{}
		}
		clear(g.ports)
		for i := range m.snap.Sockets {
			x := &m.snap.Sockets[i]
			if x.Proto == collect.UDP || x.Proto == collect.TCP && x.State == collect.StateListen {
				g.ports[gatePort{x.Proto, x.Local.Port()}]++
			}
		}
		g.portsOf = m.snap
	}
	return g.ports[gatePort{s.Proto, s.Local.Port()}] <= 1
}
