package collect_test

import (
	"fmt"
	"net/netip"
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

// BenchmarkTrackerEvents is Tracker.Update on the Churn tables with the
// kernel's input of a loopback churn between two refreshes: every
// refresh, events new connections opened and closed in full (client and
// server, the client's close joined to a TIME_WAIT the tables do not
// list, so it waits), and their destroy records.
func BenchmarkTrackerEvents(b *testing.B) {
	for _, perRefresh := range []int{100, 1000} {
		x, y := trackerPair(10_000, false)
		b.Run(fmt.Sprintf("10k/%dconns", perRefresh), func(b *testing.B) {
			var tk collect.Tracker
			tk.AddClosed(nil, 0)
			tk.Update(x)
			lo := netip.MustParseAddr("127.0.0.1")
			srv := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 80)
			evs := make([]collect.StateEvent, 0, 10*perRefresh)
			recs := make([]collect.Closed, 0, 2*perRefresh)
			taken := x.Taken
			cookie := uint64(1 << 40)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s := *[2]*collect.Snapshot{y, x}[i%2]
				taken = taken.Add(time.Second)
				s.Taken = taken
				evs, recs = evs[:0], recs[:0]
				for j := 0; j < perRefresh; j++ {
					cli := netip.AddrPortFrom(lo, uint16(1024+(i*perRefresh+j)%60000))
					at := taken.Add(-time.Millisecond)
					c, sv := cookie, cookie+1
					cookie += 2
					ev := func(ck uint64, l, r netip.AddrPort, from, to collect.State) {
						evs = append(evs, collect.StateEvent{Time: at, Cookie: ck, Proto: collect.TCP, Family: 4, Local: l, Remote: r, From: from, To: to})
					}
					ev(c, netip.AddrPortFrom(lo, 0), srv, collect.StateClosed, collect.StateSynSent)
					ev(sv, srv, cli, collect.StateListen, collect.StateSynRecv)
					ev(c, cli, srv, collect.StateSynSent, collect.StateEstablished)
					ev(sv, srv, cli, collect.StateSynRecv, collect.StateEstablished)
					ev(c, cli, srv, collect.StateEstablished, collect.StateFinWait1)
					ev(sv, srv, cli, collect.StateEstablished, collect.StateCloseWait)
					ev(sv, srv, cli, collect.StateCloseWait, collect.StateLastAck)
					ev(c, cli, srv, collect.StateFinWait1, collect.StateFinWait2)
					ev(c, cli, srv, collect.StateFinWait2, collect.StateClosed)
					ev(sv, srv, cli, collect.StateLastAck, collect.StateClosed)
					recs = append(recs, collect.Closed{Proto: collect.TCP, Family: 4, State: collect.StateClosed, Local: srv, Remote: cli, Cookie: sv, Received: at},
						collect.Closed{Proto: collect.TCP, Family: 4, State: collect.StateClosed, Local: cli, Remote: srv, Cookie: c, Received: at})
				}
				tk.AddEvents(evs, 0)
				tk.AddClosed(recs, 0)
				tk.Update(&s)
			}
		})
	}
}
