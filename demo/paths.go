package demo

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/collect/segments"
	"socktop/probe"
)

// Seg is one segment a promise expects: who sent it and its control
// bits. The zero Seg stands for any number of other segments.
type Seg struct {
	From Role
	// Flags are compared on SYN, FIN, RST and ACK, exactly: a FIN,ACK is
	// not a FIN. PSH and the rest are ignored.
	Flags segments.Flags
	// Data says the segment carries payload; a Seg without it matches
	// only segments without.
	Data bool `json:",omitempty"`
	// ZeroWindow says the segment advertises a zero window.
	ZeroWindow bool `json:",omitempty"`
}

// controlFlags are the bits a Seg compares.
const controlFlags = segments.SYN | segments.FIN | segments.RST | segments.ACK

// anySegs in a promise's Segments stands for any number of segments.
var anySegs = Seg{}

// String returns "client SYN", "server ACK win 0", "client FIN,ACK+data",
// or "..." for any segments.
func (s Seg) String() string {
	if s == anySegs {
		return "..."
	}
	out := string(s.From) + " " + s.Flags.String()
	if s.Data {
		out += "+data"
	}
	if s.ZeroWindow {
		out += " win 0"
	}
	return out
}

func (s Seg) matches(from Role, seg *segments.Segment) bool {
	return from == s.From && seg.Flags&controlFlags == s.Flags && (seg.Len > 0) == s.Data && (!s.ZeroWindow || seg.Win == 0)
}

func pathString(p []collect.State) string {
	names := make([]string, len(p))
	for i, s := range p {
		names[i] = s.Canonical().String()
	}
	return strings.Join(names, " -> ")
}

func segsString(ss []Seg) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

// Checks say what a run checks besides snapshots.
type Checks struct {
	// Events is where the transitions given to Observe come from: with
	// ModeBPF or ModeTracefs (a tracker fed by an events.Stream) the path
	// promises are checked exactly; with ModeSampled or "" they are left
	// unchecked and the state promises stand for them.
	Events events.Mode
	// Segments captures the run's TCP segments on loopback from before its
	// first call until Stop, for Segments and the segment promises. When
	// the capture cannot start (no CAP_NET_RAW) CaptureErr says why and
	// the segment promises are left unchecked.
	Segments bool
}

// StartWith is Start with kernel events and a segment capture as ch says.
func StartWith(ctx context.Context, sc *Scenario, cfg Config, ch Checks) (*Run, error) {
	return start(ctx, sc, cfg, ReadHost(), ch)
}

// Checked says how the run checks its paths: "exact (bpf)", "exact
// (tracefs)" or "sampled".
func (r *Run) Checked() string {
	if r.checks.Events.Exact() {
		return fmt.Sprintf("exact (%s)", r.checks.Events)
	}
	return "sampled"
}

// Lost returns how many kernel events and destroy records the tracker
// reported lost while the run was observed (on the whole host, not only
// the run's sockets): when it is not zero a path may miss steps.
func (r *Run) Lost() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// CaptureErr returns why the run captures no segments, or nil when it
// does (or was not asked to).
func (r *Run) CaptureErr() error { return r.capErr }

// startChecks opens the segment capture, if asked, and marks the
// promises the run cannot check. It runs before the steps, with the
// ports chosen.
func (r *Run) startChecks() {
	if r.checks.Segments && r.sc.NoSegments != "" {
		r.capErr = fmt.Errorf("%w: %s", errNoCapture, r.sc.NoSegments)
	} else if r.checks.Segments {
		c, err := segments.Start(segments.Options{Ports: r.ports})
		if err != nil {
			r.capErr = err
		} else {
			r.capture = c
		}
	}
	for i := range r.status {
		st := &r.status[i]
		switch {
		case len(st.Path) > 0 && !r.checks.Events.Exact():
			st.Unchecked = true
			st.Note = "not checked: kernel events are off, the sampled state promises stand for it"
		case (len(st.Segments) > 0 || st.NoFlags != 0) && r.capture == nil:
			st.Unchecked = true
			st.Note = "not checked: no segment capture"
			if r.capErr != nil {
				st.Note += " (" + r.capErr.Error() + ")"
			}
		}
	}
}

// stopCapture keeps the last segments and closes the capture.
func (r *Run) stopCapture() {
	if r.capture == nil {
		return
	}
	r.mu.Lock()
	r.drainSegments()
	r.mu.Unlock()
	r.capture.Close()
}

// conn is one connection of the run, as its transitions tell it.
type conn struct {
	key   collect.Key
	role  Role
	trans []collect.Transition
	steps []collect.Step
	dirty bool
}

// addTransition files t under its connection. The caller holds r.mu.
func (r *Run) addTransition(t *collect.Transition, role Role) {
	// A connect's CLOSED -> SYN_SENT comes before its port is chosen: it
	// is nobody's connection by its key (a tracker with cookies joins it
	// to the real one).
	if t.Key.Local.Port() == 0 {
		return
	}
	c := r.conns[t.Key]
	if c == nil {
		c = &conn{key: t.Key, role: role}
		r.conns[t.Key] = c
		r.connOrder = append(r.connOrder, c)
	}
	c.trans = append(c.trans, *t)
	c.dirty = true
	r.pathsDirty = true
}

// path returns c's steps, oldest first.
func (c *conn) path() []collect.Step {
	if !c.dirty {
		return c.steps
	}
	c.dirty = false
	c.steps = stepsOf(c.trans)
	return c.steps
}

// stepsOf turns one connection's transitions into its path. Kernel
// transitions are exact: once there are any, the sampled ones are
// ignored, except a TIME_WAIT, which only snapshots show; it ends the
// path, however early the snapshot that saw it began (a dump under way
// while the connection closes sees the TIME_WAIT before the kernel's
// last events). A kernel transition's From is a step of its own when the
// path does not already end in it (its start is then unknown: At is
// zero). Repeated states are one step.
func stepsOf(trans []collect.Transition) []collect.Step {
	ts := slices.Clone(trans)
	slices.SortStableFunc(ts, func(a, b collect.Transition) int { return a.At.Compare(b.At) })
	kernel := slices.ContainsFunc(ts, func(t collect.Transition) bool { return t.Source == collect.Kernel })
	var steps []collect.Step
	last := func() collect.State {
		if len(steps) == 0 {
			return collect.StateUnknown
		}
		return steps[len(steps)-1].State
	}
	var timeWait *collect.Transition
	for i := range ts {
		t := &ts[i]
		if kernel && t.Source != collect.Kernel {
			if t.To == collect.StateTimeWait && timeWait == nil {
				timeWait = t
			}
			continue
		}
		if t.Source == collect.Kernel && t.From != collect.StateUnknown && last() != t.From {
			steps = append(steps, collect.Step{State: t.From, Source: collect.Kernel})
		}
		if t.To == collect.StateUnknown || t.To == last() {
			continue
		}
		steps = append(steps, collect.Step{State: t.To, At: t.At, Source: t.Source})
	}
	if timeWait != nil && last() != collect.StateTimeWait {
		at := timeWait.At
		if n := len(steps); n > 0 && steps[n-1].At.After(at) {
			at = steps[n-1].At
		}
		steps = append(steps, collect.Step{State: collect.StateTimeWait, At: at, Source: timeWait.Source})
	}
	return steps
}

// pathHas reports whether steps holds want as consecutive states, every
// step after the first learnt from the kernel (a TIME_WAIT from a
// snapshot too), and returns the last matched step.
func pathHas(steps []collect.Step, want []collect.State) (collect.Step, bool) {
	if len(want) == 0 {
		return collect.Step{}, false
	}
outer:
	for i := 0; i+len(want) <= len(steps); i++ {
		for j, s := range want {
			st := steps[i+j]
			if st.State != s.Canonical() {
				continue outer
			}
			if j > 0 && st.Source != collect.Kernel && st.State != collect.StateTimeWait {
				continue outer
			}
		}
		return steps[i+len(want)-1], true
	}
	return collect.Step{}, false
}

// checkPaths keeps the path promises some connection now shows. The
// caller holds r.mu.
func (r *Run) checkPaths(now time.Time) {
	if !r.pathsDirty {
		return
	}
	r.pathsDirty = false
	for i := range r.status {
		st := &r.status[i]
		if st.Seen || st.Unchecked || len(st.Path) == 0 {
			continue
		}
		for _, c := range r.connOrder {
			if c.role != st.Role {
				continue
			}
			if step, ok := pathHas(c.path(), st.Path); ok {
				st.Seen, st.At = true, step.At
				if st.At.IsZero() {
					st.At = now
				}
				break
			}
		}
	}
}

// mainConns returns the run's first connection as seen from each side:
// the first client connection to the server port and its server end;
// a side without one gets its first socket with a path.
func (r *Run) mainConns() (client, server *conn) {
	for _, c := range r.connOrder {
		if c.role == Client && r.serverPort[c.key.Remote.Port()] {
			client = c
			break
		}
	}
	if client != nil {
		server = r.conns[collect.Key{Proto: client.key.Proto, Local: client.key.Remote, Remote: client.key.Local}]
	}
	for _, c := range r.connOrder {
		if client == nil && c.role == Client {
			client = c
		}
		if server == nil && c.role == Server {
			server = c
		}
	}
	return client, server
}

// Path returns the states the run's endpoint of role went through, oldest
// first: the run's first connection (the first client's, and the server
// end that accepted it), from the kernel's transitions when the run has
// them and from snapshots otherwise. A step whose start is unknown (the
// state a connection was in when its first kernel event came) has a zero
// At. Nil means the side has no socket with a known state yet.
func (r *Run) Path(role Role) []collect.Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	cl, sv := r.mainConns()
	c := cl
	if role == Server {
		c = sv
	}
	if c == nil {
		return nil
	}
	return slices.Clone(c.path())
}

// pathEnds returns the addresses of the two ends of the run's first
// connection, for the sequence diagram.
func (r *Run) pathEnds() (client, server netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cl, _ := r.mainConns()
	if cl == nil {
		return
	}
	return cl.key.Local, cl.key.Remote
}

// Segments returns the TCP segments of the run's connections captured so
// far, in the order they were seen; nil without a capture.
func (r *Run) Segments() []segments.Segment {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drainSegments()
	return slices.Clone(r.segs)
}

// segRole says which side sent seg: the server port's end is the
// server, the other end of a connection to it a client; "" for a
// segment of no connection of the run.
func (r *Run) segRole(seg *segments.Segment) Role {
	if seg.Src.Addr() != probe.Loopback || seg.Dst.Addr() != probe.Loopback {
		return ""
	}
	switch {
	case r.serverPort[seg.Src.Port()]:
		return Server
	case r.serverPort[seg.Dst.Port()]:
		return Client
	}
	return ""
}

// drainSegments moves what the capture read into r.segs, keeping the
// run's own. The caller holds r.mu.
func (r *Run) drainSegments() {
	if r.capture == nil {
		return
	}
	r.segBuf = r.capture.Drain(r.segBuf[:0])
	for i := range r.segBuf {
		if r.segRole(&r.segBuf[i]) != "" {
			r.segs = append(r.segs, r.segBuf[i])
			r.segsDirty = true
		}
	}
}

// connSegs groups segs by connection, keyed by its client end, in the
// order of each connection's first segment.
func (r *Run) connSegs(segs []segments.Segment) [][]int {
	index := map[[2]netip.AddrPort]int{}
	var out [][]int
	for i := range segs {
		s := &segs[i]
		k := [2]netip.AddrPort{s.Src, s.Dst}
		if r.segRole(s) == Server {
			k = [2]netip.AddrPort{s.Dst, s.Src}
		}
		n, ok := index[k]
		if !ok {
			n = len(out)
			index[k] = n
			out = append(out, nil)
		}
		out[n] = append(out[n], i)
	}
	return out
}

// segsHave reports whether the segments at idx (one connection's) hold
// want, and returns the index of the last one matched. Each run of Segs
// between two anySegs must match consecutive segments; a first run not
// preceded by anySegs must match from the connection's first segment.
func (r *Run) segsHave(segs []segments.Segment, idx []int, want []Seg) (int, bool) {
	pos, last := 0, -1
	anchored := true
	for g := 0; g < len(want); {
		if want[g] == anySegs {
			anchored = false
			g++
			continue
		}
		end := g
		for end < len(want) && want[end] != anySegs {
			end++
		}
		group := want[g:end]
		found := -1
		for start := pos; start+len(group) <= len(idx); start++ {
			ok := true
			for j, w := range group {
				s := &segs[idx[start+j]]
				if !w.matches(r.segRole(s), s) {
					ok = false
					break
				}
			}
			if ok {
				found = start
				break
			}
			if anchored {
				break
			}
		}
		if found < 0 {
			return -1, false
		}
		pos = found + len(group)
		last = idx[pos-1]
		anchored = true
		g = end
	}
	return last, last >= 0
}

// checkSegments keeps the segment promises the capture now shows, and
// breaks the negative ones. The caller holds r.mu.
func (r *Run) checkSegments() {
	r.drainSegments()
	if !r.segsDirty {
		return
	}
	r.segsDirty = false
	groups := r.connSegs(r.segs)
	for i := range r.status {
		st := &r.status[i]
		if st.Unchecked {
			continue
		}
		switch {
		case len(st.Segments) > 0 && !st.Seen:
			for _, g := range groups {
				if last, ok := r.segsHave(r.segs, g, st.Segments); ok {
					st.Seen, st.At = true, r.segs[last].Time
					break
				}
			}
		case st.NoFlags != 0 && st.Note == "":
			for j := range r.segs {
				s := &r.segs[j]
				from := r.segRole(s)
				if s.Flags&st.NoFlags != 0 && (st.Role == "" || st.Role == from) {
					st.Seen = false
					st.Note = fmt.Sprintf("%s %s from %s at %s", from, s.Flags, s.Src, s.Time.Format("15:04:05.000"))
					break
				}
			}
		}
	}
}

// sides names a connection's two ends and the path each went through,
// for segments.Diagram.
func (r *Run) sides(client, server netip.AddrPort) segments.Sides {
	r.mu.Lock()
	defer r.mu.Unlock()
	sd := segments.Sides{Client: client, Server: server}
	if c := r.conns[collect.Key{Proto: collect.TCP, Local: client, Remote: server}]; c != nil {
		sd.ClientPath = slices.Clone(c.path())
	}
	if c := r.conns[collect.Key{Proto: collect.TCP, Local: server, Remote: client}]; c != nil {
		sd.ServerPath = slices.Clone(c.path())
	}
	return sd
}
