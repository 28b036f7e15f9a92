package collect

import (
	"slices"
	"time"
)

// merge folds the kernel input due at cur, and the sampled changes Diff
// and reconcile made, into ch and the tracker's paths:
//
//   - events with Time at or before cur.Taken become Kernel transitions,
//     first in ch.Transitions and in the kernel's order (they happened
//     before the snapshot); later ones wait for the next Update;
//   - the sampled transitions of a connection (its Key, and its cookie
//     when both sides know it) with kernel events in the interval are
//     dropped, since the kernel's are exact;
//   - a sampled disappearance of a connection the kernel already closed
//     is dropped too;
//   - destroy records received at or before cur.Taken become ch.Closed;
//     a socket a partial snapshot lacks whose record came is gone, not
//     held.
func (t *Tracker) merge(cur *Snapshot, ch *Changes) {
	k := &t.kern
	k.seq++
	if !k.started {
		k.started, k.epoch = true, cur.Taken
	}
	ch.Lost, t.lost = t.lost, 0
	if len(t.events) == 0 && len(t.closed) == 0 && len(k.joins) == 0 && len(ch.Transitions) == 0 {
		return
	}

	t.takeReady(cur.Taken)
	k.kt = scratch(k.kt)
	for i := range k.ready {
		ev := &k.ready[i]
		c := k.connFor(ev)
		c.stamp = k.seq
		if ev.PID != 0 && ev.InSyscall() {
			c.evOwner, c.evOwnerSet = Owner{PID: int(ev.PID), Name: ev.Comm}, true
		}
		if handoff(ev) {
			if !c.joinPending {
				c.joinPending, c.joinFrom, c.joinAt, c.joinWaited = true, ev.From.Canonical(), ev.Time, 0
				k.joins = append(k.joins, c)
			}
			c.joinSlot, c.joinSlotSeq = len(k.kt), k.seq
			k.kt = append(k.kt, ktrans{c: c, join: true})
			continue
		}
		from, to := ev.From.Canonical(), ev.To.Canonical()
		c.addKernel(from, to, ev.Time)
		k.kt = append(k.kt, ktrans{c: c, tr: Transition{At: ev.Time, From: from, To: to, Source: Kernel, Cookie: ev.Cookie}})
	}
	clear(k.ready)

	recs := t.takeClosed(cur.Taken)
	if len(recs) > 0 && len(t.held) > 0 {
		t.dropDestroyedHeld(cur, ch, recs)
	}
	t.mergeSampled(cur, ch)
	if len(k.kt) > 0 || len(k.joins) > 0 {
		k.locate(cur)
		k.resolveJoins(cur)
		// A socket the kernel closed is gone, listed or not.
		for i := range k.late {
			if c := k.late[i].c; c.ended() {
				k.retire(c)
			}
		}
		for i := range k.kt {
			if c := k.kt[i].c; c.ended() {
				k.retire(c)
			}
		}
		k.emit(ch)
	}
	if len(recs) > 0 {
		t.emitClosed(ch, recs)
	}
	k.trim(cur)
}

// takeReady moves the pending events due at taken into k.ready, keeping
// the rest, in order, for a later Update.
func (t *Tracker) takeReady(taken time.Time) {
	k := &t.kern
	// Sized once: a burst (a wave of TIME_WAIT timers, 100k events at
	// a million sockets) grown by doubling would copy its events
	// several times over, each copy paid with the collector's assists
	// on a large heap.
	k.ready = slices.Grow(scratch(k.ready), len(t.events))
	used := len(t.events)
	n := 0
	for i := range t.events {
		ev := &t.events[i]
		if ev.Time.After(taken) {
			t.events[n] = *ev
			n++
			continue
		}
		k.ready = append(k.ready, *ev)
	}
	clear(t.events[n:])
	t.events = t.events[:n]
	if cap(t.events) > scratchKeep && 4*used < cap(t.events) {
		t.events = slices.Clone(t.events)
	}
}

// scratchKeep is the capacity a scratch slice keeps however little it
// held: what a refresh of ordinary churn needs.
const scratchKeep = 4096

// scratch empties s for reuse. An array far larger than its last use,
// left by a burst, is let go, so that a burst does not pin its memory
// for the rest of the run; one in steady use is kept.
func scratch[T any](s []T) []T {
	if cap(s) > scratchKeep && 4*len(s) < cap(s) {
		return nil
	}
	return s[:0]
}

// takeClosed returns the destroy records received at or before taken (or
// with no time), keeping the rest for a later Update.
func (t *Tracker) takeClosed(taken time.Time) []Closed {
	k := &t.kern
	k.recs = scratch(k.recs)
	n := 0
	for i := range t.closed {
		c := &t.closed[i]
		if !c.Received.IsZero() && c.Received.After(taken) {
			t.closed[n] = *c
			n++
			continue
		}
		k.recs = append(k.recs, *c)
	}
	clear(t.closed[n:])
	t.closed = t.closed[:n]
	return k.recs
}

// dropDestroyedHeld makes the held sockets whose destroy record came
// gone: the kernel said they are, whatever a partial dump could not.
func (t *Tracker) dropDestroyedHeld(cur *Snapshot, ch *Changes, recs []Closed) {
	dead := make(map[uint64]bool, len(recs))
	for i := range recs {
		if recs[i].Cookie != 0 {
			dead[recs[i].Cookie] = true
		}
	}
	kept := t.held[:0]
	for _, h := range t.held {
		if h.Cookie == 0 || !dead[h.Cookie] {
			kept = append(kept, h)
			continue
		}
		ch.Transitions = append(ch.Transitions, Transition{At: cur.Taken, Key: h.Key(), From: h.State.Canonical(),
			Source: Sampled, Cookie: h.Cookie, Index: -1, Gone: int32(len(ch.Gone))})
		ch.Gone = append(ch.Gone, h)
	}
	clear(t.held[len(kept):])
	t.held = kept
}

// mergeSampled gives the sampled transitions their cookie, drops those
// the kernel's replace, notes where the kernel's connections are in cur
// and Gone, and adds the sampled steps to the paths.
func (t *Tracker) mergeSampled(cur *Snapshot, ch *Changes) {
	k := &t.kern
	kept := ch.Transitions[:0]
	for _, tr := range ch.Transitions {
		s := ch.Socket(cur, &tr)
		if s != nil && tr.Cookie == 0 {
			tr.Cookie = s.Cookie
		}
		if k.sampled(cur, ch, &tr, s) {
			kept = append(kept, tr)
		}
	}
	clear(ch.Transitions[len(kept):])
	ch.Transitions = kept
}

// sampled applies one sampled transition to the paths and reports
// whether it stays in Changes.
func (k *kernelState) sampled(cur *Snapshot, ch *Changes, tr *Transition, s *Socket) bool {
	var c *conn
	if k.byCookie != nil {
		c = k.conns.get(tr.Key)
		if c == nil && s != nil && s.Cookie != 0 {
			// A connecting socket known by cookie, listed with its port.
			if x := k.byCookie[s.Cookie]; x != nil && x.key.Local.Port() == 0 {
				k.rekey(x, tr.Key)
				c = x
			}
		}
	}
	if c != nil && (c.gone && tr.Index >= 0 && !c.joinPending || !sameConn(c, s)) {
		// Another connection with the same Key.
		k.conns.remove(c)
		c = nil
	}
	if c != nil && (c.stamp == k.seq || c.joinPending && s != nil && isMini(s)) {
		c.locSeq, c.loc, c.gloc = k.seq, tr.Index, tr.Gone
		if s != nil && !isMini(s) {
			k.setCookie(c, s.Cookie)
		}
		if tr.Index < 0 {
			k.keepOwners(c, s)
			k.retire(c)
		}
		return false
	}

	switch {
	case tr.Index >= 0 && tr.From == StateUnknown:
		if c != nil {
			// Known from events before it was listed.
			c.addSampled(tr.To, cur.Taken)
			k.setCookie(c, s.Cookie)
			return true
		}
		if s.Cookie != 0 {
			if k.seen == nil {
				k.seen = map[uint64]time.Time{}
			}
			k.seen[s.Cookie] = cur.Taken
			return true
		}
		c = k.newConn(tr.Key, 0, cur.Taken)
		c.steps = append(c.steps, Step{State: tr.To, At: cur.Taken, Source: Sampled})
	case tr.Index >= 0:
		if c == nil {
			first := k.firstSeen(s.Cookie)
			c = k.newConn(tr.Key, s.Cookie, first)
			c.steps = append(c.steps, Step{State: tr.From, At: first, Source: Sampled})
		}
		c.addSampled(tr.To, cur.Taken)
	default:
		if c == nil {
			first := k.firstSeen(s.Cookie)
			c = k.newConn(tr.Key, s.Cookie, first)
			c.steps = append(c.steps, Step{State: tr.From, At: first, Source: Sampled})
		}
		if s.Cookie != 0 {
			delete(k.seen, s.Cookie)
		}
		k.keepOwners(c, s)
		k.retire(c)
		if c.ended() || c.joinPending {
			return false
		}
		c.addSampled(StateClosed, cur.Taken)
	}
	return true
}

// keepOwners copies the owners of s, a socket that left the table, for
// a destroy record that arrives later.
func (k *kernelState) keepOwners(c *conn, s *Socket) {
	if !k.wantOwners || s == nil {
		return
	}
	c.owners = slices.Clone(s.Owners)
	c.ownersKnown = s.Known(FieldOwners)
	if c.owners == nil && c.ownersKnown {
		c.owners = []Owner{}
	}
}

// locate finds in cur the kernel's connections of this Update that no
// sampled transition placed, and the mini-sockets pending joins wait for:
// a socket whose state the previous dump already showed, or one that
// moved into its mini-socket without a change of state. It reads cur
// only when such a connection may be listed.
func (k *kernelState) locate(cur *Snapshot) {
	var want map[Key]*conn
	var ports [65536 / 64]uint64
	add := func(c *conn) {
		if want == nil {
			want = map[Key]*conn{}
		}
		want[c.key] = c
		p := c.key.Local.Port()
		ports[p/64] |= 1 << (p % 64)
	}
	for i := range k.kt {
		c := k.kt[i].c
		if c.locSeq != k.seq && !c.ended() && !c.gone && c.key.Local.Port() != 0 {
			add(c)
		}
	}
	for _, c := range k.joins {
		if c.locSeq != k.seq {
			add(c)
		}
	}
	if want == nil {
		return
	}
	for i := range cur.Sockets {
		s := &cur.Sockets[i]
		p := s.Local.Port()
		if ports[p/64]&(1<<(p%64)) == 0 {
			continue
		}
		c := want[s.Key()]
		if c == nil || c.locSeq == k.seq || !sameConn(c, s) || c.joinPending && !isMini(s) {
			continue
		}
		c.locSeq, c.loc, c.gloc = k.seq, int32(i), -1
		if !isMini(s) {
			k.setCookie(c, s.Cookie)
		}
	}
}

// resolveJoins settles the pending TIME_WAIT joins: a mini-socket of the
// Key in cur continues the path; after joinWait Updates without one the
// kernel's X -> CLOSED stands.
func (k *kernelState) resolveJoins(cur *Snapshot) {
	kept := k.joins[:0]
	for _, c := range k.joins {
		var to State
		switch {
		case c.locSeq == k.seq && c.loc >= 0 && isMini(&cur.Sockets[c.loc]):
			s := &cur.Sockets[c.loc]
			to = s.State.Canonical()
			c.twCookie = s.Cookie
		case c.joinWaited >= joinWait:
			to = StateClosed
		default:
			c.joinWaited++
			kept = append(kept, c)
			continue
		}
		c.joinPending = false
		tr := Transition{At: c.joinAt, From: c.joinFrom, To: to, Source: Kernel, Cookie: c.cookie}
		if to != c.joinFrom {
			c.addKernel(c.joinFrom, to, c.joinAt)
		} else {
			tr.To = StateUnknown // no change to report
		}
		// The placeholder of this Update's event, or else a late join.
		if c.joinSlotSeq == k.seq {
			k.kt[c.joinSlot].tr, k.kt[c.joinSlot].join = tr, false
		} else {
			k.late = append(k.late, ktrans{c: c, tr: tr})
		}
	}
	clear(k.joins[len(kept):])
	k.joins = kept
}

// emit puts the kernel transitions first in ch.Transitions, with their
// Keys and positions: the late joins (older than this Update's events),
// then this Update's in the kernel's order.
func (k *kernelState) emit(ch *Changes) {
	n := 0
	for _, kt := range [2][]ktrans{k.late, k.kt} {
		for i := range kt {
			if x := &kt[i]; !x.join && x.tr.To != StateUnknown {
				n++
			}
		}
	}
	if n > 0 {
		out := make([]Transition, 0, n+len(ch.Transitions))
		for _, kt := range [2][]ktrans{k.late, k.kt} {
			for i := range kt {
				x := &kt[i]
				if x.join || x.tr.To == StateUnknown {
					continue
				}
				tr := x.tr
				c := x.c
				tr.Key, tr.Index, tr.Gone = c.key, -1, -1
				if c.locSeq == k.seq {
					tr.Index, tr.Gone = c.loc, c.gloc
				}
				if tr.Cookie == 0 {
					tr.Cookie = c.cookie
				}
				out = append(out, tr)
			}
		}
		ch.Transitions = append(out, ch.Transitions...)
	}
	clear(k.kt)
	clear(k.late)
	k.late = k.late[:0]
}

// emitClosed turns the destroy records into ch.Closed, each once.
func (t *Tracker) emitClosed(ch *Changes, recs []Closed) {
	k := &t.kern
	for i := range recs {
		r := &recs[i]
		if r.Local.Port() == 0 && r.Remote.Port() == 0 {
			// Never bound nor connected (socket() then close(), a
			// program probing what the kernel supports): a socket, not
			// a connection, and nothing a closed log would show.
			continue
		}
		c := k.byCookie[r.Cookie]
		if c == nil {
			if x := k.conns.get(r.Key()); x != nil && x.cookie == 0 {
				c = x
			}
		}
		cc := ClosedConn{Closed: *r}
		if c != nil {
			if c.recorded {
				continue
			}
			c.recorded = true
			cc.Opened, cc.Owners, cc.OwnersKnown = c.first, c.owners, c.ownersKnown
			if len(cc.Owners) == 0 && c.evOwnerSet {
				// No snapshot gave an owner: the process of its system
				// calls held it.
				cc.Owners, cc.OwnersFromEvents = []Owner{c.evOwner}, true
			}
			cc.Path = slices.Clone(c.steps)
		}
		if cc.Opened.IsZero() {
			if at, ok := k.seen[r.Cookie]; ok {
				cc.Opened = at
			}
		}
		ch.Closed = append(ch.Closed, cc)
	}
	clear(recs)
}

// trim forgets what no longer has a use: connecting sockets whose port
// never came; live connections neither listed nor reported for a while
// (their close was lost, or the snapshots filter them out); first-seen
// times of sockets gone from the table without a trace in a diff (a
// TIME_WAIT that replaced its socket in one dump leaves the socket's
// entry behind). Maps far below their peak are rebuilt smaller.
func (k *kernelState) trim(cur *Snapshot) {
	if len(k.connecting) > 0 {
		kept := k.connecting[:0]
		var old []*conn
		for _, c := range k.connecting {
			switch {
			case !c.connecting:
			case k.seq-c.born < connectingAge:
				kept = append(kept, c)
			default:
				c.connecting = false
				old = append(old, c)
			}
		}
		clear(k.connecting[len(kept):])
		k.connecting = kept
		for _, c := range old {
			if !c.gone { // the gone ring forgets the others
				k.forget(c)
			}
		}
	}
	if k.conns.n > 2*len(cur.Sockets)+2*goneMax {
		k.sweep(cur)
	}
	if n := len(k.seen); n > 2*len(cur.Sockets)+goneMax {
		next := make(map[uint64]time.Time, len(cur.Sockets))
		for i := range cur.Sockets {
			if at, ok := k.seen[cur.Sockets[i].Cookie]; ok {
				next[cur.Sockets[i].Cookie] = at
			}
		}
		k.seen, k.seenPeak = next, len(next)
	}
	k.seenPeak = max(k.seenPeak, len(k.seen))
	if k.seenPeak > 4*goneMax && 4*len(k.seen) < k.seenPeak {
		k.seen, k.seenPeak = rebuilt(k.seen), len(k.seen)
	}
	k.connsPeak = max(k.connsPeak, k.conns.n)
	if k.connsPeak > 4*goneMax && 4*k.conns.n < k.connsPeak {
		k.conns.shrink()
		k.byCookie, k.connsPeak = rebuilt(k.byCookie), k.conns.n
	}
}

// sweep retires the live connections cur does not list that had no
// event for a few Updates and wait for no join.
func (k *kernelState) sweep(cur *Snapshot) {
	for i := range cur.Sockets {
		if c := k.conns.get(cur.Sockets[i].Key()); c != nil {
			c.swept = k.seq
		}
	}
	var stale []*conn
	k.conns.each(func(c *conn) {
		if !c.gone && c.swept != k.seq && k.seq-c.stamp > joinWait+1 && !c.joinPending {
			stale = append(stale, c)
		}
	})
	for _, c := range stale {
		k.retire(c)
	}
}

// rebuilt returns a copy of m sized for what it holds (maps.Clone keeps
// the original's table).
func rebuilt[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for key, v := range m {
		out[key] = v
	}
	return out
}
