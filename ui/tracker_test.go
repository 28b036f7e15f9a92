package ui

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/demo"
)

// logLines returns the log's entries as "key from -> to" lines, oldest
// first.
func logLines(m *model) []string {
	var out []string
	for _, e := range m.log.entries {
		out = append(out, e.key.Local.String()+">"+e.key.Remote.String()+" "+stateName(e.from)+" -> "+stateName(e.to))
	}
	return out
}

// A partial snapshot (an interrupted dump) is no news: the row it lacks is
// neither logged gone nor, when it is listed again, new; its change of
// state meanwhile is one entry.
func TestPartialSnapshotNoLogChurn(t *testing.T) {
	h := newHarness(t, Config{})
	a := tcpSock(collect.StateEstablished, 40000, 80)
	b := tcpSock(collect.StateEstablished, 40001, 80)
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Partial: true, Sockets: []collect.Socket{a}})
	if len(h.m.log.entries) != 0 || len(h.m.gone) != 0 {
		t.Fatalf("after a partial snapshot without b: log %v, %d gone rows", logLines(h.m), len(h.m.gone))
	}
	b.State = collect.StateCloseWait
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{a, b}})
	want := []string{"127.0.0.1:40001>127.0.0.1:80 ESTABLISHED -> CLOSE_WAIT"}
	if got := logLines(h.m); !slices.Equal(got, want) {
		t.Fatalf("log %v, want %v", got, want)
	}
	for _, r := range h.m.rows {
		if r.s.Key() == b.Key() && r.mark != markChanged {
			t.Errorf("b listed again, closing: mark %v, want changed", r.mark)
		}
	}
}

// While paused the view stays as it was and the demos go on; the resume
// logs every transition of the pause, each at its own refresh, and the
// rows that went meanwhile.
func TestPauseHoldsTransitions(t *testing.T) {
	h := newHarness(t, Config{})
	a := tcpSock(collect.StateEstablished, 40000, 80)
	b := tcpSock(collect.StateEstablished, 40001, 80)
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	h.key("space")
	a.State = collect.StateFinWait2
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a}})
	a.State = collect.StateTimeWait
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{a}})
	if len(h.m.log.entries) != 0 || len(h.m.rows) != 2 || h.m.rows[0].s.State != collect.StateEstablished {
		t.Fatalf("the paused view changed: log %v, %d rows", logLines(h.m), len(h.m.rows))
	}
	h.key("space")
	want := []string{
		"127.0.0.1:40000>127.0.0.1:80 ESTABLISHED -> FIN_WAIT_2",
		"127.0.0.1:40001>127.0.0.1:80 ESTABLISHED -> -",
		"127.0.0.1:40000>127.0.0.1:80 FIN_WAIT_2 -> TIME_WAIT",
	}
	if got := logLines(h.m); !slices.Equal(got, want) {
		t.Fatalf("log after the resume %v, want %v", got, want)
	}
	var states []string
	for _, r := range h.m.rows {
		states = append(states, r.s.State.String()+string(markChar[r.mark]))
	}
	if want := []string{"TIME_WAIT*", "ESTABLISHED-"}; !slices.Equal(states, want) || len(h.m.gone) != 1 || h.m.gone[0].s.Key() != b.Key() {
		t.Fatalf("rows after the resume %q, %d gone: want %q, b gone", states, len(h.m.gone), want)
	}
	if h.m.held != nil || h.m.pending != nil {
		t.Errorf("the resume kept what it held")
	}
}

// With -6 the table and the log show IPv6 only, and the header says so;
// the demo, whose sockets are IPv4, still sees every snapshot whole and
// keeps its promises.
func TestNarrowHidesTableNotDemo(t *testing.T) {
	h, l, src, r := startPoliteClose(t, Narrow{IPv6: true})
	feedUntil(t, h, l, src, nil, "every promise to be kept", r.run.Kept)
	if !strings.Contains(h.screen(), "flags: -6") {
		t.Errorf("header does not name the flags:\n%s", h.screen())
	}
	for _, row := range h.m.rows {
		if row.s.Family != 6 {
			t.Errorf("-6 shows %v", row.s.Key())
		}
	}
	for _, i := range h.m.log.shown {
		if e := &h.m.log.entries[i]; e.sock.Family != 6 {
			t.Errorf("-6 logs the IPv4 %v", e.key)
		}
	}
	if len(r.run.Transitions()) == 0 {
		t.Error("the demo recorded no transitions")
	}
}

// startPoliteClose starts polite-close from a view with the real
// collector and narrow, and returns the view, its loop, the source and
// the run; the test feeds the snapshots.
func startPoliteClose(t *testing.T, narrow Narrow) (*harness, *loop, collect.Source, *demoRun) {
	t.Helper()
	src, err := collect.NewSource("auto", collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Source: src, NoColor: true, Narrow: narrow})
	h.m.demos.fast = true
	l := newLoop(t)
	sc, ok := demo.Find("polite-close")
	if !ok {
		t.Fatal("no polite-close scenario")
	}
	h.key("d")
	l.exec(h.key(sc.Key))
	l.until(t, h, "the demo to start", func() bool { return len(h.m.demos.runs) == 1 })
	return h, l, src, h.m.demos.runs[0]
}

// feedUntil feeds snapshots of src to the view, one at a time and with the
// Cmds' messages in between, until done holds; edit (may be nil) may change
// each snapshot first. The deadline is a hang guard.
func feedUntil(t *testing.T, h *harness, l *loop, src collect.Source, edit func(*collect.Snapshot), what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; screen:\n%s", what, h.screen())
		}
		snap, err := src.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(&snap)
		}
		h.feed(snap)
		for drained := false; !drained; {
			select {
			case msg := <-l.msgs:
				l.exec(h.send(msg))
			default:
				drained = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The view's log and the demo's transitions come from one tracker: on a
// real run, with a dump that lost the client's rows in between, the demo
// records exactly the view's log entries of its sockets, and neither has
// the lost rows going and coming back.
func TestViewAndDemoAgree(t *testing.T) {
	h, l, src, r := startPoliteClose(t, Narrow{})
	port := r.run.Ports()[0]
	// One dump, once a snapshot showed the client connected, loses the
	// client's rows.
	var lost []collect.Key
	var lostAt time.Time
	var before map[collect.Key]bool
	edit := func(s *collect.Snapshot) {
		if lost != nil {
			return
		}
		client := func(x collect.Socket) bool {
			return x.Remote == netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port) && x.State == collect.StateEstablished
		}
		now := map[collect.Key]bool{}
		for _, x := range s.Sockets {
			if client(x) {
				now[x.Key()] = true
				if before[x.Key()] {
					lost = append(lost, x.Key())
				}
			}
		}
		before = now
		if lost != nil {
			s.Sockets = slices.DeleteFunc(s.Sockets, func(x collect.Socket) bool { return slices.Contains(lost, x.Key()) })
			s.Partial, lostAt = true, s.Taken
		}
	}
	feedUntil(t, h, l, src, edit, "every promise to be kept", r.run.Kept)
	if lost == nil {
		t.Fatal("never saw the client connected: the test proves nothing")
	}
	mine := map[collect.Key]bool{}
	var demoSide []string
	for _, x := range r.run.Transitions() {
		mine[x.Key] = true
		demoSide = append(demoSide, x.At.Format(time.RFC3339Nano)+" "+x.Key.Local.String()+">"+x.Key.Remote.String()+" "+stateName(x.From)+" -> "+stateName(x.To))
	}
	var viewSide []string
	for _, e := range h.m.log.entries {
		if mine[e.key] {
			viewSide = append(viewSide, e.at.Format(time.RFC3339Nano)+" "+e.key.Local.String()+">"+e.key.Remote.String()+" "+stateName(e.from)+" -> "+stateName(e.to))
		}
	}
	if !slices.Equal(demoSide, viewSide) {
		t.Errorf("demo and view disagree:\ndemo %q\nview %q", demoSide, viewSide)
	}
	for _, x := range r.run.Transitions() {
		if slices.Contains(lost, x.Key) && (x.At.Equal(lostAt) || x.From == collect.StateUnknown && x.At.After(lostAt)) {
			t.Errorf("the lost row %v churned: %v -> %v at %v (lost at %v)", x.Key, x.From, x.To, x.At, lostAt)
		}
	}
}
