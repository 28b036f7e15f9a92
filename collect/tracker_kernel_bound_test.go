package collect

import (
	"net/netip"
	"testing"
)

// TestTrackerPathsSampled: a socket seen only in snapshots has no
// record of its own, just its first-seen step (the first snapshot's time
// for one that was there at the start); a sampled change adds a Sampled
// step, and leaving the table ends the path with CLOSED; sampled
// transitions carry the row's cookie.
func TestTrackerPathsSampled(t *testing.T) {
	t.Parallel()
	old := dsock(TCP, StateEstablished, "127.0.0.1:40000", srvAddr)
	old.Cookie = 1
	nw := dsock(TCP, StateEstablished, "127.0.0.1:40001", srvAddr)
	nw.Cookie = 2
	var tk Tracker
	tk.Update(dsnap(0, old))
	ch := tk.Update(dsnap(1, old, nw))
	if len(ch.Transitions) != 1 || ch.Transitions[0].Cookie != 2 {
		t.Fatalf("new row: %+v, want one transition with the row's cookie", ch.Transitions)
	}
	if tk.kern.conns.n != 0 {
		t.Errorf("%d path records for sockets that only appeared, want none", tk.kern.conns.n)
	}
	if p := tk.Path(old.Key()); len(p) != 1 || p[0].State != StateEstablished || !p[0].At.Equal(diffT0) || p[0].Source != Sampled {
		t.Errorf("socket there from the start: %v", p)
	}
	if p := tk.Path(nw.Key()); len(p) != 1 || !p[0].At.Equal(at(1000)) {
		t.Errorf("socket new at 1s: %v", p)
	}
	nw2 := nw
	nw2.State = StateCloseWait
	tk.Update(dsnap(2, old, nw2))
	tk.Update(dsnap(3, old))
	p := tk.Path(nw.Key())
	want := []Step{{StateEstablished, at(1000), Sampled}, {StateCloseWait, at(2000), Sampled}, {StateClosed, at(3000), Sampled}}
	if len(p) != len(want) {
		t.Fatalf("path %v, want %v", p, want)
	}
	for i := range want {
		if p[i].State != want[i].State || !p[i].At.Equal(want[i].At) || p[i].Source != want[i].Source {
			t.Errorf("step %d: %+v, want %+v", i, p[i], want[i])
		}
	}
	if p := tk.Path(tcpKey("127.0.0.1:1", srvAddr)); p != nil {
		t.Errorf("unknown Key: %v, want nil", p)
	}
}

// TestTrackerIdleAllocs: on a table where nothing changed, the merge of
// an Update allocates nothing and keeps nothing per socket, with the
// kernel's input handed in (and empty) as a stream's Feed does.
func TestTrackerIdleAllocs(t *testing.T) {
	socks := manySockets(5000, 1)
	for i := range socks {
		socks[i].Cookie = uint64(i + 1)
	}
	a, b := dsnap(0, socks...), dsnap(1, socks...)
	var tk Tracker
	tk.Update(a)
	tk.Update(b)
	ch := Diff(a, b)
	if len(ch.Transitions) != 0 {
		t.Fatalf("the tables differ: %v", ch.Transitions)
	}
	got := testing.AllocsPerRun(20, func() {
		tk.AddEvents(nil, 0)
		tk.AddClosed(nil, 0)
		tk.merge(b, &ch)
	})
	if got != 0 {
		t.Errorf("the merge of an idle Update allocates %v times", got)
	}
	if tk.kern.conns.n != 0 || len(tk.kern.seen) != 0 || len(tk.kern.byCookie) != 0 {
		t.Errorf("idle sockets left %d path records, %d by cookie and %d first-seen entries", tk.kern.conns.n, len(tk.kern.byCookie), len(tk.kern.seen))
	}
}

// TestTrackerGoneBounded: the paths of gone connections are kept for the
// last goneMax of them only, whether they went by snapshot or by kernel
// event, and connections known only from events leave nothing behind.
func TestTrackerGoneBounded(t *testing.T) {
	t.Parallel()
	const n = goneMax + 500
	lo := netip.MustParseAddr("127.0.0.1")
	key := func(i int) Key {
		return Key{Proto: TCP, Local: netip.AddrPortFrom(lo, uint16(1024+i%60000)), Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 8 / 240), 2}), 80)}
	}
	var tk Tracker
	tk.AddClosed(nil, 0)
	tk.Update(dsnap(0))
	for i := 0; i < n; i++ {
		k := key(i)
		s := Socket{Proto: TCP, Family: 4, State: StateEstablished, Local: k.Local, Remote: k.Remote, Cookie: uint64(i + 1)}
		tk.Update(dsnap(2*i+1, s))
		// The next one opens and closes between refreshes, from events.
		j := n + i
		kj := key(j)
		l, r := kj.Local.String(), kj.Remote.String()
		tk.AddEvents([]StateEvent{
			kev((2*i+1)*1000+1, uint64(j+1), StateClosed, StateSynSent, "127.0.0.1:0", r),
			kev((2*i+1)*1000+2, uint64(j+1), StateSynSent, StateEstablished, l, r),
			kev((2*i+1)*1000+3, uint64(j+1), StateEstablished, StateClosed, l, r),
		}, 0)
		tk.Update(dsnap(2*i + 2))
	}
	if p := tk.Path(key(0)); p != nil {
		t.Errorf("the first gone connection is still remembered: %v", p)
	}
	if p := tk.Path(key(n - 1)); len(p) != 2 || p[1].State != StateClosed {
		t.Errorf("the last gone connection: %v", p)
	}
	if p := tk.Path(key(2*n - 1)); len(p) != 4 || p[3].Source != Kernel {
		t.Errorf("the last connection known from events: %v", p)
	}
	k := &tk.kern
	if k.conns.n > goneMax || len(k.byCookie) > goneMax || len(k.ring) > goneMax || len(k.connecting) != 0 || len(k.seen) != 0 {
		t.Errorf("after %d connections: %d conns, %d by cookie, %d gone, %d connecting, %d first-seen; want at most %d",
			2*n, k.conns.n, len(k.byCookie), len(k.ring), len(k.connecting), len(k.seen), goneMax)
	}
}

// TestTrackerPathCapped: a socket that keeps changing keeps its first
// step and its latest ones, at most maxSteps in all.
func TestTrackerPathCapped(t *testing.T) {
	t.Parallel()
	u := dsock(UDP, StateUnconn, "127.0.0.1:5000", "0.0.0.0:0")
	u.Cookie = 7
	var tk Tracker
	tk.Update(dsnap(0, u))
	for i := 1; i <= 3*maxSteps; i++ {
		v := u
		if i%2 == 1 {
			v.State = StateEstablished
		}
		tk.Update(dsnap(i, v))
	}
	p := tk.Path(u.Key())
	if len(p) > maxSteps || len(p) <= maxSteps/2 || !p[0].At.Equal(diffT0) {
		t.Fatalf("%d steps, first %+v; want at most %d, the first kept", len(p), p[0], maxSteps)
	}
	// The latest steps, one a second, with none missing.
	for i, n := 1, len(p); i < n; i++ {
		if want := at((3*maxSteps - (n - 1 - i)) * 1000); !p[i].At.Equal(want) {
			t.Fatalf("step %d at %v, want %v", i, p[i].At, want)
		}
	}
}

// TestTrackerSeenShrinks: first-seen times of a burst of sockets are
// dropped, and their map rebuilt, once the table is small again.
func TestTrackerSeenShrinks(t *testing.T) {
	t.Parallel()
	const n = 6 * goneMax
	socks := manySockets(n, 1)
	for i := range socks {
		socks[i].Cookie = uint64(i + 1)
	}
	var tk Tracker
	tk.Update(dsnap(0))
	tk.Update(dsnap(1, socks...))
	if len(tk.kern.seen) != n {
		t.Fatalf("%d first-seen entries after the burst, want %d", len(tk.kern.seen), n)
	}
	tk.Update(dsnap(2, socks[:10]...))
	if got := len(tk.kern.seen); got != 10 || tk.kern.seenPeak != 10 {
		t.Errorf("after the burst left: %d entries, peak %d; want 10, the map rebuilt", got, tk.kern.seenPeak)
	}
	if p := tk.Path(socks[0].Key()); len(p) != 1 || !p[0].At.Equal(at(1000)) {
		t.Errorf("a socket of the burst still listed: %v", p)
	}
}
