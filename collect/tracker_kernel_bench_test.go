package collect_test

import (
	"fmt"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

// withCookies gives every socket of s a cookie of its own, from base, as
// a netlink dump does; the synthetic tables have none.
func withCookies(s *collect.Snapshot, base uint64) *collect.Snapshot {
	for i := range s.Sockets {
		s.Sockets[i].Cookie = base + uint64(i)
	}
	return s
}

// trackerPair returns two tables a refresh apart: b is a perturbed (2% of
// the sockets changed state, 1% gone, 1% new) unless steady, in which case
// it is a with nothing but its timers and time moved on.
func trackerPair(n int, steady bool) (a, b *collect.Snapshot) {
	a = withCookies(synth.Table(n, 1), 1)
	if steady {
		c := *a
		c.Taken = a.Taken.Add(time.Second)
		return a, &c
	}
	b = perturbed(a, 2)
	// The sockets perturbed kept have a's cookies; the new ones get fresh
	// ones.
	for i := range b.Sockets {
		if b.Sockets[i].Cookie == 0 {
			b.Sockets[i].Cookie = uint64(10*n + i)
		}
	}
	return a, b
}

// BenchmarkTracker is Tracker.Update without kernel events, the cost every
// refresh of the live view pays: Steady on a table where nothing changed,
// Churn on tables alternating with their perturbed twin, so each Update
// sees 2% state changes, 1% new and 1% gone.
func BenchmarkTracker(b *testing.B) {
	for _, steady := range []bool{true, false} {
		name := "Churn"
		if steady {
			name = "Steady"
		}
		for _, n := range []int{10_000, 100_000} {
			x, y := trackerPair(n, steady)
			b.Run(fmt.Sprintf("%s/%dk", name, n/1000), func(b *testing.B) {
				var tk collect.Tracker
				tk.Update(x)
				b.ReportAllocs()
				snaps := [2]*collect.Snapshot{y, x}
				for i := 0; b.Loop(); i++ {
					s := snaps[i%2]
					tk.Update(s)
				}
			})
		}
	}
}
