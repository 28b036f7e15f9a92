package ui

import (
	"slices"
	"strings"
	"sync"
	"time"

	"socktop/collect"
	"socktop/collect/events"
)

// EventStream is the kernel's event stream the live view reads at each
// refresh; *events.Stream is one. The view drains it in the collection's
// Cmd, beside the snapshot, never in Update.
type EventStream interface {
	// Mode says where state events come from.
	Mode() events.Mode
	// Notices are told once, in the header's notice line.
	Notices() []string
	// Drain appends what was read since the last call, and returns how
	// many state events and destroy records were lost meanwhile.
	Drain(evs []collect.StateEvent, closed []collect.Closed) ([]collect.StateEvent, []collect.Closed, uint64, uint64)
	// Err says why a reader stopped early, or is nil.
	Err() error
}

// changeTracker is what the model asks of collect.Tracker. Model tests
// put a scripted one in its place, to hand the view constructed Changes
// (kernel transitions, closed records, lost counts).
type changeTracker interface {
	AddEvents(evs []collect.StateEvent, lost uint64)
	AddClosed(cs []collect.Closed, lost uint64)
	// UpdateFrom diffs a snapshot against the last one, pairing a
	// patched table's carried rows by the patch's origins (nil for a
	// walk; collect.Tracker.UpdateFrom).
	UpdateFrom(cur *collect.Snapshot, origin []int32, of *collect.Snapshot) collect.Changes
	Path(k collect.Key) []collect.Step
	// Rebase makes the next Update a first snapshot (a new kernel
	// filter changed what the source lists).
	Rebase()
}

// drained is what one collection read from the event stream.
type drained struct {
	events           []collect.StateEvent
	closed           []collect.Closed
	lost, closedLost uint64
	err              error // the stream's Err: a reader that stopped
}

// drain reads the stream; a nil stream gives nothing. Under a scope that
// is on, the events of other namespaces are dropped here, off the event
// loop: the table does not list their sockets, and the tracker would
// keep them until a walk merged them (see eventScope). The stream is
// read into the scope's array. When most of its events are kept, the
// array goes with them; when few are (other namespaces' events, or a
// filter's rejects, make most of the stream), they are copied out and
// the array is read into again: a new array for each drain was most of
// what such a view allocated.
func drain(ev EventStream, scope nsScope) drained {
	if ev == nil {
		return drained{}
	}
	var d drained
	if !scope.on || scope.buf == nil {
		d.events, d.closed, d.lost, d.closedLost = ev.Drain(nil, nil)
		d.err = ev.Err()
		return d
	}
	b := scope.buf
	b.mu.Lock()
	var all []collect.StateEvent
	all, d.closed, d.lost, d.closedLost = ev.Drain(b.evs[:0], nil)
	// The cookies of connects kept before their port was known: their
	// later events are kept, the newest word on the socket.
	var open map[uint64]struct{}
	keep := all[:0]
	for i := range all {
		e := &all[i]
		if e.NetNS != 0 && e.NetNS != scope.ns {
			continue
		}
		if _, was := open[e.Cookie]; !was && !scope.accepts(e) {
			continue
		}
		if scope.tuple && e.Local.Port() == 0 {
			if open == nil {
				open = map[uint64]struct{}{}
			}
			open[e.Cookie] = struct{}{}
		}
		keep = append(keep, *e)
	}
	if len(keep) >= drainHandOff && 2*len(keep) >= len(all) && cap(all) <= 4*len(keep) {
		// Many, and most of what was read: the array goes with them, and
		// the next drain reads into a new one. A copy would be a second
		// array of the refresh's events, held as long as the tracker
		// holds them.
		clear(all[len(keep):])
		d.events = keep
		b.evs, b.drains, b.most = nil, 0, 0
		b.mu.Unlock()
		d.err = ev.Err()
		return d
	}
	if len(keep) > 0 {
		d.events = slices.Clone(keep)
	}
	// The events hold their task's name: cleared, the array keeps none
	// alive. A burst's array is not kept: the array is measured against
	// the most the last drainSpan drains read, since a refresh drains
	// twice, a second's events and then a few milliseconds'.
	clear(all)
	b.most = max(b.most, len(all))
	if b.drains++; b.drains >= drainSpan {
		if cap(all) > drainKeep && 4*b.most < cap(all) {
			all = nil
		}
		b.drains, b.most = 0, 0
	}
	b.evs = all[:0]
	b.mu.Unlock()
	d.err = ev.Err()
	return d
}

// drainKeep is the capacity of the drain array kept however little the
// drains read; drainSpan is how many drains its size is judged over.
const (
	drainKeep = 4096
	drainSpan = 16
)

// drainHandOff is how many events a drain must keep, most of what it
// read, to take the array it read into with it rather than copy them.
const drainHandOff = 1024

// drainBuf is the array scoped drains read the stream into; the Cmds
// that drain share it under mu. most is the longest of the last drains
// (drains of them).
type drainBuf struct {
	mu     sync.Mutex
	evs    []collect.StateEvent
	most   int
	drains int
}

// nsScope says which namespace's events a drain keeps: all when off.
// Under a kernel filter that tests addresses and ports alone, progs are
// its TCP programs (for the dump of both families, of IPv4, of IPv6),
// and an event of a socket none of them accepts is dropped too: the
// table does not list the socket, nor the log its transitions, which
// are of the filter's sockets only (matchTransitions). buf is the array
// the drain reads into, when it has one.
type nsScope struct {
	ns    uint32
	on    bool
	progs [3][]byte
	tuple bool // progs are set
	buf   *drainBuf
}

// accepts reports whether a program the source may dump TCP by lets e's
// socket through, or cannot tell: a connect's first event comes before
// its port is chosen.
func (s *nsScope) accepts(e *collect.StateEvent) bool {
	if !s.tuple || e.Local.Port() == 0 {
		return true
	}
	sock := collect.Socket{Proto: e.Proto, Family: e.Family, State: e.To, Local: e.Local, Remote: e.Remote}
	for i, bc := range s.progs {
		if i == 1 && sock.Family != 4 || i == 2 && sock.Family != 6 {
			continue
		}
		if yes, ok := collect.RunBytecode(bc, &sock); bc == nil || yes || !ok {
			return true
		}
	}
	return false
}

// eventScope is the scope of the next drain. The kernel's event stream
// is host-wide; a view of its own namespace alone (no --all-netns, no
// -N) lists none of the other namespaces' sockets, so their transitions
// are of rows it never shows, and on a host with containers they are
// most of the stream. A running demo keeps them all: a scenario may run
// its sockets in a namespace of its own and check their paths.
func (m *model) eventScope() nsScope {
	p, ok := m.src.(peeker)
	if !ok || m.demos.active() {
		return nsScope{}
	}
	ns, own := p.PeekNetNS()
	scope := nsScope{ns: ns, on: own && ns != 0, buf: &m.drainBuf}
	if kf, _ := m.kernelWant(); kf != nil && scope.on {
		scope.tuple = true
		for i, fam := range [3]uint8{0, 4, 6} {
			bc := kf.Bytecode(collect.TCP, fam)
			if bc != nil && len(bc) > 0 && !collect.BytecodeTupleOnly(bc) {
				scope.tuple = false
			}
			scope.progs[i] = bc
		}
	}
	return scope
}

// eventsText is the header's word on where transitions come from:
// "exact (bpf)", "exact (tracefs)", or "sampled" and why. stopped is the
// error that ended the reader, if one did.
func eventsText(ev EventStream, stopped error) string {
	if ev == nil {
		return "sampled: no event stream"
	}
	m := ev.Mode()
	switch {
	case m.Exact() && stopped != nil:
		return "sampled: the " + string(m) + " reader stopped"
	case m.Exact():
		return "exact (" + string(m) + ")"
	}
	return "sampled: " + sampledWhy(ev.Notices())
}

// sampledWhy names in a few words why a stream that was not forced to
// be sampled is: the readers' errors are in its notice, which the notice
// line shows whole. A stream with no such notice was asked to sample.
func sampledWhy(notices []string) string {
	for _, n := range notices {
		l := strings.ToLower(n)
		if !strings.HasPrefix(l, "exact transitions off") {
			continue
		}
		// The notice quotes each reader's error, then a remedy that
		// names capabilities whatever failed: only the errors' words
		// tell the reasons apart.
		switch {
		case strings.Contains(l, "not permitted"), strings.Contains(l, "permission denied"):
			return "no BPF privilege"
		case strings.Contains(l, "not built"):
			return "no event reader built"
		case strings.Contains(l, "linux only"):
			return "not Linux"
		}
		return "kernel events unavailable"
	}
	return "as asked (--events sampled)"
}

// The wait for the event stream to catch up (see syncEvents) is bounded
// by eventSyncMax: its reader hands events on every few milliseconds.
// The stream is asked again after eventSyncFirst, then after waits that
// double up to eventSyncStep: the reader lets events gather for 10 ms
// after a small batch, and asking every 250 µs cost forty wakeups a wait.
const (
	eventSyncMax   = 50 * time.Millisecond
	eventSyncFirst = 250 * time.Microsecond
	eventSyncStep  = 2 * time.Millisecond
)

// eventSyncer is a stream that can tell whether it holds every event
// the kernel made before a time (collect/events.Stream).
type eventSyncer interface {
	Sync(t time.Time, max time.Duration) bool
}

// syncEvents waits until the stream holds every event the kernel made
// before t, when it can tell (collect/events.Stream.Sync): a refresh that
// read the namespace's counters at t then drains the events behind
// every change they counted, rather than a refresh later.
func syncEvents(ev EventStream, t time.Time) {
	if s, ok := ev.(eventSyncer); ok {
		syncWait(s, t, eventSyncMax, time.Now, time.Sleep)
	}
}

// syncWait asks s whether it holds the events before t until it does or
// max has passed on now's clock, sleeping between the questions.
func syncWait(s eventSyncer, t time.Time, max time.Duration, now func() time.Time, sleep func(time.Duration)) bool {
	deadline := now().Add(max)
	step := eventSyncFirst
	for {
		if s.Sync(t, 0) {
			return true
		}
		left := deadline.Sub(now())
		if left <= 0 {
			return false
		}
		sleep(min(step, left))
		step = min(2*step, eventSyncStep)
	}
}
