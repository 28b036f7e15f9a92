package collect

import (
	"slices"
	"time"
)

// Bounds of what the tracker remembers beyond the current snapshot.
const (
	// goneMax is how many connections that went away keep their path,
	// owners and first-seen time, for Path and for destroy records that
	// arrive after the dump lost the socket.
	goneMax = 4096
	// joinWait is how many Updates after the one that merged a closing
	// socket's X -> CLOSED the tracker waits for a TIME_WAIT mini-socket
	// of the same Key before it reports the CLOSED.
	joinWait = 2
	// connectingMax bounds the connecting sockets whose port is not known
	// yet (CLOSED -> SYN_SENT comes before the port is chosen).
	connectingMax = 1024
	// connectingAge is how many Updates a connecting socket waits for an
	// event that names its port.
	connectingAge = 16
	// maxSteps bounds a path: a connection that keeps changing (a UDP
	// socket connected and disconnected in a loop) keeps its first step
	// and at least the latest maxSteps/2.
	maxSteps = 64
	// spareMax bounds the forgotten conns kept for reuse.
	spareMax = 1024
)

// AddEvents hands the tracker the kernel's state events read since the
// last call, in the kernel's order, and how many were lost meanwhile.
// They are merged into the Changes of the first Update whose snapshot
// was taken at or after their time; later ones wait for the next.
func (t *Tracker) AddEvents(evs []StateEvent, lost uint64) {
	t.events = append(t.events, evs...)
	t.lost += lost
}

// AddClosed hands the tracker the destroy records read since the last
// call, and how many were lost meanwhile. The first Update whose snapshot
// was taken at or after a record's Received returns it once in
// Changes.Closed, with the owners, opening and path remembered for the
// socket (by cookie). Calling it at all (even with nothing) makes the
// tracker keep the owners of the sockets that leave the table, for the
// records that arrive after the dump lost them.
//
// The kernel unhashes a socket before it sends the record, so a snapshot
// taken after the record came cannot list the socket: waiting for one
// means a dump that raced the destroy never shows, after the record, a
// live row of a socket that is gone. The socket's owners are those of
// the last snapshot that listed it. A socket a partial snapshot did not
// list, held as maybe still there, is gone once its record comes.
func (t *Tracker) AddClosed(cs []Closed, lost uint64) {
	t.closed = append(t.closed, cs...)
	t.lost += lost
	t.kern.wantOwners = true
}

// Path returns the states the connection k has gone through, as far as
// the tracker knows them, oldest first, for a live connection or one of
// the last few thousand that went away; nil means nothing is known.
//
// Kernel steps are exact. A step with a zero At is a state whose entry
// the tracker did not see: the From of a connection's first kernel event
// (CLOSED for a new socket, LISTEN for an accepted one), or a state the
// kernel reported leaving after lost events. A socket seen only in
// snapshots has one step, its state when first listed (the first
// snapshot's time for the sockets that were there when the tracker
// started), and a Sampled step for each change a later snapshot showed;
// a connection that left the table ends with CLOSED.
//
// The active closer's socket leaves the kernel's path with X -> CLOSED
// when its TIME_WAIT mini-socket takes over, and the mini-socket has no
// events. When a snapshot taken within a couple of Updates lists the Key
// as a mini-socket, the path reads X -> TIME_WAIT at the event's time
// instead (or stays in FIN_WAIT_2, where an orphaned socket's
// mini-socket waits for the peer's FIN); the mini-socket's later changes
// are sampled. Without one (an RST, or a snapshot that filters TIME_WAIT
// out) the X -> CLOSED is reported as the kernel gave it.
func (t *Tracker) Path(k Key) []Step {
	if c := t.kern.conns.get(k); c != nil {
		return slices.Clone(c.steps)
	}
	for i := range t.held {
		if s := &t.held[i]; s.Key() == k {
			return []Step{{State: s.State.Canonical(), At: t.kern.firstSeen(s.Cookie), Source: Sampled}}
		}
	}
	if t.prev != nil {
		for i := range t.prev.Sockets {
			if s := &t.prev.Sockets[i]; s.Key() == k {
				return []Step{{State: s.State.Canonical(), At: t.kern.firstSeen(s.Cookie), Source: Sampled}}
			}
		}
	}
	return nil
}

// conn is what the tracker remembers of one connection beyond the current
// snapshot: its path, and for the closed log its owners and opening. The
// small fields come last, together: a busy table keeps one conn per
// connection that changed, and scattered they padded each by 32 bytes.
type conn struct {
	key    Key
	hnext  *conn // the next conn of the same hash in connIndex
	cookie uint64
	// twCookie is the cookie of the TIME_WAIT mini-socket that took over.
	twCookie uint64
	first    time.Time
	steps    []Step
	owners   []Owner
	// evOwner is the process of its latest system-call event
	// (StateEvent.InSyscall), the owner a closed connection no snapshot
	// gave owners for is shown with; set when evOwnerSet.
	evOwner Owner
	// stamp is the Update (kernelState.seq) of its last kernel event,
	// locSeq the Update for which loc and gloc hold its position in cur
	// and Changes.Gone.
	stamp, locSeq uint64
	// A pending TIME_WAIT join: the kernel's joinFrom -> CLOSED at joinAt,
	// waited on for joinWaited Updates.
	joinAt time.Time
	born   uint64 // the Update that made it, for the connecting list
	// joinSlot is the index in kernelState.kt of the placeholder for its
	// join, made in Update joinSlotSeq.
	joinSlot    int
	joinSlotSeq uint64
	swept       uint64 // the Update of the last sweep that found it listed
	loc, gloc   int32

	// ownersKnown: owners were copied from a row that knew them.
	ownersKnown bool
	evOwnerSet  bool
	// gone: the socket left the table (or another connection took its
	// Key); the conn is in the gone ring.
	gone        bool
	recorded    bool // its destroy record was returned
	joinPending bool
	joinFrom    State
	joinWaited  uint8
	// connecting: in kernelState.connecting, waiting for its port.
	connecting bool
}

func (c *conn) last() State {
	if len(c.steps) == 0 {
		return StateUnknown
	}
	return c.steps[len(c.steps)-1].State
}

// ended reports whether the kernel said the socket is closed.
func (c *conn) ended() bool {
	n := len(c.steps)
	return n > 0 && c.steps[n-1].State == StateClosed && c.steps[n-1].Source == Kernel
}

func (c *conn) hasKernel() bool {
	for i := range c.steps {
		if c.steps[i].Source == Kernel {
			return true
		}
	}
	return false
}

// push appends st. A full path drops the older half of its steps after
// the first, so that a connection that keeps changing moves its path once
// every maxSteps/2 changes, not at each one.
func (c *conn) push(st Step) {
	if len(c.steps) >= maxSteps {
		c.steps = slices.Delete(c.steps, 1, maxSteps/2)
	}
	c.steps = append(c.steps, st)
}

// addSampled appends a state a snapshot showed.
func (c *conn) addSampled(s State, at time.Time) {
	if c.last() != s {
		c.push(Step{State: s, At: at, Source: Sampled})
	}
}

// addKernel appends the kernel's from -> to at at. Sampled steps at the
// end that the kernel contradicts go first: a dump that read the socket
// after a change made after its Taken showed a state whose event is
// merged only now, and the kernel's time for it is the exact one. So do
// sampled steps stamped after at, the first one included: the events of
// a change can reach the tracker after a snapshot that already listed
// its result (the readers hand events on in batches), and the snapshot's
// view is then older news than the kernel's.
func (c *conn) addKernel(from, to State, at time.Time) {
	for n := len(c.steps); n > 0; n-- {
		s := &c.steps[n-1]
		if s.Source != Sampled {
			break
		}
		if later := !s.At.IsZero() && s.At.After(at); !later && (n == 1 || s.State == from) {
			break
		}
		c.steps = c.steps[:n-1]
	}
	if len(c.steps) == 0 && (c.first.IsZero() || at.Before(c.first)) {
		c.first = at
	}
	if c.last() != from {
		c.push(Step{State: from, Source: Kernel})
	}
	c.push(Step{State: to, At: at, Source: Kernel})
}

// kernelState is the part of a Tracker that merges kernel events and
// destroy records and keeps paths. Its maps hold connections that changed
// (or that the kernel reported), never one entry per idle socket, except
// seen's first-seen times of the sockets listed after the first Update.
type kernelState struct {
	seq     uint64
	epoch   time.Time
	started bool
	// conns holds the connections with a path, by Key (the newest for a
	// Key); byCookie the same ones by cookie when known.
	conns    connIndex
	byCookie map[uint64]*conn
	// seen holds when each socket listed after the first Update was first
	// listed, by cookie. A listed socket with no entry has been there
	// since the first Update (epoch).
	seen map[uint64]time.Time
	// connecting are sockets seen only as CLOSED -> SYN_SENT, whose port
	// the next event names.
	connecting []*conn
	// ring holds the gone connections, oldest at head once full.
	ring     []*conn
	ringHead int
	joins    []*conn
	// wantOwners: AddClosed was called, so owners of gone sockets are kept.
	wantOwners bool
	// spare are forgotten conns, reused so that churn does not allocate.
	spare []*conn
	// The largest sizes the maps had since they were last rebuilt: Go maps
	// do not give memory back, so a map far below its peak is rebuilt.
	connsPeak, seenPeak int

	// Scratch reused across Updates.
	ready []StateEvent
	kt    []ktrans
	late  []ktrans // joins settled after the Update of their event
	recs  []Closed
}

// ktrans is a kernel transition being built: its conn gives Key and
// position at the end of the merge. A join placeholder is filled then, or
// removed if its join still waits.
type ktrans struct {
	tr   Transition
	c    *conn
	join bool
}

func (k *kernelState) firstSeen(cookie uint64) time.Time {
	if cookie != 0 {
		if at, ok := k.seen[cookie]; ok {
			return at
		}
	}
	return k.epoch
}

// alloc returns a blank conn, a spare one if there is one; a spare's
// steps keep their capacity (paths are copied out), its owners do not
// (a ClosedConn may hold them).
func (k *kernelState) alloc(key Key, cookie uint64, first time.Time) *conn {
	if n := len(k.spare); n > 0 {
		c := k.spare[n-1]
		k.spare[n-1] = nil
		k.spare = k.spare[:n-1]
		*c = conn{key: key, cookie: cookie, first: first, loc: -1, gloc: -1, born: k.seq, steps: c.steps[:0]}
		return c
	}
	// Room for a short path at once: most have two to six steps.
	return &conn{key: key, cookie: cookie, first: first, loc: -1, gloc: -1, born: k.seq, steps: make([]Step, 0, 6)}
}

func (k *kernelState) newConn(key Key, cookie uint64, first time.Time) *conn {
	c := k.alloc(key, cookie, first)
	if k.byCookie == nil {
		k.byCookie = map[uint64]*conn{}
	}
	if old := k.conns.put(c); old != nil {
		k.retire(old)
	}
	if cookie != 0 {
		k.byCookie[cookie] = c
	}
	return c
}

// retire moves c to the gone ring; the oldest gone connection is
// forgotten when the ring is full.
func (k *kernelState) retire(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	if len(k.ring) < goneMax {
		k.ring = append(k.ring, c)
		return
	}
	o := k.ring[k.ringHead]
	k.ring[k.ringHead] = c
	k.ringHead = (k.ringHead + 1) % goneMax
	k.forget(o)
	// A conn this Update's events or a pending join still point at is
	// left to the garbage collector.
	if !o.joinPending && o.stamp != k.seq && len(k.spare) < spareMax && !o.connecting {
		k.spare = append(k.spare, o)
	}
}

func (k *kernelState) forget(o *conn) {
	k.conns.remove(o)
	if o.cookie != 0 && k.byCookie[o.cookie] == o {
		delete(k.byCookie, o.cookie)
	}
}

// rekey gives c, known by a Key without its port, its full Key.
func (k *kernelState) rekey(c *conn, key Key) {
	k.conns.remove(c)
	c.connecting = false // dropped from the list by trim
	c.key = key
	if old := k.conns.put(c); old != nil {
		k.retire(old)
	}
}

// setCookie records the cookie a dump row gave a connection known from
// events without one.
func (k *kernelState) setCookie(c *conn, cookie uint64) {
	if c.cookie == 0 && cookie != 0 {
		c.cookie = cookie
		if _, taken := k.byCookie[cookie]; !taken {
			k.byCookie[cookie] = c
		}
	}
}

// isMini reports whether s is a TIME_WAIT mini-socket: TIME_WAIT, or the
// FIN_WAIT_2 an orphaned socket waits in with the timewait timer.
func isMini(s *Socket) bool {
	return s.Proto == TCP && (s.State == StateTimeWait || s.State == StateFinWait2 && s.Timer == TimerTimeWait)
}

// sameConn reports whether s, a row with c's Key, is c's socket: the same
// cookie, an unknown one, or the mini-socket that took over from it.
func sameConn(c *conn, s *Socket) bool {
	if s == nil || c.cookie == 0 || s.Cookie == 0 || s.Cookie == c.cookie || s.Cookie == c.twCookie {
		return true
	}
	return isMini(s) && c.twCookie == 0
}

// handoff reports whether ev may be a closing socket giving way to its
// TIME_WAIT mini-socket.
func handoff(ev *StateEvent) bool {
	if ev.Proto != TCP || ev.To != StateClosed {
		return false
	}
	switch ev.From {
	case StateFinWait1, StateFinWait2, StateClosing:
		return true
	}
	return false
}

// fresh reports whether ev is a new socket's first change: a socket made
// by socket() or by a listener for a handshake.
func fresh(ev *StateEvent) bool {
	return ev.From == StateClosed && ev.To != StateClosed || ev.From == StateListen && ev.To.Canonical() == StateSynRecv
}

// connFor returns the connection ev is about, made if need be.
func (k *kernelState) connFor(ev *StateEvent) *conn {
	key := ev.Key()
	if ev.Cookie != 0 {
		if c := k.byCookie[ev.Cookie]; c != nil {
			if c.key != key && c.key.Local.Port() == 0 && key.Local.Port() != 0 {
				k.rekey(c, key)
			}
			return c
		}
	}
	if ev.Proto == TCP && ev.Local.Port() == 0 && ev.To == StateSynSent {
		c := k.alloc(key, ev.Cookie, ev.Time)
		if k.byCookie == nil {
			k.byCookie = map[uint64]*conn{}
		}
		if ev.Cookie != 0 {
			k.byCookie[ev.Cookie] = c
		}
		if len(k.connecting) >= connectingMax {
			k.connecting = slices.DeleteFunc(k.connecting, func(o *conn) bool { return !o.connecting })
		}
		if len(k.connecting) >= connectingMax {
			o := k.connecting[0]
			o.connecting = false
			if !o.gone {
				k.forget(o)
			}
			k.connecting = slices.Delete(k.connecting, 0, 1)
		}
		c.connecting = true
		k.connecting = append(k.connecting, c)
		return c
	}
	if ev.Cookie == 0 && ev.From == StateSynSent {
		// Without cookies the connecting socket is the oldest one to the
		// same peer from the same address.
		for _, c := range k.connecting {
			if c.connecting && c.cookie == 0 && c.key.Proto == key.Proto && c.key.NetNS == key.NetNS &&
				c.key.Remote == key.Remote && c.key.Local.Addr() == key.Local.Addr() {
				k.rekey(c, key)
				return c
			}
		}
	}
	c := k.conns.get(key)
	if c != nil {
		other := ev.Cookie != 0 && c.cookie != 0 && c.cookie != ev.Cookie
		if other || fresh(ev) && (c.gone || c.ended() || c.twCookie != 0 || c.hasKernel()) {
			k.retire(c)
			c = nil
		}
	}
	if c != nil {
		if c.cookie == 0 {
			k.setCookie(c, ev.Cookie)
		}
		return c
	}
	if fresh(ev) {
		return k.newConn(key, ev.Cookie, ev.Time)
	}
	// A socket the kernel reports for the first time in mid-life was
	// listed before, or opened before the events started: by its cookie,
	// it was first seen when the snapshots first listed it (or at the
	// first one). Without a cookie that is not known.
	if ev.Cookie == 0 {
		return k.newConn(key, 0, time.Time{})
	}
	first := k.firstSeen(ev.Cookie)
	c = k.newConn(key, ev.Cookie, first)
	c.steps = append(c.steps, Step{State: ev.From.Canonical(), At: first, Source: Sampled})
	return c
}
