package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/probe"
)

// eventBuffer is the capacity of Run.Events. A scenario makes a few dozen
// calls; a reader that falls this far behind loses narration lines (they
// stay in Run.Log) rather than stalling the steps.
const eventBuffer = 1024

// Transition is a state change of one socket of the run, as observed
// between two snapshots, with the side it belongs to.
type Transition struct {
	collect.Transition
	Role Role
}

// String returns "client tcp 127.0.0.1:40112 > 127.0.0.1:5194: ESTABLISHED -> FIN_WAIT_2".
func (t Transition) String() string {
	from, to := t.From.Canonical().String(), t.To.Canonical().String()
	if t.From == collect.StateUnknown {
		from = "(new)"
	}
	if t.To == collect.StateUnknown {
		to = "(gone)"
	}
	remote := "*"
	if t.Key.Remote.Port() != 0 {
		remote = t.Key.Remote.String()
	}
	return fmt.Sprintf("%s %s %s > %s: %s -> %s", t.Role, t.Key.Proto, t.Key.Local, remote, from, to)
}

// Event is one socket call of a run and its result, as the narration
// shows it. It is probe's event, named here so a consumer of runs needs
// no other package.
type Event = probe.Event

// Run is one execution of a scenario. Its methods are safe for
// concurrent use.
type Run struct {
	sc    *Scenario
	cfg   Config
	host  Host
	ports []uint16 // server port first, then any others the run uses
	p     *probe.Probe

	events    chan probe.Event
	evMu      sync.Mutex
	evClosed  bool
	evDropped int

	done      chan struct{}
	doneOnce  sync.Once
	stepsDone chan struct{}
	cancel    context.CancelFunc
	stopOnce  sync.Once
	stopped   chan struct{}

	mu         sync.Mutex
	started    time.Time
	status     []PromiseStatus
	reported   []bool
	log        []probe.Event
	stepsEnd   time.Time
	stepErr    error
	absentOK   int                  // clean snapshots after the steps ended
	roles      map[collect.Key]Role // every socket of the run seen, by key
	trans      []Transition
	serverPort map[uint16]bool
	// taken holds the times of the last snapshots observed, and observed
	// is closed and replaced on every Observe, for env.hold.
	taken    []time.Time
	observed chan struct{}

	// own is Observe's tracker, made at its first call.
	ownMu sync.Mutex
	own   *collect.Tracker

	// What the run checks besides snapshots, see Checks. capture and
	// capErr are set before the steps start; the rest is guarded by mu.
	checks     Checks
	capture    *segments.Capture
	capErr     error
	conns      map[collect.Key]*conn
	connOrder  []*conn
	pathsDirty bool
	segs       []segments.Segment
	segBuf     []segments.Segment
	segsDirty  bool
	lost       uint64
	tables     []Table

	// onStops are what the steps made besides sockets and children (a
	// network namespace): Stop undoes them, last first, once the steps
	// have returned and the sockets are closed.
	stopMu  sync.Mutex
	onStops []func()
}

// Start runs sc with cfg: it picks the port(s), reads the host's
// sysctls, and starts the steps in a goroutine. The run ends when Stop is
// called, when ctx is done, or when a step fails or panics (Err says
// why); it keeps its sockets open after the steps finish normally, so
// their states stay visible.
func Start(ctx context.Context, sc *Scenario, cfg Config) (*Run, error) {
	return start(ctx, sc, cfg, ReadHost(), Checks{})
}

// start is Start with the host's settings given, so tests can show what
// a run says on a host with other sysctls.
func start(ctx context.Context, sc *Scenario, cfg Config, host Host, checks Checks) (*Run, error) {
	if sc == nil || sc.steps == nil {
		return nil, fmt.Errorf("%w: no steps", ErrUnknownScenario)
	}
	if err := sc.privileged(); err != nil {
		return nil, err
	}
	n := max(sc.Ports, 1)
	ports := make([]uint16, 0, n)
	if cfg.Port != 0 {
		// A port the user names may still hold sockets of an earlier run
		// (a TIME_WAIT at either end lasts 60 s): they would be taken for
		// this run's and keep or break its promises. Free ports are
		// chosen clean by probe.FreePort.
		if busy, err := socketsOnPort(ctx, cfg.Port); err == nil && busy > 0 {
			return nil, fmt.Errorf("%w: port %d still has %d socket(s), perhaps TIME_WAIT from an earlier run; their states would be taken for this run's: pick another port, or leave it out to get a free one", ErrPortBusy, cfg.Port, busy)
		}
		// The count above sees IPv4 only; a listener on [::] (dual-stack,
		// like sshd's) or ::1, or a socket only bound, is found by binding.
		inUse, err := probe.PortInUse(cfg.Port)
		if err != nil {
			return nil, fmt.Errorf("demo %s: %w", sc.Name, err)
		}
		if inUse {
			return nil, fmt.Errorf("%w: port %d is taken on loopback (IPv4 or IPv6, perhaps a listener on [::]): pick another port, or leave it out to get a free one", ErrPortBusy, cfg.Port)
		}
		ports = append(ports, cfg.Port)
	}
	for len(ports) < n {
		port, err := probe.FreePort()
		if err != nil {
			return nil, fmt.Errorf("demo %s: %w", sc.Name, err)
		}
		if port != cfg.Port {
			ports = append(ports, port)
		}
	}
	cfg.Port = ports[0]
	r := &Run{
		sc: sc, cfg: cfg, host: host, ports: ports,
		events:     make(chan probe.Event, eventBuffer),
		done:       make(chan struct{}),
		stepsDone:  make(chan struct{}),
		stopped:    make(chan struct{}),
		started:    time.Now(),
		roles:      map[collect.Key]Role{},
		serverPort: map[uint16]bool{ports[0]: true},
		observed:   make(chan struct{}),
		checks:     checks,
		conns:      map[collect.Key]*conn{},
	}
	for _, p := range sc.PromisesFor(cfg) {
		st := PromiseStatus{Promise: p}
		if p.Blocked != nil {
			st.Note = p.Blocked(r.host)
			st.blocked = st.Note != ""
		}
		r.status = append(r.status, st)
	}
	r.reported = make([]bool, len(r.status))
	r.startChecks()
	r.p = probe.New(r.onEvent)
	stepCtx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go r.runSteps(stepCtx)
	go func() {
		select {
		case <-ctx.Done():
			r.Stop()
		case <-r.stopped:
		}
	}()
	return r, nil
}

// privileged returns ErrNeedsRoot, with NeedsRoot and what this process
// lacks, when the scenario needs privileges this process does not have:
// better said before the first step than as a failure half-way.
func (sc *Scenario) privileged() error {
	if sc.NeedsRoot == "" {
		return nil
	}
	if why := labAllowed(); why != "" {
		return fmt.Errorf("%w: %s %s, and %s: run it as root", ErrNeedsRoot, sc.Name, sc.NeedsRoot, why)
	}
	return nil
}

// stepFailure carries an unexpected error out of the steps; the runner
// recovers it.
type stepFailure struct{ err error }

func (r *Run) runSteps(ctx context.Context) {
	e := &env{ctx: ctx, p: r.p, cfg: r.cfg, host: r.host, port: r.ports[0], ports: r.ports, run: r}
	defer func() {
		rec := recover()
		var err error
		switch v := rec.(type) {
		case nil:
		case stepFailure:
			err = v.err
		default:
			err = fmt.Errorf("%w: panic: %v", ErrStep, v)
		}
		if err != nil && (errors.Is(err, probe.ErrStopped) || ctx.Err() != nil) {
			err = nil // stopped on purpose
		}
		if err != nil {
			r.p.Emit("demo", "step failed", err.Error(), err)
		}
		r.mu.Lock()
		r.stepErr = err
		r.stepsEnd = time.Now()
		r.mu.Unlock()
		close(r.stepsDone)
		r.doneOnce.Do(func() { close(r.done) })
		if err != nil {
			// Steps that failed leave a picture nobody promised: close it
			// all now rather than wait for the caller's Stop.
			go r.Stop()
		}
	}()
	r.sc.steps(e)
}

// onEvent is the probe's sink: it logs the event, checks the call
// promises and forwards it to Events.
func (r *Run) onEvent(ev probe.Event) {
	r.mu.Lock()
	r.log = append(r.log, ev)
	role := roleOfName(ev.Endpoint)
	for i := range r.status {
		st := &r.status[i]
		p := st.Promise
		if st.Seen || p.Call == "" {
			continue
		}
		if p.Endpoint != "" && p.Endpoint != ev.Endpoint || p.Endpoint == "" && p.Role != role {
			continue
		}
		if strings.HasPrefix(ev.Call, p.Call) && strings.HasPrefix(ev.Result, p.Result) {
			st.Seen, st.At = true, ev.At
		}
	}
	r.mu.Unlock()
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if r.evClosed {
		return
	}
	select {
	case r.events <- ev:
	default:
		r.evDropped++
	}
}

// roleOfName maps an endpoint name ("client 2", "server (new)") to a role.
func roleOfName(name string) Role {
	if strings.HasPrefix(name, string(Client)) {
		return Client
	}
	if strings.HasPrefix(name, string(Server)) {
		return Server
	}
	return ""
}

// Scenario returns the scenario being run.
func (r *Run) Scenario() *Scenario { return r.sc }

// Config returns the run's configuration, with the port it got.
func (r *Run) Config() Config { return r.cfg }

// Host returns the sysctls and kernel version the run read at start.
func (r *Run) Host() Host { return r.host }

// Notes says what the host's sysctls mean for this run.
func (r *Run) Notes() []string { return r.sc.Notes(r.host, r.cfg) }

// Events returns the narration: every socket call as it happens. The
// channel is buffered and closed once the run has stopped.
func (r *Run) Events() <-chan Event { return r.events }

// Log returns every event so far, including any Events dropped.
func (r *Run) Log() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.log...)
}

// Ports returns the ports the socket table should be filtered to, the
// server's first.
func (r *Run) Ports() []uint16 { return append([]uint16(nil), r.ports...) }

// Done returns a channel closed when the steps finished or Stop was
// called.
func (r *Run) Done() <-chan struct{} { return r.done }

// Err returns the error that ended the steps early, if any.
func (r *Run) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stepErr
}

// Stop closes every socket, ends every child process and waits until
// the steps have returned. It is idempotent.
func (r *Run) Stop() {
	r.stopOnce.Do(func() {
		r.cancel()
		r.p.Stop()
		<-r.stepsDone
		r.stopMu.Lock()
		undo := r.onStops
		r.onStops = nil
		r.stopMu.Unlock()
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		r.doneOnce.Do(func() { close(r.done) })
		r.stopCapture()
		r.evMu.Lock()
		r.evClosed = true
		close(r.events)
		r.evMu.Unlock()
		close(r.stopped)
	})
}

// onStop has Stop call f, after the sockets are closed. The steps call
// it, and Stop runs only after they returned, so nothing is missed.
func (r *Run) onStop(f func()) {
	r.stopMu.Lock()
	defer r.stopMu.Unlock()
	r.onStops = append(r.onStops, f)
}

// Status returns every promise of the run and whether it was kept. A
// path promise not kept while the kernel reported lost events is
// returned unchecked, with a note: the steps it waits for may be among
// the lost, so the run cannot tell a missed path from a missed report.
func (r *Run) Status() []PromiseStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]PromiseStatus(nil), r.status...)
	for i := range out {
		r.lostPathLocked(&out[i])
	}
	return out
}

// lostPathLocked marks st unchecked when it is a path promise not kept
// while events were lost. The caller holds r.mu.
func (r *Run) lostPathLocked(st *PromiseStatus) {
	if r.lost == 0 || len(st.Path) == 0 || st.Seen || st.Unchecked {
		return
	}
	st.Unchecked = true
	st.Note = fmt.Sprintf("not checked: the kernel lost %d events host-wide while it ran, which may be this path's; the state promises stand for it", r.lost)
}

// Settled reports whether nothing more can change: every promise is
// kept, or is a negative promise already broken.
func (r *Run) Settled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.status {
		// A promise this host cannot show is decided at the start (and
		// reported missed with its reason): waiting for it only made the
		// headless run hang until its timeout.
		if !st.Seen && !st.blocked && !st.Unchecked && !((st.Absent || st.NoFlags != 0) && st.Note != "") {
			return false
		}
	}
	return true
}

// keptWhere reports whether some promise that match accepts has been
// kept.
func (r *Run) keptWhere(match func(Promise) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.status {
		if st.Seen && match(st.Promise) {
			return true
		}
	}
	return false
}

// Kept reports whether every promise the run can check has been kept.
func (r *Run) Kept() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.status {
		r.lostPathLocked(&st)
		if !st.Seen && !st.Unchecked {
			return false
		}
	}
	return true
}

// observedSince counts the recent snapshots taken after t, and returns
// a channel closed at the next Observe.
func (r *Run) observedSince(t time.Time) (int, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, at := range r.taken {
		if at.After(t) {
			n++
		}
	}
	return n, r.observed
}

// Transitions returns the state changes of the run's sockets observed
// so far, in order; From is StateUnknown when a socket appeared and To
// when it went away.
func (r *Run) Transitions() []collect.Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]collect.Transition, len(r.trans))
	for i, t := range r.trans {
		out[i] = t.Transition
	}
	return out
}

// RoleTransitions returns the same changes as Transitions, each with the
// side it belongs to, for the headless report.
func (r *Run) RoleTransitions() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.trans...)
}

// endpointKey is what the run knows of one of its sockets.
type endpointKey struct {
	proto         collect.Proto
	local, remote netip.AddrPort
	role          Role
}

func (r *Run) endpointKeys() []endpointKey {
	eps := r.p.Endpoints()
	keys := make([]endpointKey, 0, len(eps))
	for _, ep := range eps {
		k := endpointKey{proto: collect.TCP, local: ep.Local(), remote: ep.Remote(), role: roleOfName(ep.Name())}
		if ep.Proto() == probe.UDP {
			k.proto = collect.UDP
		}
		if k.local.IsValid() && k.role != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// roleOf maps a socket of a snapshot to the run's role, or "" when the
// socket is not the run's. An endpoint the run made is matched on its
// 4-tuple (a kernel socket without a peer, like a listener or a
// connection refused, on its local address); TIME_WAIT and orphans have
// no inode, so inodes are never used. Anything else on the server port
// is the server's (accepted children, server-side TIME_WAIT), and
// anything connected to it is a client's.
func (r *Run) roleOf(s *collect.Socket, keys []endpointKey) Role {
	for _, k := range keys {
		if k.proto == s.Proto && k.local == s.Local && (k.remote == s.Remote || s.Remote.Port() == 0) {
			return k.role
		}
	}
	if s.Local.Addr() == probe.Loopback && r.serverPort[s.Local.Port()] {
		return Server
	}
	if s.Remote.Addr() == probe.Loopback && r.serverPort[s.Remote.Port()] && s.Local.Addr().IsLoopback() {
		return Client
	}
	return ""
}

// Observe feeds one snapshot to the run, through a tracker of the run's
// own, and returns the promises newly kept since the last call (state
// promises from this snapshot, call promises from the events since). It
// does no I/O. The tracker starts from an empty table at the run's start,
// since every socket of the run is made after it. The snapshot should
// cover the run's ports in every state (see CollectOptions). A caller that
// tracks the same snapshots already (the terminal view) calls
// ObserveChanges instead; the two are not mixed on one run.
func (r *Run) Observe(snap *collect.Snapshot) []PromiseStatus {
	return r.observe(snap, nil)
}

// observe is Observe with feed (when not nil) handing the tracker the
// kernel's events before it computes the changes.
func (r *Run) observe(snap *collect.Snapshot, feed func(*collect.Tracker)) []PromiseStatus {
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.own == nil {
		r.own = &collect.Tracker{}
		r.own.Update(&collect.Snapshot{Taken: r.started})
	}
	if feed != nil {
		feed(r.own)
	}
	ch := r.own.Update(snap)
	return r.ObserveChanges(snap, &ch)
}

// ObserveChanges is Observe with the changes a collect.Tracker computed
// for snap: the run keeps the transitions of its own sockets, those on its
// ports that roleOf gives a side, and a disappearance of a socket it saw.
func (r *Run) ObserveChanges(snap *collect.Snapshot, ch *collect.Changes) []PromiseStatus {
	keys := r.endpointKeys()
	// A bitmap of the ports the run's sockets can use rejects the rest of
	// a large table with two bit tests per socket.
	var mine [65536 / 64]uint64
	set := func(p uint16) { mine[p/64] |= 1 << (p % 64) }
	for _, p := range r.ports {
		set(p)
	}
	for _, k := range keys {
		set(k.local.Port())
	}
	has := func(p uint16) bool { return mine[p/64]&(1<<(p%64)) != 0 }
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range ch.Transitions {
		t := &ch.Transitions[i]
		if !has(t.Key.Local.Port()) && !has(t.Key.Remote.Port()) {
			continue
		}
		s := ch.Socket(snap, t)
		role, seen := r.roles[t.Key]
		switch {
		case t.Index >= 0 && s != nil:
			if role = r.roleOf(s, keys); role == "" {
				continue
			}
			r.roles[t.Key] = role
		case s == nil && !seen:
			// A kernel transition of a socket no snapshot listed (it
			// lived between two): its key says whose it is.
			k := collect.Socket{Proto: t.Key.Proto, Local: t.Key.Local, Remote: t.Key.Remote}
			if role = r.roleOf(&k, keys); role == "" {
				continue
			}
			r.roles[t.Key] = role
		case !seen:
			continue // never the run's
		}
		r.trans = append(r.trans, Transition{*t, role})
		r.addTransition(t, role)
	}
	r.lost += ch.Lost
	r.checkPaths(snap.Taken)
	r.checkSegments()
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if !has(s.Local.Port()) && !has(s.Remote.Port()) {
			continue
		}
		role := r.roleOf(s, keys)
		if role == "" {
			continue
		}
		state := s.State.Canonical()
		// A socket whose appearance came before its endpoint knew its
		// address still has its disappearance attributed.
		if _, ok := r.roles[s.Key()]; !ok {
			r.roles[s.Key()] = role
		}
		for j := range r.status {
			st := &r.status[j]
			p := st.Promise
			if p.Call != "" || p.State != state || len(p.Path) > 0 || len(p.Segments) > 0 || p.NoFlags != 0 {
				continue
			}
			if p.Absent {
				if st.Note == "" {
					st.Seen = false
					st.Note = fmt.Sprintf("%s seen on %s %s > %s at %s", state, role, s.Local, s.Remote, snap.Taken.Format("15:04:05.000"))
				}
				continue
			}
			if !st.Seen && p.Role == role && (p.Match == nil || p.Match(s)) {
				st.Seen, st.At = true, snap.Taken
			}
		}
	}
	if !r.stepsEnd.IsZero() && r.stepErr == nil && snap.Taken.After(r.stepsEnd) {
		r.absentOK++
		for j := range r.status {
			st := &r.status[j]
			if (st.Absent || st.NoFlags != 0) && !st.Seen && !st.Unchecked && st.Note == "" && r.absentOK >= AbsentSnapshots {
				st.Seen, st.At = true, snap.Taken
			}
		}
	}
	r.taken = append(r.taken, snap.Taken)
	if len(r.taken) > 8 {
		r.taken = r.taken[1:]
	}
	close(r.observed)
	r.observed = make(chan struct{})
	var fresh []PromiseStatus
	for j := range r.status {
		if r.status[j].Seen && !r.reported[j] {
			r.reported[j] = true
			fresh = append(fresh, r.status[j])
		}
	}
	return fresh
}
