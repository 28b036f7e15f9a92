package ui

// Tests of the root model: marks, gone rows and the transition log.

import (
	"strings"
	"testing"
	"time"

	"socktop/collect"
)

func TestMarksGoneRowsAndLog(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	if len(h.m.marks) != 0 {
		t.Fatalf("the first snapshot should mark nothing, got %d marks", len(h.m.marks))
	}
	a2 := a
	a2.State = collect.StateFinWait2
	n := tcpSock(collect.StateSynSent, 3005, 9)
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a2, n}})
	if h.m.marks[a.Key()].mark != markChanged || h.m.marks[n.Key()].mark != markNew {
		t.Fatalf("marks: %v", h.m.marks)
	}
	var gone int
	for _, r := range h.m.rows {
		if r.mark == markGone {
			gone++
			if r.s.Key() != b.Key() {
				t.Fatalf("gone row %v, want %v", r.s.Key(), b.Key())
			}
		}
	}
	if gone != 1 {
		t.Fatalf("%d gone rows, want 1", gone)
	}
	scr := h.screen()
	for _, want := range []string{"ESTABLISHED ⇢ FIN_WAIT_2 (between refreshes)", "(new) -> SYN_SENT", "ESTABLISHED -> (gone)"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("log pane lacks %q:\n%s", want, scr)
		}
	}
	// Marker characters show the marks without colour.
	if !strings.Contains(scr, "\n*>tcp") || !strings.Contains(scr, "\n+ tcp") || !strings.Contains(scr, "\n- tcp") {
		t.Fatalf("marker column missing:\n%s", scr)
	}
	// The gone row stays for markRefreshes refreshes in all, then goes.
	for i := 2; i <= markRefreshes+1; i++ {
		h.feed(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Sockets: []collect.Socket{a2, n}})
		still := false
		for _, r := range h.m.rows {
			still = still || r.mark == markGone
		}
		if want := i < markRefreshes+1; still != want {
			t.Fatalf("refresh %d: gone row present=%v, want %v", i, still, want)
		}
	}
	if len(h.m.marks) != 0 {
		t.Fatalf("marks should expire, %d left", len(h.m.marks))
	}
	// The history of the connection is kept for the detail view.
	if hist := h.m.hist.byKey[a.Key()]; len(hist) != 1 || hist[0].to != collect.StateFinWait2 {
		t.Fatalf("history of a: %v", hist)
	}
}

func TestLogFollowsFilter(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{Filter: "sport = :3000"})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	a2, b2 := a, b
	a2.State = collect.StateTimeWait
	b2.State = collect.StateCloseWait
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a2, b2}})
	if len(h.m.log.entries) != 1 || h.m.log.entries[0].key != a.Key() {
		t.Fatalf("log = %+v, want only the transition of port 3000", h.m.log.entries)
	}
	// A socket that goes is judged by what it was, so a port filter keeps
	// its last transition.
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{b2}})
	if n := len(h.m.log.entries); n != 2 || h.m.log.entries[1].to != collect.StateUnknown {
		t.Fatalf("log = %+v, want the TIME_WAIT -> gone of port 3000 added", h.m.log.entries)
	}
	if hist := h.m.hist.byKey[b.Key()]; len(hist) != 0 {
		t.Fatalf("history of a filtered-out connection: %+v", hist)
	}
	if hist := h.m.hist.byKey[a.Key()]; len(hist) != 2 {
		t.Fatalf("history of port 3000 = %+v, want 2 transitions", hist)
	}
	scr := h.screen()
	if !strings.Contains(scr, "ESTABLISHED ⇢ TIME_WAIT") || strings.Contains(scr, "CLOSE_WAIT") {
		t.Fatalf("screen shows transitions outside the filter:\n%s", scr)
	}
}

// Under churn only the newest transitions are kept, in order, whatever the
// ring's wrap-around.
func TestRecordTransitionsKeepsNewestInOrder(t *testing.T) {
	n := maxHistKeys + 1234
	prev := collect.Snapshot{Taken: t0}
	cur := collect.Snapshot{Taken: t0.Add(time.Second)}
	for i := 0; i < n; i++ {
		s := tcpSock(collect.StateEstablished, 3000, uint16(10000+i))
		prev.Sockets = append(prev.Sockets, s)
		s.State = collect.StateTimeWait
		cur.Sockets = append(cur.Sockets, s)
	}
	h := newHarness(t, Config{Filter: "sport = :3000"})
	h.feed(prev)
	h.feed(cur)
	if got := len(h.m.log.entries); got != maxLog {
		t.Fatalf("log holds %d entries, want %d", got, maxLog)
	}
	for i, e := range h.m.log.entries {
		want := cur.Sockets[n-maxLog+i].Key()
		if e.key != want || e.to != collect.StateTimeWait {
			t.Fatalf("log entry %d = %v %v, want %v TIME_WAIT", i, e.key, e.to, want)
		}
	}
	if _, ok := h.m.hist.byKey[cur.Sockets[n-1].Key()]; !ok {
		t.Fatalf("the newest transition is not in the history")
	}
	if _, ok := h.m.hist.byKey[cur.Sockets[0].Key()]; ok {
		t.Fatalf("the oldest transition should have been dropped from the history")
	}
}
