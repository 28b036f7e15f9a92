package ui

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// A view whose filter the kernel evaluates patches too: the events of the
// sockets on the filter's port are asked for, those elsewhere change
// nothing shown, and each refresh's table is the one a filtered dump
// reads; a UDP bind, which no event announces, makes it walk. Before,
// every refresh of a filtered view walked on a churning host, and its
// walk is the kernel's pass over the whole table.
func TestGatePatchesAFilteredView(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	ln, c, s := gatePair(t, "tcp4", "127.0.0.1:0")
	other, _, _ := gatePair(t, "tcp6", "[::1]:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	h, raw := gateHarnessRaw(t, "sport = :"+port+" or dport = :"+port)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s): the gate never opens", h.m.demos.mode)
	}
	if kf, _ := h.m.kernelWant(); kf == nil {
		t.Fatal("the filter gives the kernel no program")
	}
	h.tick()
	h.settle()
	if !h.m.snap.Filtered || len(h.m.snap.Sockets) != 3 {
		t.Fatalf("the filtered table has %d rows (filtered %v), want the listener and a pair", len(h.m.snap.Sockets), h.m.snap.Filtered)
	}
	if shownByInode(t, h.m, c.(*net.TCPConn)) == nil || shownByInode(t, h.m, s.(*net.TCPConn)) == nil {
		t.Fatal("the pair on the filter's port is not shown")
	}

	// A connection elsewhere: its events are of this namespace, so the
	// refresh patches, and nothing of it is shown.
	o, err := net.Dial("tcp6", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// Its events are dropped in the drain, before the tracker: the
	// kernel's program rejects the socket by its ports. A connect's
	// first event, before its port is chosen, cannot be judged and is
	// kept, with the socket's later ones.
	var patched *snapMsg
	for _, msg := range run(h.send(tickMsg{gen: h.m.gen})) {
		if sm, ok := msg.(snapMsg); ok {
			patched = &sm
		}
	}
	if patched == nil || !patched.patched {
		t.Fatalf("a connection off the filter made no patch: %+v", patched)
	}
	p, _ := strconv.Atoi(port)
	opened := map[uint64]bool{}
	for _, e := range patched.ev.events {
		switch {
		case e.Local.Port() == 0:
			opened[e.Cookie] = true
		case int(e.Local.Port()) != p && int(e.Remote.Port()) != p && !opened[e.Cookie]:
			t.Errorf("the drain kept %v %v -> %v of a socket off the filter", e.Local, e.Remote, e.To)
		}
	}
	// And before that, in the kernel, when the stream reads BPF: the
	// walk put the filter's port bound in force.
	if raw.Mode() == events.ModeBPF {
		want := "local " + port + " remote " + port
		if sc := raw.lastScope(); sc.TCP == nil || sc.TCP.String() != want || sc.NetNS == 0 {
			t.Errorf("the scope in force is %+v, want this namespace and %q", sc, want)
		}
		// Of the connection's events only its connect, before its port
		// was chosen, and the one after it, which names the port.
		oc := kerneltest.Cookie(t, o.(*net.TCPConn))
		portless, ported := false, 0
		for _, e := range raw.drained() {
			switch {
			case e.Cookie != oc:
			case e.Local.Port() == 0:
				portless = true
			case !portless || ported > 0:
				t.Errorf("the kernel handed over %v %v -> %v of a socket off the filter's ports", e.Local, e.Remote, e.To)
			default:
				ported++
			}
		}
	}
	h.send(*patched)
	if shownByInode(t, h.m, o.(*net.TCPConn)) != nil {
		t.Fatal("a connection off the filter is shown")
	}
	sameAsDump(t, h)

	// A connection to the port: patched in; its close, and the other
	// end's: patched, TIME_WAIT kept.
	patchedConnectClose(t, h, ln)
	tw := 0
	for i := range h.m.snap.Sockets {
		if h.m.snap.Sockets[i].State == collect.StateTimeWait {
			tw++
		}
	}
	if tw != 1 {
		t.Errorf("%d TIME_WAIT rows after the active close, want 1", tw)
	}

	// A UDP bind, on no port of the filter's: the counters move with no
	// event, and the refresh walks.
	h.settle()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if !h.tick() {
		t.Fatal("a UDP bind did not make a walk")
	}
	sameAsDump(t, h)
}

// A new connection's rows are shown after the patch that found them, and
// that patch scanned only for the owners of the rows shown before it:
// the refresh after patches again, and the rows get the test's process,
// though the host is quiet and would otherwise peek.
func TestGateFindsTheOwnersOfNewRowsShown(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	ln, _, _ := gatePair(t, "tcp4", "127.0.0.1:0")
	h := gateHarnessWith(t, "", true)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s): the gate never opens", h.m.demos.mode)
	}
	h.tick()
	h.settle()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pid := os.Getpid()
	owned := func() bool {
		r := shownByInode(t, h.m, c.(*net.TCPConn))
		return r != nil && len(r.Owners) > 0 && r.Owners[0].PID == pid
	}
	// A scan may be spaced out on a busy host (its cost times 50): the
	// ticks go on until it comes, and each must patch, not peek, while
	// the row's owner is unknown.
	waitfor.UntilShow(t, 20*time.Second, "the new connection's owner", func() bool {
		if k := h.tickKind(); k == "peek" {
			if r := shownByInode(t, h.m, c.(*net.TCPConn)); r != nil && !r.Known(collect.FieldOwners) && !h.m.gate.ownersTried[r.Cookie] {
				t.Fatal("a refresh peeked with a shown row's owner unknown and not yet looked for")
			}
		}
		return owned()
	}, func() string { return fmt.Sprintf("%+v", shownByInode(t, h.m, c.(*net.TCPConn))) })
}

// rawStream is a real stream that keeps what it hands the view, before
// the view's drain drops anything, and the scopes it was given.
type rawStream struct {
	*events.Stream
	mu     sync.Mutex
	raw    []collect.StateEvent
	scopes []events.Scope
}

func (r *rawStream) Drain(evs []collect.StateEvent, closed []collect.Closed) ([]collect.StateEvent, []collect.Closed, uint64, uint64) {
	n := len(evs)
	evs, closed, lost, closedLost := r.Stream.Drain(evs, closed)
	r.mu.Lock()
	r.raw = append(r.raw, evs[n:]...)
	r.mu.Unlock()
	return evs, closed, lost, closedLost
}

func (r *rawStream) SetScope(sc events.Scope) error {
	r.mu.Lock()
	r.scopes = append(r.scopes, sc)
	r.mu.Unlock()
	return r.Stream.SetScope(sc)
}

func (r *rawStream) drained() []collect.StateEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.raw)
}

func (r *rawStream) scopesSet() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.scopes)
}

func (r *rawStream) lastScope() events.Scope {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.scopes) == 0 {
		return events.Scope{}
	}
	return r.scopes[len(r.scopes)-1]
}

// gateHarnessRaw is gateHarnessFiltered over a rawStream.
func gateHarnessRaw(t *testing.T, filter string) (*harness, *rawStream) {
	t.Helper()
	src := collect.NewNetlink(collect.Options{TCP: true, UDP: true, IPv4: true, IPv6: true, States: collect.AllStates})
	t.Cleanup(func() { src.Close() })
	st, err := events.Open(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	raw := &rawStream{Stream: st}
	h := newHarness(t, Config{Source: src, Events: raw, Filter: filter})
	h.send(windowSize(200, 40))
	return h, raw
}

// A demo's start widens the stream's kernel scope before the run makes
// its first socket, and a walk made before the start, run after it,
// does not narrow it again: the run's checks read every event of its
// sockets, whatever the table's filter.
func TestDemoStartWidensTheKernelScope(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	ln, _, _ := gatePair(t, "tcp4", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	h, raw := gateHarnessRaw(t, "sport = :"+port)
	if raw.Mode() != events.ModeBPF {
		t.Skipf("the stream reads %s, which has no kernel scope", raw.Mode())
	}
	h.tick()
	h.settle()
	if sc := raw.lastScope(); sc.TCP == nil {
		t.Fatalf("the filtered walk put no port bound in force: %+v", sc)
	}
	stale, buf := h.m.walkFunc()
	h.m.demos.fast = true
	start := h.m.demos.startCmd(scenario(t, "polite-close"), false, nil)
	if sc := h.m.streamScope(h.m.eventScope()); sc != (events.Scope{}) {
		t.Errorf("while a demo starts the next walk's scope is %+v, want none", sc)
	}
	msg, ok := start().(demoStartedMsg)
	if !ok || msg.err != nil {
		t.Fatalf("start: %v", msg.err)
	}
	t.Cleanup(msg.run.Stop)
	if sc := raw.lastScope(); sc != (events.Scope{}) {
		t.Fatalf("after the demo's start the scope in force is %+v, want none", sc)
	}
	n := raw.scopesSet()
	stale(buf)
	if raw.scopesSet() != n {
		t.Errorf("a walk made before the demo's start set the scope %+v after it", raw.lastScope())
	}
}
