package collect_test

import (
	"testing"

	"socktop/collect"
	"socktop/internal/synth"
)

// A tracker's Changes.Prev names, for each row, the prev row it was
// paired with: one of the same Key, each prev row at most once, -1
// exactly for the rows marked new; Diff leaves it nil, and so does an
// update given a patch's origins.
func TestTrackerGivesThePairing(t *testing.T) {
	prev := synth.Table(2000, 5)
	cur := *prev
	cur.Sockets = nil
	for i, s := range prev.Sockets {
		switch i % 10 {
		case 0:
			continue // gone
		case 1:
			s.State = collect.StateFinWait1
		case 2:
			s.RecvQ++
		}
		cur.Sockets = append(cur.Sockets, s)
	}
	cur.Sockets = append(cur.Sockets, synth.Table(50, 6).Sockets...)
	if ch := collect.Diff(prev, &cur); ch.Prev != nil {
		t.Fatalf("Diff gave a pairing of %d rows", len(ch.Prev))
	}
	var tr collect.Tracker
	tr.Update(prev)
	ch := tr.Update(&cur)
	if len(ch.Prev) != len(cur.Sockets) {
		t.Fatalf("Prev has %d entries for %d rows", len(ch.Prev), len(cur.Sockets))
	}
	used := map[int32]bool{}
	paired := 0
	for k, j := range ch.Prev {
		if (j < 0) != (ch.Marks[k] == collect.MarkNew) {
			t.Fatalf("row %d: paired with %d, marked %v", k, j, ch.Marks[k])
		}
		if j < 0 {
			continue
		}
		if used[j] || prev.Sockets[j].Key() != cur.Sockets[k].Key() {
			t.Fatalf("row %d paired with prev row %d: used before %v, keys %v and %v", k, j, used[j], cur.Sockets[k].Key(), prev.Sockets[j].Key())
		}
		used[j] = true
		paired++
	}
	if paired < len(prev.Sockets)*8/10 {
		t.Fatalf("%d rows paired, of %d that stayed", paired, len(prev.Sockets)*9/10)
	}
	origin := make([]int32, len(cur.Sockets))
	for i := range origin {
		origin[i] = -1
	}
	if ch := tr.UpdateFrom(&cur, origin, &cur); ch.Prev != nil {
		t.Fatalf("an update with origins gave a pairing of %d rows", len(ch.Prev))
	}
}
