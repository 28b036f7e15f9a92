//go:build linux

package collect

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// scanTimed is what a patch of a table it has no list for reads: every
// row, for the timed ones.
func scanTimed(socks []Socket) []timedRow {
	var t timedRows
	t.noteAll(socks, time.Time{})
	return t.rows
}

// checkTimed holds the list made for snap to a scan of its rows.
func checkTimed(t *testing.T, what string, src *Netlink, snap *Snapshot) {
	t.Helper()
	got, ok := src.patch.timed.forTable(snap)
	if !ok {
		t.Fatalf("%s: no list of timed rows for the table", what)
	}
	want := scanTimed(snap.Sockets)
	if len(got) != len(want) {
		t.Fatalf("%s: %d timed rows listed, a scan finds %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: timed row %d is %+v, a scan's %+v", what, i, got[i], want[i])
		}
	}
}

// A walk and a patch list their table's TIME_WAIT rows as they tag it,
// and the next patch reads the list instead of every row: the list is
// what a scan of the rows finds, it is of that table alone (a copy of
// the rows is scanned), and the rows it names are asked for again when
// their timers are due, and only then.
func TestPatchListsTimedRows(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	src := lookupSource(t)
	pairTCP(t, unix.AF_INET)
	for range 3 {
		timeWait(t, unix.AF_INET)
	}
	timeWait(t, unix.AF_INET6)

	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkTimed(t, "walk", src, &snap)
	if n := len(scanTimed(snap.Sockets)); n != 4 {
		t.Fatalf("the walk lists %d timed rows, want the 4 TIME_WAIT sockets", n)
	}

	// Nothing due: the TIME_WAIT rows are carried over, their timers
	// counted down by the time between the tables to the nanosecond; the
	// kernel's own word would be in its timer's ticks.
	p, _, err := src.Patch(context.Background(), &snap, SockCounters{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTimed(t, "patch", src, &p)
	if n := len(src.patch.timed.rows); n != 4 {
		t.Fatalf("the patch lists %d timed rows, want the 4 TIME_WAIT sockets", n)
	}
	elapsed := p.Taken.Sub(snap.Taken)
	for _, r := range src.patch.timed.rows {
		s, was := &p.Sockets[r.i], &snap.Sockets[r.i]
		if s.State != StateTimeWait || s.Cookie != was.Cookie || s.TimerLeft != max(was.TimerLeft-elapsed, 0) {
			t.Fatalf("a TIME_WAIT row not due was asked for again: %v %v, timer %v (was %v, %v before)", s.State, s.Local, s.TimerLeft, was.TimerLeft, elapsed)
		}
	}

	// A copy of the rows is another table: no list.
	cp := p
	cp.Sockets = append([]Socket(nil), p.Sockets...)
	if _, ok := src.patch.timed.forTable(&cp); ok {
		t.Fatal("the list is taken for a copy of its table")
	}

	// The same table 59 s older: every TIME_WAIT row is due. A row asked
	// for again has the kernel's timer, tens of seconds; one carried over
	// would have under two.
	old := p
	old.Taken = p.Taken.Add(-59 * time.Second)
	src.patch.timed.taken = old.Taken
	q, _, err := src.Patch(context.Background(), &old, SockCounters{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tw := 0
	for i := range q.Sockets {
		if s := &q.Sockets[i]; s.State == StateTimeWait {
			tw++
			if s.TimerLeft < 10*time.Second {
				t.Fatalf("a due TIME_WAIT row was not asked for again: %v, timer %v", s.Local, s.TimerLeft)
			}
		}
	}
	if tw != 4 {
		t.Fatalf("%d TIME_WAIT rows after the due patch, want 4", tw)
	}
	checkTimed(t, "due patch", src, &q)
}
