package collect

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// rateSnap is a snapshot taken at at of n ESTABLISHED connections whose
// counters are acked(i) and received(i): constructed, because what is
// tested is the arithmetic over the snapshots' timestamps (the paced
// test in rate_linux_test.go measures real connections).
func rateSnap(at time.Time, n int, acked, received func(i int) uint64) *Snapshot {
	snap := &Snapshot{Taken: at, Sockets: make([]Socket, n)}
	infos := make([]TCPInfo, n)
	for i := range snap.Sockets {
		infos[i] = TCPInfo{BytesAcked: acked(i), BytesReceived: received(i)}
		snap.Sockets[i] = Socket{
			Proto: TCP, Family: 4, State: StateEstablished,
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i >> 16), byte(i >> 8)}), uint16(i)),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 443),
			Cookie: uint64(i + 1),
			Info:   &infos[i],
		}
	}
	return snap
}

func TestRateArithmetic(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var rt RateTracker
	a := rateSnap(t0, 3, func(int) uint64 { return 1000 }, func(int) uint64 { return 5000 })
	rt.Fill(a)
	for i := range a.Sockets {
		if a.Sockets[i].Rate != nil {
			t.Fatalf("socket %d has a rate from the first snapshot", i)
		}
	}
	// Two seconds later: socket 0 sent 4000 and received 1000 more;
	// socket 1's counters went backwards (not the same connection, whatever
	// its cookie says); socket 2 is a new connection on the same 4-tuple.
	b := rateSnap(t0.Add(2*time.Second), 3, func(i int) uint64 { return []uint64{5000, 10, 1000}[i] },
		func(int) uint64 { return 6000 })
	b.Sockets[2].Cookie = 99
	rt.Fill(b)
	if r := b.Sockets[0].Rate; r == nil || r.Send != 2000 || r.Recv != 500 {
		t.Errorf("socket 0: rate %v; want {2000 500}", r)
	}
	if r := b.Sockets[1].Rate; r != nil {
		t.Errorf("socket 1, counter backwards: rate %+v; want unknown", *r)
	}
	if r := b.Sockets[2].Rate; r != nil {
		t.Errorf("socket 2, another cookie: rate %+v; want unknown", *r)
	}
	// A snapshot stamped no later than the previous one has no interval.
	c := rateSnap(t0.Add(2*time.Second), 3, func(int) uint64 { return 9000 }, func(int) uint64 { return 9000 })
	rt.Fill(c)
	if r := c.Sockets[0].Rate; r != nil {
		t.Errorf("zero interval: rate %+v; want unknown", *r)
	}
	// A socket without tcp_info has no rate, and the tracker forgets it.
	d := rateSnap(t0.Add(3*time.Second), 3, func(int) uint64 { return 9500 }, func(int) uint64 { return 9000 })
	d.Sockets[1].Info = nil
	rt.Fill(d)
	if r := d.Sockets[0].Rate; r == nil || r.Send != 500 || r.Recv != 0 {
		t.Errorf("socket 0 after 1s: rate %v; want {500 0}", r)
	}
	if d.Sockets[1].Rate != nil || rt.Len() != 2 {
		t.Errorf("socket without tcp_info: rate %v, tracker holds %d; want nil and 2", d.Sockets[1].Rate, rt.Len())
	}
	rt.Forget()
	e := rateSnap(t0.Add(4*time.Second), 3, func(int) uint64 { return 9600 }, func(int) uint64 { return 9000 })
	rt.Fill(e)
	if r := e.Sockets[0].Rate; r != nil {
		t.Errorf("after Forget: rate %+v; want unknown", *r)
	}
}

// TestRateTrackerShrinks checks that the tracker's maps follow the table
// down: after a 100k-connection table gives way to a 10-connection one,
// neither map is sized for 100k any more.
func TestRateTrackerShrinks(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var rt RateTracker
	zero := func(int) uint64 { return 0 }
	rt.Fill(rateSnap(t0, 100_000, zero, zero))
	rt.Fill(rateSnap(t0.Add(time.Second), 100_000, zero, zero))
	if c := rt.capacity(); c < 100_000 {
		t.Fatalf("room for %d entries after two 100k tables; want 100000 or more", c)
	}
	for i := range 2 {
		rt.Fill(rateSnap(t0.Add(time.Duration(2+i)*time.Second), 10, zero, zero))
	}
	if c := rt.capacity(); c > 1024 {
		t.Errorf("buffers sized for %d entries after two 10-connection tables; want at most 1024", c)
	}
	if rt.Len() != 10 {
		t.Errorf("tracker holds %d connections; want 10", rt.Len())
	}
}

// BenchmarkRateFill measures one Fill of a table whose connections were
// all in the previous snapshot, the live view's steady state with the
// rate columns shown.
func BenchmarkRateFill(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		snap := rateSnap(t0, n, func(i int) uint64 { return uint64(i) }, func(i int) uint64 { return uint64(i) })
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			var rt RateTracker
			rt.Fill(snap)
			b.ReportAllocs()
			for b.Loop() {
				// The same table a second later, every counter moved.
				b.StopTimer()
				snap.Taken = snap.Taken.Add(time.Second)
				for j := range snap.Sockets {
					snap.Sockets[j].Info.BytesAcked += 1500
					snap.Sockets[j].Info.BytesReceived += 100
				}
				b.StartTimer()
				rt.Fill(snap)
			}
			if snap.Sockets[n-1].Rate == nil {
				b.Fatal("no rate in the steady state")
			}
		})
	}
}
