package collect

import (
	"slices"
	"testing"
)

// TestTrackerPartialHoldsMissing: a socket a partial snapshot lacks is
// neither gone then nor new when it is listed again; a state change in
// between is one transition from the state last seen; only a complete
// snapshot without it makes it gone. Diff alone, on the same snapshots,
// shows the churn the rule removes.
func TestTrackerPartialHoldsMissing(t *testing.T) {
	t.Parallel()
	a := dsock(TCP, StateEstablished, "127.0.0.1:40000", "127.0.0.1:80")
	b := dsock(TCP, StateEstablished, "127.0.0.1:40001", "127.0.0.1:80")
	bClosing := b
	bClosing.State = StateCloseWait
	s0 := dsnap(0, a, b)
	s1 := dsnap(1, a)
	s1.Partial = true
	s2 := dsnap(2, a, bClosing)
	s3 := dsnap(3, bClosing)
	s3.Partial = true
	s4 := dsnap(4)

	if d := Diff(s0, s1); len(d.Gone) != 1 || len(d.Transitions) != 1 {
		t.Fatalf("Diff over the partial snapshot: %d gone, %v; the test expects the churn the tracker removes", len(d.Gone), d.Transitions)
	}

	var tk Tracker
	if ch := tk.Update(s0); len(ch.Transitions) != 0 || !slices.Equal(ch.Marks, []Mark{MarkNew, MarkNew}) {
		t.Fatalf("first snapshot: %v, marks %v; want no transitions, every row new", ch.Transitions, ch.Marks)
	}
	ch := tk.Update(s1)
	if len(ch.Transitions) != 0 || len(ch.Gone) != 0 || !slices.Equal(ch.Marks, []Mark{MarkSame}) {
		t.Errorf("partial snapshot without b: %v, %d gone, marks %v; want nothing", ch.Transitions, len(ch.Gone), ch.Marks)
	}
	ch = tk.Update(s2)
	if got := trs(t, ch, s2.Taken); !slices.Equal(got, []tr{{b.Key(), StateEstablished, StateCloseWait}}) {
		t.Errorf("b listed again, closing: %v; want one ESTABLISHED -> CLOSE_WAIT, not - -> CLOSE_WAIT", got)
	}
	if !slices.Equal(ch.Marks, []Mark{MarkSame, MarkChanged}) || len(ch.Gone) != 0 {
		t.Errorf("b listed again: marks %v, %d gone; want same, changed, none", ch.Marks, len(ch.Gone))
	}
	ch = tk.Update(s3)
	if len(ch.Transitions) != 0 || len(ch.Gone) != 0 {
		t.Errorf("partial snapshot without a: %v, %d gone; want nothing", ch.Transitions, len(ch.Gone))
	}
	ch = tk.Update(s4)
	got := trs(t, ch, s4.Taken)
	want := []tr{{b.Key(), StateCloseWait, StateUnknown}, {a.Key(), StateEstablished, StateUnknown}}
	if !slices.Equal(got, want) {
		t.Errorf("complete empty snapshot: %v, want %v", got, want)
	}
	if len(ch.Gone) != 2 {
		t.Fatalf("complete empty snapshot: %d gone, want 2", len(ch.Gone))
	}
	for i := range ch.Transitions {
		x := &ch.Transitions[i]
		if s := ch.Socket(s4, x); x.Index != -1 || s == nil || s.Key() != x.Key || s.State != x.From {
			t.Errorf("gone transition %+v resolves to %v", *x, s)
		}
	}
	if len(tk.held) != 0 {
		t.Errorf("the tracker still holds %d sockets after a complete snapshot", len(tk.held))
	}
}

// TestTrackerHeldKeepsNoSnapshot: a held socket has owners of its own and
// no tcp_info, so the partial snapshot's predecessor is not kept alive
// through it.
func TestTrackerHeldKeepsNoSnapshot(t *testing.T) {
	t.Parallel()
	a := dsock(TCP, StateEstablished, "127.0.0.1:40000", "127.0.0.1:80")
	a.Owners = []Owner{{PID: 812, Name: "nginx"}}
	a.Info = &TCPInfo{}
	s0 := dsnap(0, a)
	s1 := dsnap(1)
	s1.Partial = true
	var tk Tracker
	tk.Update(s0)
	tk.Update(s1)
	if len(tk.held) != 1 {
		t.Fatalf("%d held, want 1", len(tk.held))
	}
	h := &tk.held[0]
	if h.Info != nil || len(h.Owners) != 1 || &h.Owners[0] == &s0.Sockets[0].Owners[0] {
		t.Errorf("held socket shares the old snapshot's owners or keeps its tcp_info: %+v", *h)
	}
	if tk.prev != s1 {
		t.Errorf("the tracker keeps %p, want the last snapshot %p", tk.prev, s1)
	}
}

// TestTrackerSourceSampled: every transition of a snapshot diff says it
// was sampled.
func TestTrackerSourceSampled(t *testing.T) {
	t.Parallel()
	a := dsock(TCP, StateEstablished, "127.0.0.1:40000", "127.0.0.1:80")
	b := dsock(TCP, StateListen, "127.0.0.1:80", "0.0.0.0:0")
	var tk Tracker
	tk.Update(dsnap(0, a))
	ch := tk.Update(dsnap(1, b))
	if len(ch.Transitions) != 2 {
		t.Fatalf("%v, want b new and a gone", ch.Transitions)
	}
	for _, x := range ch.Transitions {
		if x.Source != Sampled {
			t.Errorf("%+v: source %v, want sampled", x, x.Source)
		}
	}
}
