package collect_test

import (
	"testing"

	"socktop/collect"
	"socktop/internal/synth"
)

// TestDiffTransitionIndex: every transition of a diff points at its own
// socket, in cur for a change or an appearance and in Gone for a
// disappearance, both on the in-step path (cur in the kernel's order) and
// through the hash table (cur shuffled); and every new row, and every row
// whose state changed, has exactly one transition pointing at it.
func TestDiffTransitionIndex(t *testing.T) {
	t.Parallel()
	prev := synth.Table(20_000, 8)
	for name, cur := range map[string]*collect.Snapshot{"in order": perturbed(prev, 9), "shuffled": shuffled(perturbed(prev, 9), 10)} {
		ch := collect.Diff(prev, cur)
		hits := make([]int, len(cur.Sockets))
		gone := make([]int, len(ch.Gone))
		for i := range ch.Transitions {
			x := &ch.Transitions[i]
			s := ch.Socket(cur, x)
			if s == nil || s.Key() != x.Key {
				t.Fatalf("%s: %+v points at %v", name, *x, s)
			}
			if x.Index >= 0 {
				if x.Gone != -1 || s.State.Canonical() != x.To {
					t.Fatalf("%s: %+v points at a %v socket", name, *x, s.State)
				}
				hits[x.Index]++
			} else {
				if s.State.Canonical() != x.From {
					t.Fatalf("%s: gone %+v points at a %v socket", name, *x, s.State)
				}
				gone[x.Gone]++
			}
		}
		news := 0
		for i, m := range ch.Marks {
			if m == collect.MarkNew {
				news++
				if hits[i] != 1 {
					t.Errorf("%s: new row %d has %d transitions", name, i, hits[i])
				}
			}
			if m == collect.MarkSame && hits[i] != 0 {
				t.Errorf("%s: unchanged row %d has %d transitions", name, i, hits[i])
			}
		}
		for g, n := range gone {
			if n != 1 {
				t.Errorf("%s: gone socket %d has %d transitions", name, g, n)
			}
		}
		if news == 0 || len(ch.Gone) == 0 {
			t.Fatalf("%s: %d new, %d gone: the input proves nothing", name, news, len(ch.Gone))
		}
	}
}
