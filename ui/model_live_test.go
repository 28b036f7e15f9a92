package ui

// Tests of the live view's kernel data: the event stream's wiring, the
// header's exact/sampled word, kernel transitions in the log, the closed
// log and the detail view's path. The Changes are the real tracker's,
// with the kernel's part (transitions, closed records, lost counts)
// added by hand: the view consumes data here.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/collect/segments"
)

// scriptTracker is a real collect.Tracker whose Changes get the kernel's
// part queued by the test, and that records what the view handed it.
type scriptTracker struct {
	collect.Tracker
	extra  []collect.Changes // merged into the next Updates, one each
	paths  map[collect.Key][]collect.Step
	events []collect.StateEvent
	closed []collect.Closed
	lost   uint64
}

func (s *scriptTracker) AddEvents(evs []collect.StateEvent, lost uint64) {
	s.events = append(s.events, evs...)
	s.lost += lost
}

func (s *scriptTracker) AddClosed(cs []collect.Closed, lost uint64) {
	s.closed = append(s.closed, cs...)
	s.lost += lost
}

func (s *scriptTracker) Update(cur *collect.Snapshot) collect.Changes {
	return s.UpdateFrom(cur, nil, nil)
}

func (s *scriptTracker) UpdateFrom(cur *collect.Snapshot, origin []int32, of *collect.Snapshot) collect.Changes {
	ch := s.Tracker.UpdateFrom(cur, origin, of)
	if len(s.extra) > 0 {
		x := s.extra[0]
		s.extra = s.extra[1:]
		ch.Transitions = append(ch.Transitions, x.Transitions...)
		ch.Closed = append(ch.Closed, x.Closed...)
		ch.Lost += x.Lost
	}
	return ch
}

func (s *scriptTracker) Path(k collect.Key) []collect.Step { return s.paths[k] }

// scriptStream is an event stream with a fixed mode and notices that
// hands out what the test queued, and fails the test when it is drained
// from within Update.
type scriptStream struct {
	t        *testing.T
	mode     events.Mode
	notices  []string
	evs      []collect.StateEvent
	closed   []collect.Closed
	lost     uint64
	err      error
	drains   int
	updating *atomic.Bool
}

func (s *scriptStream) Mode() events.Mode { return s.mode }
func (s *scriptStream) Notices() []string { return s.notices }
func (s *scriptStream) Err() error        { return s.err }
func (s *scriptStream) Drain(evs []collect.StateEvent, closed []collect.Closed) ([]collect.StateEvent, []collect.Closed, uint64, uint64) {
	if s.updating != nil && s.updating.Load() {
		s.t.Errorf("the event stream was drained within Update")
	}
	s.drains++
	evs, closed = append(evs, s.evs...), append(closed, s.closed...)
	lost := s.lost
	s.evs, s.closed, s.lost = nil, nil, 0
	return evs, closed, lost, 0
}

// liveHarness is a harness whose model has a scripted tracker and, when
// st is not nil, the event stream st.
func liveHarness(t *testing.T, cfg Config, st *scriptStream) (*harness, *scriptTracker) {
	t.Helper()
	if st != nil {
		st.t = t
		cfg.Events = st
	}
	h := newHarness(t, cfg)
	if st != nil {
		st.updating = &h.updating
	}
	tr := &scriptTracker{paths: map[collect.Key][]collect.Step{}}
	h.m.tracker = tr
	return h, tr
}

// us is t0 plus n microseconds.
func us(n int) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }

func kernelTr(at time.Time, s collect.Socket, from, to collect.State) collect.Transition {
	return collect.Transition{At: at, Key: s.Key(), From: from, To: to, Source: collect.Kernel, Index: -1, Gone: -1}
}

// The header says where transitions come from and why they are
// sampled; the stream's notice is told once, on the notice line.
func TestHeaderExactOrSampled(t *testing.T) {
	perm := "exact transitions off, sampled from snapshots instead (bpf: loading: operation not permitted: kernel events unavailable; " +
		"tracefs: open /sys/kernel/tracing: permission denied: kernel events unavailable); run as root, or give socktop cap_bpf,cap_perfmon (setcap cap_bpf,cap_perfmon+ep socktop)"
	for _, c := range []struct {
		st   *scriptStream
		want string
	}{
		{&scriptStream{mode: events.ModeBPF}, "· exact (bpf) ·"},
		{&scriptStream{mode: events.ModeTracefs}, "· exact (tracefs) ·"},
		{&scriptStream{mode: events.ModeSampled, notices: []string{perm}}, "· sampled: no BPF privilege ·"},
		{&scriptStream{mode: events.ModeSampled, notices: []string{"exact transitions off, sampled from snapshots instead (bpf: bpf reader not built: kernel events unavailable)"}}, "· sampled: no event reader built ·"},
		{&scriptStream{mode: events.ModeSampled}, "· sampled: as asked (--events sampled) ·"},
		{&scriptStream{mode: events.ModeBPF, err: errBoom}, "· sampled: the bpf reader stopped ·"},
		{nil, "· sampled: no event stream ·"},
	} {
		h, _ := liveHarness(t, Config{NoColor: true}, c.st)
		h.send(windowSize(200, 30))
		for i := range 3 {
			h.collect(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Source: "netlink"})
		}
		first := strings.SplitN(h.screen(), "\n", 2)[0]
		if !strings.Contains(first, c.want) {
			t.Errorf("header %q, want %q", first, c.want)
		}
		if c.st != nil && len(c.st.notices) > 0 && strings.Count(h.screen(), "exact transitions off") != 1 {
			t.Errorf("the stream's notice is not told exactly once:\n%s", h.screen())
		}
	}
}

var errBoom = errors.New("ring buffer: read failed")

// Lost events are counted across refreshes and shown; none, nothing.
func TestHeaderLostEvents(t *testing.T) {
	h, tr := liveHarness(t, Config{NoColor: true}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(120, 30))
	h.collect(collect.Snapshot{Taken: t0})
	if strings.Contains(h.screen(), "lost") {
		t.Fatalf("nothing lost, yet:\n%s", h.screen())
	}
	tr.extra = []collect.Changes{{Lost: 7}, {Lost: 5}}
	h.collect(collect.Snapshot{Taken: t0.Add(time.Second)})
	h.collect(collect.Snapshot{Taken: t0.Add(2 * time.Second)})
	if first := strings.SplitN(h.screen(), "\n", 2)[0]; !strings.Contains(first, "exact (bpf) 12 lost") {
		t.Fatalf("header %q, want 12 lost", first)
	}
}

// The stream is drained in the collection's Cmd, never in Update, and
// what it gave reaches the tracker with its lost count.
func TestStreamDrainedIntoTracker(t *testing.T) {
	c := tcpSock(collect.StateSynSent, 40000, 8080)
	st := &scriptStream{mode: events.ModeBPF, lost: 3,
		evs:    []collect.StateEvent{{Time: us(5), Proto: collect.TCP, Family: 4, Local: c.Local, Remote: c.Remote, From: collect.StateClosed, To: collect.StateSynSent}},
		closed: []collect.Closed{{Proto: collect.TCP, Family: 4, State: collect.StateClosed, Local: c.Local, Remote: c.Remote, Cookie: 9}}}
	h, tr := liveHarness(t, Config{}, st)
	h.src.snaps = []collect.Snapshot{{Taken: t0}}
	cmd := h.send(tickMsg{gen: h.m.gen})
	for _, msg := range run(cmd) {
		if _, ok := msg.(snapMsg); ok {
			h.send(msg)
		}
	}
	if st.drains != 1 {
		t.Fatalf("%d drains, want 1", st.drains)
	}
	if len(tr.events) != 1 || tr.events[0].To != collect.StateSynSent || len(tr.closed) != 1 || tr.closed[0].Cookie != 9 || tr.lost != 3 {
		t.Fatalf("the tracker got events %v, closed %v, lost %d", tr.events, tr.closed, tr.lost)
	}
}

// collect runs one collection through the Cmd, as the tick does, with
// snap as the source's answer.
func (h *harness) collect(snap collect.Snapshot) {
	h.t.Helper()
	h.src.mu.Lock()
	h.src.snaps, h.src.calls = []collect.Snapshot{snap}, 0
	h.src.mu.Unlock()
	h.m.inFlight = false
	for _, msg := range run(h.m.collectCmd()) {
		h.send(msg)
	}
}

// Kernel transitions carry the kernel's microseconds and the k marker,
// and are drawn as steps; a sampled change that is no step is drawn as
// a jump between refreshes; a connection that opened and closed between
// two refreshes is logged from its key, and the filter judges it so.
func TestLogKernelAndSampled(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	brief := tcpSock(collect.StateClosed, 40100, 3000) // never in a snapshot
	other := tcpSock(collect.StateClosed, 40200, 9999)
	h, tr := liveHarness(t, Config{NoColor: true}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(120, 40))
	h.collect(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	tr.extra = []collect.Changes{{Transitions: []collect.Transition{
		kernelTr(us(1_123_456), brief, collect.StateClosed, collect.StateSynSent),
		kernelTr(us(1_123_500), brief, collect.StateSynSent, collect.StateEstablished),
		kernelTr(us(1_200_001), brief, collect.StateEstablished, collect.StateFinWait1),
		kernelTr(us(1_300_000), other, collect.StateClosed, collect.StateSynSent),
	}}}
	a2 := a
	a2.State = collect.StateTimeWait
	h.collect(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{a2, b}})
	scr := h.screen()
	for _, want := range []string{
		"k 12:00:01.123456 tcp 127.0.0.1:40100 127.0.0.1:3000 CLOSED -> SYN_SENT",
		"k 12:00:01.123500 tcp 127.0.0.1:40100 127.0.0.1:3000 SYN_SENT -> ESTABLISHED",
		"k 12:00:01.200001 tcp 127.0.0.1:40100 127.0.0.1:3000 ESTABLISHED -> FIN_WAIT_1",
		"s 12:00:02.000 tcp 127.0.0.1:3000 127.0.0.1:40000 ESTABLISHED ⇢ TIME_WAIT (between refreshes)",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("log lacks %q:\n%s", want, scr)
		}
	}
	if strings.Contains(scr, "ESTABLISHED -> TIME_WAIT") {
		t.Errorf("a sampled jump drawn as a step:\n%s", scr)
	}
	h.setFilterText("port 3000")
	scr = h.screen()
	if !strings.Contains(scr, "127.0.0.1:40100 127.0.0.1:3000 SYN_SENT -> ESTABLISHED") || strings.Contains(scr, ":9999") {
		t.Errorf("under port 3000 the log lost the brief connection or kept another:\n%s", scr)
	}
}

// Kernel transitions received while paused are logged on resume, those
// of connections no snapshot listed too.
func TestPausedKeepsKernelTransitions(t *testing.T) {
	brief := tcpSock(collect.StateClosed, 40100, 3000)
	h, tr := liveHarness(t, Config{NoColor: true, Filter: "port 3000"}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(120, 40))
	h.collect(collect.Snapshot{Taken: t0})
	h.key("space")
	tr.extra = []collect.Changes{{Transitions: []collect.Transition{kernelTr(us(1_000_007), brief, collect.StateClosed, collect.StateSynSent)},
		Closed: []collect.ClosedConn{{Closed: collect.Closed{Proto: collect.TCP, Family: 4, Local: brief.Local, Remote: brief.Remote, Received: us(1_500_000)}}}}}
	h.collect(collect.Snapshot{Taken: t0.Add(time.Second)})
	if len(h.m.log.entries) != 0 || len(h.m.closed.entries) != 0 {
		t.Fatalf("paused, yet the logs changed")
	}
	h.key("space")
	if !strings.Contains(h.screen(), "k 12:00:01.000007 tcp 127.0.0.1:40100 127.0.0.1:3000 CLOSED -> SYN_SENT") || len(h.m.closed.entries) != 1 {
		t.Fatalf("resume lost what the kernel reported:\n%s", h.screen())
	}
}

func windowSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

// closedConn is a destroy record of s with the given extras.
func closedConn(s collect.Socket, received time.Time) collect.ClosedConn {
	return collect.ClosedConn{Closed: collect.Closed{Proto: s.Proto, Family: s.Family, State: collect.StateClosed,
		Local: s.Local, Remote: s.Remote, Received: received}}
}

// closedFixture is a known connection (owners, bytes, lifetime, path) and
// one of which nothing but the kernel's record is known.
func closedFixture() []collect.ClosedConn {
	known := closedConn(tcpSock(collect.StateEstablished, 51000, 8080), us(2_000_000))
	known.Opened = us(1_000_000 - 12_340)
	known.OwnersKnown = true
	known.Owners = []collect.Owner{{PID: 4242, Name: "curl"}}
	known.Info = &collect.TCPInfo{BytesAcked: 5 * 1024, BytesReceived: 300 * 1024}
	known.Path = []collect.Step{{State: collect.StateEstablished, At: us(1_000_000), Source: collect.Kernel},
		{State: collect.StateFinWait1, At: us(1_900_000), Source: collect.Kernel},
		{State: collect.StateFinWait2, At: us(1_900_050), Source: collect.Kernel},
		{State: collect.StateTimeWait, At: us(1_900_100), Source: collect.Kernel},
		{State: collect.StateClosed, At: us(2_000_000), Source: collect.Kernel}}
	unknown := closedConn(tcpSock(collect.StateEstablished, 52000, 9090), us(2_500_000))
	return []collect.ClosedConn{known, unknown}
}

// c opens the closed log: newest first, tcplife's columns, ? for what is
// not known (never 0), filtered like the log, bounded; esc goes back.
func TestClosedLog(t *testing.T) {
	h, tr := liveHarness(t, Config{NoColor: true}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(100, 30))
	h.collect(collect.Snapshot{Taken: t0})
	tr.extra = []collect.Changes{{Closed: closedFixture()}}
	h.collect(collect.Snapshot{Taken: t0.Add(3 * time.Second)})
	h.key("c")
	if h.m.mode != modeClosed {
		t.Fatalf("c did not open the closed log")
	}
	lines := strings.Split(h.screen(), "\n")
	var rows []string
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "PID COMM") {
			if f := strings.Fields(l); !slices.Equal(f, []string{"PID", "COMM", "LADDR:LPORT", "RADDR:RPORT", "TX_KB", "RX_KB", "MS", "STATE"}) {
				t.Fatalf("column heads %q", f)
			}
			rows = lines[i+1 : i+3]
			break
		}
	}
	if rows == nil {
		t.Fatalf("no column heads:\n%s", h.screen())
	}
	// Newest first: the unknown one closed later.
	if f := strings.Fields(rows[0]); !slices.Equal(f, []string{"?", "?", "127.0.0.1:52000", "127.0.0.1:9090", "?", "?", "?", "?"}) {
		t.Errorf("the unknown record reads %q", f)
	}
	if f := strings.Fields(rows[1]); !slices.Equal(f, []string{"4242", "curl", "127.0.0.1:51000", "127.0.0.1:8080", "5", "300", "1012.34", "TIME_WAIT"}) {
		t.Errorf("the known record reads %q", f)
	}
	h.key("esc")
	h.setFilterText("dport = :8080")
	h.key("c")
	if scr := h.screen(); !strings.Contains(scr, ":51000") || strings.Contains(scr, ":52000") || !strings.Contains(scr, "newest first, 1;") {
		t.Errorf("the filter does not select the closed log:\n%s", scr)
	}
	h.key("esc")
	if h.m.mode != modeTable {
		t.Fatalf("esc did not leave the closed log")
	}
	many := make([]collect.ClosedConn, maxClosed+10)
	for i := range many {
		many[i] = closedConn(tcpSock(collect.StateEstablished, uint16(20000+i), 8080), us(3_000_000+i))
	}
	tr.extra = []collect.Changes{{Closed: many}}
	h.collect(collect.Snapshot{Taken: t0.Add(4 * time.Second)})
	if n := len(h.m.closed.entries); n != maxClosed || h.m.closed.entries[n-1].c.Local.Port() != uint16(20000+maxClosed+9) {
		t.Fatalf("%d entries kept, want the newest %d", n, maxClosed)
	}
}

// The detail view shows the tracker's path: each step's time (µs for a
// kernel step), where it came from, and the time spent in the state; the
// current state's time runs to the newest snapshot.
func TestDetailPath(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 40000, 8080)
	h, tr := liveHarness(t, Config{NoColor: true}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(100, 50))
	tr.paths[a.Key()] = []collect.Step{
		{State: collect.StateSynSent, At: us(100), Source: collect.Kernel},
		{State: collect.StateEstablished, At: us(141), Source: collect.Kernel},
		{State: collect.StateFinWait1, At: t0.Add(2 * time.Second), Source: collect.Sampled},
	}
	h.collect(collect.Snapshot{Taken: t0.Add(3500 * time.Millisecond), Sockets: []collect.Socket{a}})
	h.key("enter")
	scr := h.screen()
	for _, want := range []string{
		"12:00:00.000100  kernel    SYN_SENT     41µs",
		"12:00:00.000141  kernel    ESTABLISHED  ≤ 2.000s",
		"12:00:02.000     sampled   FIN_WAIT_1   ≥ 1.500s so far",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("detail lacks %q:\n%s", want, scr)
		}
	}
}

// fakeCapture hands out the segments queued in it and records Close.
type fakeCapture struct {
	segs   []segments.Segment
	closed atomic.Bool
}

func (c *fakeCapture) Drain(dst []segments.Segment) []segments.Segment {
	dst = append(dst, c.segs...)
	c.segs = nil
	return dst
}

func (c *fakeCapture) Close() error {
	c.closed.Store(true)
	return nil
}

// withCapture makes startCapture answer with c and err, recording the
// options, for the test's length.
func withCapture(t *testing.T, c segmentCapture, err error) *[]segments.Options {
	t.Helper()
	var got []segments.Options
	old := startCapture
	startCapture = func(o segments.Options) (segmentCapture, error) {
		got = append(got, o)
		return c, err
	}
	t.Cleanup(func() { startCapture = old })
	return &got
}

// w in the detail view starts a capture on the connection's ports, in a
// Cmd; the segments the collections drain reach the view; leaving the
// view closes the capture.
func TestDetailSegmentsCapture(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 40000, 8080)
	fc := &fakeCapture{}
	opts := withCapture(t, fc, nil)
	h, _ := liveHarness(t, Config{NoColor: true}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(100, 50))
	h.collect(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a}})
	h.key("enter")
	if !strings.Contains(h.screen(), "w captures") {
		t.Fatalf("the detail view does not offer the capture:\n%s", h.screen())
	}
	cmd := h.key("w")
	if len(*opts) != 0 {
		t.Fatal("the capture started within Update")
	}
	for _, msg := range run(cmd) {
		h.send(msg)
	}
	if len(*opts) != 1 || !slices.Equal((*opts)[0].Ports, []uint16{40000, 8080}) {
		t.Fatalf("capture options %+v", *opts)
	}
	if !strings.Contains(h.screen(), "capturing; w stops") {
		t.Fatalf("no capture shown:\n%s", h.screen())
	}
	fc.segs = []segments.Segment{{Time: us(10), Src: a.Local, Dst: a.Remote, Flags: segments.SYN, Seq: 1000}}
	h.collect(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a}})
	if len(h.m.seg.segs) != 1 || h.m.seg.segs[0].Seq != 1000 {
		t.Fatalf("segments kept: %+v", h.m.seg.segs)
	}
	run(h.key("esc"))
	if !fc.closed.Load() || h.m.seg.capture != nil {
		t.Fatal("leaving the detail view did not close the capture")
	}
}

// Without the privilege to capture, the detail view says why, and the
// notice line tells it once however often w is pressed.
func TestDetailSegmentsUnavailable(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 40000, 8080)
	withCapture(t, nil, fmt.Errorf("AF_PACKET socket: operation not permitted: %w", segments.ErrUnavailable))
	h, _ := liveHarness(t, Config{NoColor: true}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(300, 50))
	h.collect(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a}})
	h.key("enter")
	for range 3 {
		for _, msg := range run(h.key("w")) {
			h.send(msg)
		}
		if !strings.Contains(h.screen(), "AF_PACKET socket: operation not permitted") {
			t.Fatalf("the detail view does not say why:\n%s", h.screen())
		}
		h.collect(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a}})
	}
	if n := strings.Count(h.screen(), "segments off:"); n != 1 || !strings.Contains(h.screen(), "cap_net_raw") {
		t.Fatalf("the notice is told %d times, want once with the remedy:\n%s", n, h.screen())
	}
}

// goldenLive is the golden table fed through a scripted tracker: a BPF
// stream, a polite close of a loopback connection seen by the kernel on
// both sides between the two refreshes, the fixture's sampled changes,
// 12 lost events and two closed records.
func goldenLive(t *testing.T, noColor bool) *harness {
	t.Helper()
	h, tr := liveHarness(t, Config{NoColor: noColor}, &scriptStream{mode: events.ModeBPF})
	h.send(windowSize(80, 24))
	h.feed(fixture())
	cli := tcpSock(collect.StateEstablished, 51000, 8080)
	srv := tcpSock(collect.StateEstablished, 8080, 51000)
	k := func(n int, s collect.Socket, from, to collect.State) collect.Transition {
		return kernelTr(us(n), s, from, to)
	}
	tr.extra = []collect.Changes{{Lost: 12, Closed: closedFixture(), Transitions: []collect.Transition{
		k(400_000, cli, collect.StateEstablished, collect.StateFinWait1),
		k(400_031, srv, collect.StateEstablished, collect.StateCloseWait),
		k(400_040, cli, collect.StateFinWait1, collect.StateFinWait2),
		k(400_512, srv, collect.StateCloseWait, collect.StateLastAck),
		k(400_530, cli, collect.StateFinWait2, collect.StateTimeWait),
		k(400_547, srv, collect.StateLastAck, collect.StateClosed),
	}}}
	h.feed(fixtureNext())
	return h
}

func TestGoldenLog(t *testing.T) {
	checkGoldens(t, "log_80x24", 80, 24, goldenLive)
}

func TestGoldenClosedLog(t *testing.T) {
	checkGoldens(t, "closed_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := goldenLive(t, noColor)
		h.key("c")
		return h
	})
}
