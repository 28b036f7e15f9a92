//go:build linux

package collect

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// patchDue is how close to its end a TIME_WAIT row's timer must be for
// Patch to ask the kernel whether the socket is still there: the kernel
// ends it when its timer fires, and a program may destroy it a little
// before (SOCK_DESTROY), neither with an event. Two seconds covers a
// refresh's own length and the timer's granularity.
const patchDue = 2 * time.Second

// patchState is what Patch keeps between calls.
type patchState struct {
	want     []Socket
	out      []Peeked
	byCookie map[uint64]int32
	// exact[j] says a miss of want[j] means the socket is gone: false for
	// a shown row that may be one of several on its port (a listener, a
	// UDP socket), which the kernel may answer for with another.
	exact []bool
	used  []bool
	tw    []int32 // dropEnded's TIME_WAIT rows, by index
	seen  map[uint64]struct{}
	// member is the cookies of a narrowed table's rows.
	member map[uint64]struct{}
	// sieve holds the wanted cookies, so that the rows no one asked for
	// (nearly all) skip the map.
	sieve cookieSieve
	// fresh is the rows of the new table the kernel answered for, by
	// index, the ones whose owners need looking up.
	fresh []int32
	// cleanTaken and cleanLen say which table Patch last built: one it
	// deduplicated, or made from one it had, holds no socket twice.
	cleanTaken time.Time
	cleanLen   int
	// shown is the cookies of the rows on screen.
	shown []uint64
	// origin is PatchCounts.Origin.
	origin []int32
	// timed lists the timed rows of the table Patch or a walk last made.
	timed timedRows
}

// isShown reports whether the row of cookie c is on screen.
func (st *patchState) isShown(c uint64) bool { return slices.Contains(st.shown, c) }

// SetOwnersOnScreen says whether the view needs the owners of the rows
// on screen alone (no filter nor sort of it reads the others'): a patch
// then scans for an unknown owner only when its row is shown, and the
// rows off screen get theirs at the next periodic scan.
func (n *Netlink) SetOwnersOnScreen(on bool) { n.ownersOnScreen.Store(on) }

// Patch builds the table a walk would read now, without the dump: from
// prev, the last snapshot's rows (which it only reads), and what the
// kernel said changed since: the state events (by cookie, with the
// 4-tuple the socket had at the change) and the destroy records. Each
// socket they name is asked for again by its 4-tuple and cookie
// (Lookup), and so are the TIME_WAIT rows whose timer is nearly done,
// the request sockets, and shown (the rows a view shows, refreshed on
// the way). A socket found replaces its row or is added; one not found
// is dropped; every other row is kept as prev had it (its queues as of
// the walk or peek that last read it; a TIME_WAIT timer counted down).
//
// It then counts the table it built as the namespace's sockstat counts
// its sockets (hashed TCP and UDP sockets of each family, TIME_WAIT) and
// reads those counters, after the lookups: a socket that came or went
// without an event (a UDP bind, a TIME_WAIT destroyed early) leaves the
// two apart, and so may a change made while Patch ran, whose event the
// caller reads after it; PatchCounts.Within judges. Patch fails with
// ErrNoPatch when the source is not a whole table of its own namespace
// (a kernel filter, a state mask, tcp_info, other namespaces), when so
// much changed that a dump is cheaper, or when the kernel's word cannot
// settle a socket (a connect whose port was not chosen at its event, a
// listener another of its port's may answer for): the caller walks.
func (n *Netlink) Patch(ctx context.Context, prev *Snapshot, base SockCounters, evs []StateEvent, closed []Closed, shown []Socket, buf []Socket) (Snapshot, PatchCounts, error) {
	if _, ok := n.PeekNetNS(); !ok || n.tcpInfo.Load() ||
		(StateMask(n.states.Load()) != 0 && StateMask(n.states.Load())&AllStates != AllStates) {
		return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: not a table of one namespace: %w", ErrNoPatch)
	}
	if prev == nil || prev.Source != "netlink" {
		return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: no table of this source to patch: %w", ErrNoPatch)
	}
	now := time.Now()
	elapsed := now.Sub(prev.Taken)
	n.mu.Lock()
	defer n.mu.Unlock()
	st := &n.patch
	st.want, st.exact = st.want[:0], st.exact[:0]
	if st.byCookie == nil {
		st.byCookie = make(map[uint64]int32)
	}
	clear(st.byCookie)
	dumps, err := n.patchDumpsLocked()
	if err != nil {
		return Snapshot{}, PatchCounts{}, err
	}
	if n.owners != nil {
		// A scan due at the end of the patch runs beside its lookups
		// and its copy of the table.
		n.owners.startEarlyPatch(n.kernel.Load() == nil)
	}
	// A table the kernel narrowed is small, and no counter says what it
	// holds: every row of it is asked for again, and a socket an event or
	// record names is asked for when it is one of them or one the
	// table's dumps would list (wanted).
	narrowed := dumps.narrowed()
	if narrowed {
		if st.member == nil {
			st.member = make(map[uint64]struct{})
		}
		clear(st.member)
		for i := range prev.Sockets {
			st.member[prev.Sockets[i].Cookie] = struct{}{}
		}
	}
	wanted := func(s *Socket) bool {
		if !narrowed {
			return true
		}
		if _, ok := st.byCookie[s.Cookie]; ok {
			return true // an earlier word wanted it: this one is newer
		}
		if _, ok := st.member[s.Cookie]; ok || s.Local.Port() == 0 {
			// A connect's first event may come before its port is
			// chosen: whether the dump lists it is not known yet.
			return true
		}
		yes, ok := dumps.accepts(s, false)
		return yes || !ok
	}
	// add asks for s, once per cookie; the newest word on a socket wins.
	add := func(s Socket, exact bool) {
		if j, ok := st.byCookie[s.Cookie]; ok {
			st.want[j], st.exact[j] = s, st.exact[j] || exact
			return
		}
		st.byCookie[s.Cookie] = int32(len(st.want))
		st.want = append(st.want, s)
		st.exact = append(st.exact, exact)
	}
	self := n.self.Inode
	for i := range evs {
		e := &evs[i]
		if e.NetNS != 0 && e.NetNS != self {
			continue
		}
		if e.Cookie == 0 {
			return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: an event without a cookie: %w", ErrNoPatch)
		}
		state := e.To
		if state == StateClosed {
			// Gone, or its TIME_WAIT mini-socket took over (same cookie):
			// the lookup finds which.
			state = StateTimeWait
		}
		if w := (Socket{Proto: e.Proto, Family: e.Family, State: state, Local: e.Local, Remote: e.Remote, Cookie: e.Cookie}); wanted(&w) {
			add(w, true)
		}
	}
	for i := range closed {
		r := &closed[i]
		if r.Cookie == 0 {
			return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: a destroy record without a cookie: %w", ErrNoPatch)
		}
		// A TCP socket's TIME_WAIT outlives the socket's destruction,
		// with its cookie; a UDP socket destroyed is gone, and the
		// lookup misses it.
		if w := (Socket{Proto: r.Proto, Family: r.Family, State: StateTimeWait, Local: r.Local, Remote: r.Remote, Cookie: r.Cookie}); wanted(&w) {
			add(w, true)
		}
	}
	if timed, ok := st.timed.forTable(prev); ok && !narrowed {
		for _, r := range timed {
			if r.syn || r.left-elapsed < patchDue {
				add(prev.Sockets[r.i], true)
			}
		}
	} else {
		for i := range prev.Sockets {
			s := &prev.Sockets[i]
			switch {
			case narrowed && s.Cookie != 0 && (s.Proto == TCP || s.Proto == UDP):
				add(*s, s.Proto == TCP && s.State != StateListen)
			case s.Proto != TCP:
			case (s.State == StateTimeWait || s.Timer == TimerTimeWait) && s.TimerLeft-elapsed < patchDue:
				add(*s, true)
			case s.State == StateNewSynRecv:
				add(*s, true)
			}
		}
	}
	st.shown = st.shown[:0]
	for i := range shown {
		s := &shown[i]
		st.shown = append(st.shown, s.Cookie)
		if _, ok := st.byCookie[s.Cookie]; !ok && s.Cookie != 0 {
			add(*s, s.Proto == TCP && s.State != StateListen)
		}
	}
	if len(st.want) > max(1024, max(len(prev.Sockets), prev.Total)/8) {
		return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: %d sockets to ask for of %d: %w", len(st.want), len(prev.Sockets), ErrNoPatch)
	}
	for j := range st.want {
		if w := &st.want[j]; st.exact[j] && w.Proto == TCP && w.Local.Port() == 0 {
			// A connect whose port the event came too early for.
			return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: %v %v cannot be asked for: %w", w.State, w.Local, ErrNoPatch)
		}
	}
	st.out, err = n.Lookup(ctx, st.want, st.out)
	if err != nil {
		return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: %w: %w", ErrNoPatch, err)
	}
	for j := range st.out {
		if !st.exact[j] {
			continue
		}
		w, p := &st.want[j], &st.out[j]
		// A listener is looked up as a packet to its port would be
		// delivered: another of the port's listeners may answer, so a
		// miss does not say it is gone.
		if p.Status == PeekNotAsked || p.Status == PeekMissing && w.Proto == TCP && w.State == StateListen {
			return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: %v %v cannot be settled: %w", w.State, w.Local, ErrNoPatch)
		}
	}
	st.used = append(st.used[:0], make([]bool, len(st.want))...)
	st.sieve.reset(len(st.want))
	for j := range st.want {
		st.sieve.add(st.want[j].Cookie)
	}
	st.fresh, st.origin = st.fresh[:0], st.origin[:0]
	socks := tableBuffer(buf, len(prev.Sockets)+len(st.want))
	// One pass over the rows builds the table, tags the rows with the
	// namespace, counts them as count would and lists the timed ones for
	// the next patch (timedRows): a pass of its own for each would read
	// the whole table again.
	var tally SockCounters
	tag := n.self
	st.timed.start()
	keep := func(r *Socket) {
		if r.NetNS != tag {
			r.NetNS = tag
		}
		countRow(&tally, r)
		st.timed.note(r, len(socks)-1)
	}
	for i := range prev.Sockets {
		s := &prev.Sockets[i]
		j, ok := int32(0), false
		if st.sieve.has(s.Cookie) {
			j, ok = st.byCookie[s.Cookie]
		}
		if !ok {
			st.origin = append(st.origin, int32(i))
			socks = append(socks, *s)
			r := &socks[len(socks)-1]
			if r.State == StateTimeWait || r.Timer == TimerTimeWait {
				r.TimerLeft = max(r.TimerLeft-elapsed, 0)
			}
			keep(r)
			continue
		}
		if st.used[j] {
			continue // a row the walk listed twice
		}
		st.used[j] = true
		switch p := &st.out[j]; {
		case p.Status == PeekFound:
			if yes, _ := dumps.accepts(&p.Socket, true); yes {
				st.fresh = append(st.fresh, int32(len(socks)))
				st.origin = append(st.origin, -1)
				socks = append(socks, p.Socket)
				keep(&socks[len(socks)-1])
			}
		case p.Status == PeekMissing && st.exact[j]:
		default:
			st.origin = append(st.origin, int32(i))
			socks = append(socks, *s) // not peekable: as it was
			keep(&socks[len(socks)-1])
		}
	}
	for j := range st.out {
		if p := &st.out[j]; !st.used[j] && p.Status == PeekFound {
			if yes, _ := dumps.accepts(&p.Socket, true); yes {
				st.fresh = append(st.fresh, int32(len(socks)))
				st.origin = append(st.origin, -1)
				socks = append(socks, p.Socket)
				keep(&socks[len(socks)-1])
			}
		}
	}
	st.timed.done(socks, now)
	kernel, err := n.Sockstat()
	if err != nil {
		return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: %w: %w", ErrNoPatch, err)
	}
	if narrowed {
		// Every TCP socket that comes, goes or changes state has an
		// event, and every row was asked for again: what no event can
		// vouch for is a UDP socket bound or closed, which only moves
		// its counters from the base.
		counts := PatchCounts{Kernel: dumps.counted(n.dumped(kernel)), At: time.Now(), Origin: st.origin}
		counts.Table = counts.Kernel
		b := dumps.counted(n.dumped(base))
		counts.Table.UDPInUse, counts.Table.UDP6InUse = b.UDPInUse, b.UDP6InUse
		snap := Snapshot{Taken: now, Source: "netlink", Filtered: dumps.filtered(),
			Total: kernel.TCPInUse + kernel.TCP6InUse + kernel.TCPTimeWait + kernel.UDPInUse + kernel.UDP6InUse + countUnix(socks)}
		return n.finishPatchLocked(snap, socks, prev.Taken.Equal(n.ownersFor)), counts, nil
	}
	counts := PatchCounts{Table: n.dumped(tally), Kernel: n.dumped(kernel), At: time.Now()}
	// fresh holds while no row is dropped below.
	rows := len(socks)
	clean := prev.Taken.Equal(st.cleanTaken) && len(prev.Sockets) == st.cleanLen
	if t, k := counts.Table, counts.Kernel; !clean && (t.TCPInUse > k.TCPInUse || t.TCP6InUse > k.TCP6InUse || t.TCPTimeWait > k.TCPTimeWait ||
		t.UDPInUse > k.UDPInUse || t.UDP6InUse > k.UDP6InUse) {
		// A dump of a table that changes while it runs may list a socket
		// twice (the kernel resumes each batch at a position in a hash
		// chain that moved), and the walk this table came from did. A
		// table Patch built from a clean one is clean: each socket asked
		// for replaces its row, once.
		if d := n.dedupe(socks); len(d) != len(socks) {
			socks = d
			counts.Table = n.dumped(n.count(socks))
			st.timed.noteAll(socks, now)
		}
	}
	if extra := counts.Table.TCPTimeWait - counts.Kernel.TCPTimeWait; extra > 0 {
		// More TIME_WAIT rows than the kernel counts: some ended before
		// their timer, destroyed (SOCK_DESTROY) without an event. The
		// oldest go first; ask for them, soonest end first, until as
		// many are found gone.
		var gone int
		if socks, gone, err = n.dropEnded(ctx, socks, extra); err != nil {
			return Snapshot{}, PatchCounts{}, fmt.Errorf("collect: patch: %w: %w", ErrNoPatch, err)
		}
		counts.Table.TCPTimeWait -= gone
		if gone > 0 {
			st.timed.noteAll(socks, now)
		}
	}
	st.cleanTaken, st.cleanLen = now, len(socks)
	if len(socks) == rows {
		counts.Origin = st.origin
	}
	return n.finishPatchLocked(Snapshot{Taken: now, Source: "netlink"}, socks, len(socks) == rows && prev.Taken.Equal(n.ownersFor)), counts, nil
}

// finishPatchLocked fills a patched table's owners and notices, as a
// walk does, and returns it. fresh says the patch's fresh rows are where
// it put them (no row dropped since): only they need owners looked up.
func (n *Netlink) finishPatchLocked(snap Snapshot, socks []Socket, fresh bool) Snapshot {
	n.noteUndecided(&snap, socks)
	n.last = len(socks)
	if n.owners != nil {
		var msg string
		whole := true
		if fresh {
			var shown func(uint64) bool
			if n.ownersOnScreen.Load() {
				shown = n.patch.isShown
			}
			msg, whole = n.owners.resolvePatch(socks, n.patch.fresh, shown)
		} else {
			msg = n.owners.resolve(socks)
		}
		if msg != "" {
			n.told.add(&snap, msg)
		}
		if whole {
			snap.Owners = markOwners(n.owners, socks)
		} else {
			snap.Owners = markOwnersAt(n.owners, socks, n.patch.fresh)
		}
		snap.OwnersVia = n.owners.via
		n.ownersFor = snap.Taken
	} else {
		for i := range socks {
			socks[i].Unknown |= FieldOwners
		}
	}
	snap.Sockets = socks
	return snap
}

// count counts socks as sockstat counts the namespace's sockets: hashed
// TCP sockets (not TIME_WAIT, not request sockets, not closed or only
// bound) of each family, TIME_WAIT mini-sockets of every family, bound UDP sockets of
// each family; the protocols and families the source does not dump are
// left zero, in the table's count and, by counts, in the kernel's.
func (n *Netlink) count(socks []Socket) SockCounters {
	var got SockCounters
	for i := range socks {
		countRow(&got, &socks[i])
	}
	return got
}

// dumped zeroes the counters of what the source does not dump.
func (n *Netlink) dumped(c SockCounters) SockCounters {
	o := &n.opts
	if !o.wantTCP() || !o.want4() {
		c.TCPInUse = 0
	}
	if !o.wantTCP() || !o.want6() {
		c.TCP6InUse = 0
	}
	if !o.wantTCP() || !o.want4() || !o.want6() {
		c.TCPTimeWait = 0 // of both families: one alone cannot be told
	}
	if !o.wantUDP() || !o.want4() {
		c.UDPInUse = 0
	}
	if !o.wantUDP() || !o.want6() {
		c.UDP6InUse = 0
	}
	return c
}

// endedBudget bounds the TIME_WAIT rows dropEnded asks for in one patch,
// with three times the rows it looks for when that is more: in timer
// order the first of them are the ones gone, and a lookup costs the
// kernel a hash probe where a walk visits every socket.
const endedBudget = 4096

// dropEnded asks the kernel for socks' TIME_WAIT rows, those whose timer
// ends soonest first, in batches, until extra of them are found gone or
// the budget (endedBudget) is spent, and drops the ones gone. It returns the
// table and how many it dropped.
func (n *Netlink) dropEnded(ctx context.Context, socks []Socket, extra int) ([]Socket, int, error) {
	st := &n.patch
	st.tw = st.tw[:0]
	for i := range socks {
		if s := &socks[i]; s.Proto == TCP && (s.State == StateTimeWait || s.Timer == TimerTimeWait) {
			st.tw = append(st.tw, int32(i))
		}
	}
	slices.SortFunc(st.tw, func(a, b int32) int { return cmp.Compare(socks[a].TimerLeft, socks[b].TimerLeft) })
	gone, asked := 0, 0
	budget := max(endedBudget, 3*extra)
	for len(st.tw) > 0 && gone < extra && asked < budget {
		k := min(len(st.tw), max(2*(extra-gone), 64), budget-asked)
		st.want = st.want[:0]
		for _, i := range st.tw[:k] {
			st.want = append(st.want, socks[i])
		}
		var err error
		if st.out, err = n.Lookup(ctx, st.want, st.out); err != nil {
			return socks, 0, err
		}
		for j, i := range st.tw[:k] {
			if st.out[j].Status == PeekMissing {
				socks[i].Cookie, socks[i].Proto = 0, 0 // marked: dropped below
				gone++
			}
		}
		st.tw, asked = st.tw[k:], asked+k
	}
	if gone == 0 {
		return socks, 0, nil
	}
	keep := socks[:0]
	for i := range socks {
		if socks[i].Proto != 0 {
			keep = append(keep, socks[i])
		}
	}
	clear(socks[len(keep):])
	return keep, gone, nil
}

// dedupe drops the rows whose cookie an earlier row has.
func (n *Netlink) dedupe(socks []Socket) []Socket {
	st := &n.patch
	if st.seen == nil {
		st.seen = make(map[uint64]struct{}, len(socks))
	}
	clear(st.seen)
	keep := socks[:0]
	for i := range socks {
		c := socks[i].Cookie
		if _, dup := st.seen[c]; dup && c != 0 {
			continue
		}
		st.seen[c] = struct{}{}
		keep = append(keep, socks[i])
	}
	clear(socks[len(keep):])
	if len(st.seen) > 4*len(keep)+1024 {
		st.seen = nil
	}
	return keep
}
