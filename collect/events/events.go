// Package events reads what the kernel reports as it happens: every TCP
// state change, from the sock:inet_sock_set_state tracepoint (a BPF
// program with a ring buffer, or else a private tracefs instance), and
// every destroyed TCP and UDP socket, from the sock_diag destroy groups.
// A Stream hands both to a collect.Tracker, which merges them with the
// snapshots. Without the privilege for either tracepoint reader the
// stream says so in its notices, and transitions stay sampled.
package events

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"socktop/collect"
)

// Mode says where a stream's state events come from.
type Mode string

// The stream's modes, best first.
const (
	// ModeBPF: a BPF program on the tracepoint, with the socket cookie and
	// network namespace of each event. Only TCP sockets are reported: an
	// MPTCP socket (protocol 262; a Go listener is one by default since Go
	// 1.24) is left out, and its TCP subflows are reported, under their
	// own cookies.
	ModeBPF Mode = "bpf"
	// ModeTracefs: a private tracefs instance with the tracepoint
	// enabled; events carry no cookie.
	ModeTracefs Mode = "tracefs"
	// ModeSampled: no tracepoint reader; transitions are inferred from
	// snapshots.
	ModeSampled Mode = "sampled"
)

// Exact reports whether the mode gives exact transitions.
func (m Mode) Exact() bool { return m == ModeBPF || m == ModeTracefs }

// ErrUnavailable is wrapped by the errors of a reader that cannot run
// here: no privilege, no tracefs, not Linux.
var ErrUnavailable = errors.New("kernel events unavailable")

// Options choose what a Stream reads.
type Options struct {
	// Mode forces one reader ("" tries BPF, then tracefs, then sampled).
	// A forced reader that cannot run is an error from Open.
	Mode Mode
	// Closed also watches the destroy groups for closed connections.
	Closed bool
	// Queue bounds the events waiting for Drain; beyond it they are
	// counted as lost. 0 means DefaultQueue.
	Queue int
}

// DefaultQueue is the default bound of the events waiting for Drain: a
// few seconds of heavy churn between two refreshes.
const DefaultQueue = 1 << 17

// closedHold bounds how long Drain holds a TCP destroy record for the
// tracepoint reader to catch up with it.
const closedHold = 250 * time.Millisecond

// Stats are a stream's counters since Open.
type Stats struct {
	// Events is how many state events were read.
	Events uint64
	// Lost is how many state events the kernel could not hand over (a
	// full ring buffer or trace buffer) or the queue could not hold.
	Lost uint64
	// Closed is how many destroy records were read.
	Closed uint64
	// ClosedLost is how many destroy records were lost (ENOBUFS, the
	// kernel's own drops, or the queue).
	ClosedLost uint64
}

// reader is one way of reading the tracepoint: BPF or tracefs.
type reader interface {
	// run reads events and hands each batch to emit, in the kernel's
	// order, until close is called; it then returns nil, or the error that
	// stopped it earlier.
	run(emit func([]collect.StateEvent)) error
	// lost returns how many events the kernel dropped so far.
	lost() uint64
	// caughtUp returns a time before which every event the kernel made
	// has been handed to emit; zero while none is known.
	caughtUp() time.Time
	// close stops run and releases what the reader holds (programs,
	// links, tracefs instances); it may be called more than once.
	close() error
}

// Stream reads kernel events on goroutines of its own and queues them
// for Drain. Its methods are safe for concurrent use.
type Stream struct {
	mode    Mode
	notices []string
	rd      reader
	cw      *collect.ClosedWatcher
	limit   int

	mu     sync.Mutex
	evs    []collect.StateEvent
	closed []collect.Closed
	// evsPeak and closedPeak are what the queues held at recent drains,
	// fading by a quarter a drain: what shrunk sizes them by.
	evsPeak, closedPeak int
	// lost and closedLost are what the queue itself dropped, and the
	// readers' counts already handed to Drain.
	qLost, qClosedLost   uint64
	drLost, drClosedLost uint64
	ready                chan struct{}
	nEvents, nClosed     atomic.Uint64
	wg                   sync.WaitGroup
	closeOnce            sync.Once
	// scopeMu orders SetScope's calls; scopeKey is the scope in force
	// when scopeSet.
	scopeMu  sync.Mutex
	scopeSet bool
	scopeKey string
	errMu    sync.Mutex
	err      error
}

// Open starts the readers opts ask for. Without a forced Mode it never
// fails for lack of privilege: it falls back from BPF to tracefs to
// sampled, and Notices names what was lost and what would restore it.
func Open(opts Options) (*Stream, error) {
	s := &Stream{limit: opts.Queue, ready: make(chan struct{}, 1)}
	if s.limit <= 0 {
		s.limit = DefaultQueue
	}
	switch opts.Mode {
	case "", ModeBPF, ModeTracefs, ModeSampled:
	default:
		return nil, fmt.Errorf("events: unknown mode %q (want %s, %s or %s)", opts.Mode, ModeBPF, ModeTracefs, ModeSampled)
	}
	var why []string
	var forcedErr error
	try := func(m Mode, open func() (reader, error)) bool {
		if opts.Mode != "" && opts.Mode != m {
			return false
		}
		rd, err := open()
		if err != nil {
			label := readerLabels[m]
			why = append(why, fmt.Sprintf("%s (%v)", label, err))
			forcedErr = fmt.Errorf("events: %s: %w", label, err)
			return false
		}
		s.mode, s.rd = m, rd
		return true
	}
	switch {
	case try(ModeBPF, openBPF):
	case try(ModeTracefs, openTracefs):
		if opts.Mode == "" {
			s.notices = append(s.notices, "exact transitions from tracefs, without socket cookies or network namespaces: events join rows by address alone; "+why[0]+"; for BPF "+restoreBPF)
		}
	case opts.Mode != "" && opts.Mode != ModeSampled:
		return nil, forcedErr
	default:
		s.mode = ModeSampled
		if opts.Mode == "" {
			s.notices = append(s.notices, "exact transitions off, sampled from snapshots instead (states passed between two refreshes are not seen): "+joinWhy(why)+"; to restore them "+restoreBPF+", or give this user access to tracefs (/sys/kernel/tracing)")
		}
	}
	if n, ok := s.rd.(interface{ notices() []string }); ok {
		s.notices = append(s.notices, n.notices()...)
	}
	if opts.Closed {
		cw, err := collect.WatchClosedFunc(nil, s.addClosed)
		if err != nil {
			s.notices = append(s.notices, fmt.Sprintf("closed connections off: %v", err))
		} else {
			s.cw = cw
		}
	}
	if s.rd != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.rd.run(s.addEvents); err != nil {
				s.setErr(err)
			}
		}()
	}
	return s, nil
}

// readerLabels name a reader's failure in a notice.
var readerLabels = map[Mode]string{
	ModeBPF:     "BPF refused",
	ModeTracefs: "tracefs not accessible",
}

// restoreBPF is what gives socktop its BPF reader back.
const restoreBPF = "run as root, or give socktop cap_bpf and cap_perfmon (setcap cap_bpf,cap_perfmon+ep socktop)"

func joinWhy(why []string) string {
	if len(why) == 0 {
		return "no reader"
	}
	out := why[0]
	for _, w := range why[1:] {
		out += "; " + w
	}
	return out
}

// Mode returns where the stream's state events come from.
func (s *Stream) Mode() Mode { return s.mode }

// Notices returns what the user should be told once: readers that could
// not run, and what would make them run.
func (s *Stream) Notices() []string { return s.notices }

// Ready returns a channel that receives when something was queued since
// the last Drain; a reader that waits for events selects on it.
func (s *Stream) Ready() <-chan struct{} { return s.ready }

func (s *Stream) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Stream) addEvents(evs []collect.StateEvent) {
	s.nEvents.Add(uint64(len(evs)))
	s.mu.Lock()
	room := s.limit - len(s.evs)
	if room < len(evs) {
		s.qLost += uint64(len(evs) - max(room, 0))
		evs = evs[:max(room, 0)]
	}
	s.evs = append(s.evs, evs...)
	s.mu.Unlock()
	s.signal()
}

// addClosed queues a batch of destroy records under one lock, with one
// signal; the watcher reuses cs.
func (s *Stream) addClosed(cs []collect.Closed) {
	s.nClosed.Add(uint64(len(cs)))
	s.mu.Lock()
	room := s.limit - len(s.closed)
	if room < len(cs) {
		s.qClosedLost += uint64(len(cs) - max(room, 0))
		cs = cs[:max(room, 0)]
	}
	s.closed = append(s.closed, cs...)
	s.mu.Unlock()
	s.signal()
}

// keepQueue is the capacity a queue keeps however little it held: what a
// refresh of ordinary churn brings, so that its slices are not regrown at
// every refresh.
const keepQueue = 4096

// shrunk returns q emptied, with its backing array if that is in
// proportion to what it held at recent drains (peak, which it updates
// with n, what it holds now), or a smaller one: a burst that grew a
// queue to the limit does not pin it for the rest of the run. A queue
// that keeps filling keeps its array, and so does one drained twice a
// refresh (a patch drains again after its lookups): the second drain,
// with the few events of a few milliseconds, would otherwise shrink the
// array the next refresh grows again.
func shrunk[T any](q []T, n int, peak *int) []T {
	*peak = max(n, *peak-*peak/4)
	if c := cap(q); c > keepQueue && 4**peak < c {
		return make([]T, 0, max(keepQueue, 2**peak))
	}
	clear(q[:n])
	return q[:0]
}

// Sync waits, at most max, until every event the kernel made before t is
// with the stream, so that a Drain after it has them all; it reports
// whether they are. The reader hands events on in batches, a few
// milliseconds apart: a caller that reads a counter at t and then drains
// gets the events behind every change the counter saw.
func (s *Stream) Sync(t time.Time, max time.Duration) bool {
	if s.rd == nil {
		return false
	}
	synced := func() bool {
		if r, ok := s.rd.(interface{ synced(time.Time) bool }); ok {
			return r.synced(t)
		}
		return !s.rd.caughtUp().Before(t)
	}
	deadline := time.Now().Add(max)
	for !synced() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Microsecond)
	}
	return true
}

// Drain appends the queued events and destroy records to evs and closed
// and returns them, with how many of each were lost since the last
// Drain. It does not block.
func (s *Stream) Drain(evs []collect.StateEvent, closed []collect.Closed) ([]collect.StateEvent, []collect.Closed, uint64, uint64) {
	var caught time.Time
	if s.rd != nil {
		caught = s.rd.caughtUp()
	}
	now := time.Now()
	s.mu.Lock()
	evs = append(evs, s.evs...)
	// A TCP socket's destroy record comes after its last state changes,
	// but the two readers hand on in batches of their own: a record
	// waits until the tracepoint reader has caught up with the time it
	// was read, so that the tracker has the connection's whole path when
	// it reports the record. A reader that says nothing for closedHold
	// (idle, or starved of CPU) holds it no longer.
	keep := 0
	for i := range s.closed {
		c := &s.closed[i]
		if s.rd != nil && c.Proto == collect.TCP && !c.Received.Before(caught) && now.Sub(c.Received) < closedHold {
			s.closed[keep] = *c
			keep++
			continue
		}
		closed = append(closed, *c)
	}
	// Records hold pointers (tcp_info): cleared, the queue keeps none of
	// them alive.
	s.evs = shrunk(s.evs, len(s.evs), &s.evsPeak)
	if keep > 0 {
		clear(s.closed[keep:])
		s.closed = s.closed[:keep]
	} else {
		s.closed = shrunk(s.closed, len(s.closed), &s.closedPeak)
	}
	lost, closedLost := s.qLost, s.qClosedLost
	s.qLost, s.qClosedLost = 0, 0
	s.mu.Unlock()
	if s.rd != nil {
		n := s.rd.lost()
		s.mu.Lock()
		lost += n - s.drLost
		s.drLost = n
		s.mu.Unlock()
	}
	if s.cw != nil {
		n := s.cw.Lost()
		if d, err := s.cw.Dropped(); err == nil {
			n += d
		}
		s.mu.Lock()
		if n > s.drClosedLost {
			closedLost += n - s.drClosedLost
			s.drClosedLost = n
		}
		s.mu.Unlock()
	}
	return evs, closed, lost, closedLost
}

// Feed drains the stream into t: the tracker merges what it was given at
// its next Update.
func (s *Stream) Feed(t *collect.Tracker) {
	evs, closed, lost, closedLost := s.Drain(nil, nil)
	t.AddEvents(evs, lost)
	t.AddClosed(closed, closedLost)
}

// Scope is what the kernel side of a stream may leave out: what its
// reader would drop anyway, dropped before it costs a wakeup, a copy and
// a decode. The zero Scope keeps everything.
type Scope struct {
	// NetNS keeps the state events of that network namespace alone; 0
	// keeps every namespace's.
	NetNS uint32
	// TCP, when set, keeps the state events and destroy records of the
	// TCP sockets it may hold (collect.PortSet), and the events of
	// connects whose local port is not chosen yet if a local port may
	// be. nil keeps every TCP socket's.
	TCP *collect.PortSet
	// UDP, when set, keeps the destroy records of the UDP sockets it may
	// hold. Destroy records are kept by TCP and UDP together: both must
	// be set for either to narrow them.
	UDP *collect.PortSet
}

// key names the scope, to tell a change from a repeat.
func (sc *Scope) key() string {
	k := fmt.Sprint(sc.NetNS)
	for _, ps := range []*collect.PortSet{sc.TCP, sc.UDP} {
		if ps == nil {
			k += "|all"
		} else {
			k += "|" + ps.String()
		}
	}
	return k
}

// scoper is a reader whose kernel side can leave events out.
type scoper interface {
	setScope(sc Scope) error
}

// SetScope narrows what the kernel hands the stream to sc, from the
// kernel's next event on; events already read are kept. A reader that
// cannot narrow (tracefs) reads everything, as before: a scope is only
// ever a saving, never a filter the stream's readers may rely on. The
// error says what could not be narrowed; the stream goes on either way.
// A repeat of the scope in force costs no system call.
func (s *Stream) SetScope(sc Scope) error {
	k := sc.key()
	s.scopeMu.Lock()
	defer s.scopeMu.Unlock()
	if s.scopeSet && k == s.scopeKey {
		return nil
	}
	var errs []error
	if sr, ok := s.rd.(scoper); ok {
		errs = append(errs, sr.setScope(sc))
	}
	if s.cw != nil {
		var ports *collect.PortSet
		if sc.TCP != nil && sc.UDP != nil {
			ports = &collect.PortSet{}
			ports.Union(*sc.TCP)
			ports.Union(*sc.UDP)
		}
		errs = append(errs, s.cw.SetPorts(ports))
	}
	err := errors.Join(errs...)
	// A scope that failed is tried again next time.
	s.scopeSet, s.scopeKey = err == nil, k
	return err
}

// Stats returns the stream's counters since Open.
func (s *Stream) Stats() Stats {
	st := Stats{Events: s.nEvents.Load(), Closed: s.nClosed.Load()}
	s.mu.Lock()
	st.Lost, st.ClosedLost = s.drLost, s.drClosedLost
	s.mu.Unlock()
	if s.rd != nil {
		st.Lost = s.rd.lost()
	}
	return st
}

func (s *Stream) setErr(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
}

// Err returns why a reader stopped before Close, or nil.
func (s *Stream) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Close stops the readers and releases every kernel object they made.
func (s *Stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.rd != nil {
			err = s.rd.close()
		}
		if s.cw != nil {
			err = errors.Join(err, s.cw.Close())
		}
		s.wg.Wait()
	})
	return err
}
