// Package demo is the teaching half of socktop: a catalogue of scenarios,
// each a few socket calls on package probe that put the kernel's TCP
// state machine in a state worth seeing, a lesson in plain words, and the
// states it promises; and a runner that checks those promises against
// snapshots from package collect. It knows nothing about terminals.
package demo

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
)

// Role is the side of a connection a promise is about.
type Role string

// The two sides of every demo.
const (
	Client Role = "client"
	Server Role = "server"
)

// Promise is something a scenario says the user will see.
//
// Most promises are states: a socket of Role in State, seen in at least
// one snapshot (and, when Match is set, one that Match accepts). A promise
// with Call set is about a socket call instead: kept when an endpoint of
// Role (or exactly Endpoint, when set) makes a call starting with Call
// whose Result starts with Result. A promise with Absent set is negative:
// it is kept when no socket of the run is seen in State at any time, and
// at least AbsentSnapshots snapshots taken after the steps finished
// confirmed it.
//
// A promise with Path set is about the exact states one connection of
// Role goes through, as the kernel reports them; with Segments set, about
// the segments one connection of the run sends; with NoFlags set, about
// segments that must not appear. These need kernel events and a segment
// capture (see Checks): a run without them leaves them unchecked, and
// the state promises stand for them.
type Promise struct {
	Role  Role
	State collect.State
	Why   string

	// Detail says in words what Match checks: "Recv-Q 2 = backlog+1".
	Detail string `json:",omitempty"`
	// Match narrows a state promise to sockets with the right queues or
	// timer; nil accepts any socket in State.
	Match func(*collect.Socket) bool `json:"-"`

	// Call, Result and Endpoint make a promise about a call's outcome.
	Call     string `json:",omitempty"`
	Result   string `json:",omitempty"`
	Endpoint string `json:",omitempty"`

	// Absent makes the promise negative.
	Absent bool `json:",omitempty"`

	// Path is a run of consecutive states one connection of Role goes
	// through, each step after the first reported by the kernel (a
	// TIME_WAIT may be seen in a snapshot instead: the kernel reports no
	// event for the mini-socket that takes over).
	Path []collect.State `json:",omitempty"`
	// Segments is what one connection of the run sends, in order (see
	// Seg; a zero Seg stands for any number of other segments).
	Segments []Seg `json:",omitempty"`
	// NoFlags makes a negative promise about segments: no segment of the
	// run (sent by Role, when set) carries any of these flags while the
	// run lasts, confirmed like an Absent promise.
	NoFlags segments.Flags `json:",omitempty"`

	// Blocked returns why this host cannot show the promise (a sysctl, an
	// old kernel), or "" when it can.
	Blocked func(Host) string `json:"-"`
}

// AbsentSnapshots is how many snapshots after the steps finished must
// confirm a negative promise: enough that a state the steps left behind
// (TIME_WAIT appears within a millisecond of close on loopback) would have
// been seen.
const AbsentSnapshots = 3

// String describes the promise in a few words: "client TIME_WAIT",
// "server bind() = EADDRINUSE", "no TIME_WAIT", "server ESTABLISHED ->
// CLOSE_WAIT -> LAST_ACK -> CLOSED", "segments client SYN, server
// SYN,ACK, ...", "no FIN".
func (p Promise) String() string {
	var s string
	switch {
	case len(p.Path) > 0:
		s = string(p.Role) + " " + pathString(p.Path)
	case len(p.Segments) > 0:
		s = "segments " + segsString(p.Segments)
	case p.NoFlags != 0:
		s = "no " + p.NoFlags.String()
		if p.Role != "" {
			s = fmt.Sprintf("no %s %s", p.Role, p.NoFlags)
		}
	case p.Call != "":
		who := string(p.Role)
		if p.Endpoint != "" {
			who = p.Endpoint
		}
		s = fmt.Sprintf("%s %s...) = %s", who, p.Call, p.Result)
	case p.Absent:
		s = "no " + p.State.String()
	default:
		s = fmt.Sprintf("%s %s", p.Role, p.State)
	}
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	return s
}

// PromiseStatus is a promise and whether it was kept.
type PromiseStatus struct {
	Promise
	// Seen is true once the promise was kept.
	Seen bool
	// At is when it was kept (the snapshot's time, or the call's).
	At time.Time
	// Note explains a promise that cannot be or was not kept here:
	// "tcp_syncookies=2: SYN_RECV cannot appear here".
	Note string `json:",omitempty"`
	// Unchecked is true when the run cannot check the promise: a path
	// promise without kernel events, a segment promise without a capture.
	// Note says why. It counts neither as kept nor as missed.
	Unchecked bool `json:",omitempty"`
	// blocked is true when the host cannot show the promise (Blocked gave
	// a reason): the run does not wait for it.
	blocked bool
}

// Scenario is one demo: the steps, the lesson, and the promises.
type Scenario struct {
	// Name is the kebab-case name used on the command line.
	Name string
	// Key is the key that starts it from the terminal view's list.
	Key string
	// Title is a one-line summary.
	Title string
	// Lesson says in plain words what happens on the wire, what to watch
	// for, how long it lasts and which sysctl decides. It comes from the
	// scenario's section of lessons.md; paragraphs are separated by a
	// blank line.
	Lesson string
	// Promises are the promises for the default configuration; a run's
	// own list (Run.Status) follows its Config.
	Promises []Promise
	// ReuseAddr is the default of the SO_REUSEADDR setting.
	ReuseAddr bool
	// UsesReuseAddr says the scenario changes with ReuseAddr, so the
	// terminal view's `r` key should toggle it and run again.
	UsesReuseAddr bool
	// Sysctls names the net.ipv4 settings that decide this picture.
	Sysctls []string
	// Ports is how many ports the run needs (the server's first).
	Ports int
	// Section is the section of the course material the scenario teaches
	// (see docs/lessons.md); the picker and `demo list` group by it.
	Section Section
	// NeedsRoot, when set, says why the scenario needs root (it creates a
	// network namespace, a veth pair, a qdisc): "creates a network
	// namespace and a veth pair". `demo list` shows it, and a run without
	// root returns ErrNeedsRoot with it instead of failing half-way.
	NeedsRoot string
	// NoSegments, when set, says why runs of the scenario capture no
	// segments: a bulk transfer sends more than a diagram can show, and
	// capturing it would slow what it measures.
	NoSegments string

	steps       func(e *env)
	promisesFor func(cfg Config) []Promise
	notes       func(h Host, cfg Config) []string
}

// PromisesFor returns the promises of a run with cfg.
func (sc *Scenario) PromisesFor(cfg Config) []Promise {
	if sc.promisesFor != nil {
		return sc.promisesFor(cfg)
	}
	return sc.Promises
}

// Notes says what the host's sysctls mean for a run with cfg: how long
// each state will last, or why one cannot appear.
func (sc *Scenario) Notes(h Host, cfg Config) []string {
	var out []string
	if sc.notes != nil {
		out = sc.notes(h, cfg)
	}
	for _, p := range sc.PromisesFor(cfg) {
		if p.Blocked != nil {
			if why := p.Blocked(h); why != "" {
				out = append(out, why)
			}
		}
	}
	return out
}

// Config is what a run can change.
type Config struct {
	// Port is the server's port; 0 picks a free one.
	Port uint16
	// ReuseAddr sets SO_REUSEADDR, for scenarios that use it.
	ReuseAddr bool
	// Fast shortens lifetimes with per-socket options (TCP_LINGER2,
	// TCP_USER_TIMEOUT, TCP_SYNCNT) and the pauses between steps, for tests.
	Fast bool
}

// DefaultConfig returns the configuration a scenario runs with when the
// user changes nothing.
func (sc *Scenario) DefaultConfig() Config { return Config{ReuseAddr: sc.ReuseAddr} }

// Sentinel errors; concrete errors wrap them with %w.
var (
	// ErrUnknownScenario means no scenario has the given name.
	ErrUnknownScenario = errors.New("unknown scenario")
	// ErrUsage means the command line was malformed.
	ErrUsage = errors.New("usage")
	// ErrStep means a step of the scenario failed unexpectedly.
	ErrStep = errors.New("demo step failed")
	// ErrPortBusy means the port asked for still has sockets on it.
	ErrPortBusy = errors.New("demo port busy")
	// ErrNeedsRoot means the scenario needs privileges this process lacks
	// (Scenario.NeedsRoot says which and why).
	ErrNeedsRoot = errors.New("demo needs root")

	// errNoCapture is the capture error of a scenario that asks for no
	// capture (Scenario.NoSegments).
	errNoCapture = errors.New("off for this scenario")
)

// Catalogue returns every scenario, in the order of their keys. The
// slice and the scenarios are shared: do not modify them.
func Catalogue() []*Scenario { return catalogue }

// Find returns the scenario called name (case-insensitive, by key too).
func Find(name string) (*Scenario, bool) {
	for _, sc := range catalogue {
		if strings.EqualFold(sc.Name, name) || sc.Key == name {
			return sc, true
		}
	}
	return nil, false
}

var catalogue = buildCatalogue()

func buildCatalogue() []*Scenario {
	list := []*Scenario{
		politeClose(), serverRestart(), serverCrash(), leakyServer(), halfClose(),
		listenOverflow(), halfOpen(), slowReader(), lateClose(), simultaneousClose(),
		abortiveClose(), udpScenario(), closedScenario(),
		udpTruncate(), udpRefused(), busyServer(),
		hostCrash(),
		bufferSizes(),
		preforkServer(),
		sharedClose(), forkServer(),
		closeWaitWrite(), acceptAbort(), nonBlockingConnect(),
	}
	lessons, err := parseLessons(lessonsMD)
	if err == nil {
		err = attachLessons(list, lessons)
	}
	if err != nil {
		// The file is compiled in: a mismatch is a bug of this build that
		// every test run shows, not something a user can fix.
		panic(err)
	}
	for _, sc := range list {
		if sc.Ports == 0 {
			sc.Ports = 1
		}
		sc.Promises = sc.PromisesFor(sc.DefaultConfig())
	}
	return list
}
