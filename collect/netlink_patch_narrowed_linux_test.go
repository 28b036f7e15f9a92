//go:build linux

package collect

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// eitherPort is a kernel filter for one port at either end, as
// filter.Filter compiles "sport = :P or dport = :P": S_EQ P, accepting by
// a jump to the end; else D_EQ P, failing past the end.
type eitherPort uint16

func (p eitherPort) Bytecode(Proto, uint8) []byte {
	b := make([]byte, 20)
	op := func(at int, code byte, yes, no uint16) {
		b[at], b[at+1] = code, byte(yes)
		binary.NativeEndian.PutUint16(b[at+2:], no)
	}
	op(0, BCSEQ, 8, 12)
	binary.NativeEndian.PutUint16(b[6:], uint16(p))
	op(8, BCJmp, 4, 12)
	op(12, BCDEQ, 8, 12)
	binary.NativeEndian.PutUint16(b[18:], uint16(p))
	return b
}

// markOnly is a kernel filter with a mark condition: what a socket can
// change with setsockopt, without an event.
type markOnly struct{}

func (markOnly) Bytecode(Proto, uint8) []byte {
	b := make([]byte, 12)
	b[0], b[1] = BCMarkCond, 12
	binary.NativeEndian.PutUint16(b[2:], 16)
	binary.NativeEndian.PutUint32(b[4:], 1)
	binary.NativeEndian.PutUint32(b[8:], 0xffffffff)
	return b
}

// eventsFor is what the kernel's state events would name of the change
// from the TCP sockets of old to those of now: a change to its state for
// each socket new or in another state, and one to CLOSED for each gone,
// with the dump's 4-tuple and cookie. The events are built from the
// kernel's own rows because this package cannot read the BPF stream
// (collect/events does); ui's gate tests patch by the real stream.
func eventsFor(now, old []Socket) []StateEvent {
	was := map[uint64]*Socket{}
	for i := range old {
		was[old[i].Cookie] = &old[i]
	}
	var evs []StateEvent
	ev := func(s *Socket, from, to State) StateEvent {
		return StateEvent{Cookie: s.Cookie, Proto: TCP, Family: s.Family, Local: s.Local, Remote: s.Remote, From: from, To: to}
	}
	for i := range now {
		s := &now[i]
		if s.Proto != TCP {
			continue
		}
		if o, ok := was[s.Cookie]; !ok {
			evs = append(evs, ev(s, StateClosed, s.State))
		} else if o.State != s.State {
			evs = append(evs, ev(s, o.State, s.State))
		}
		delete(was, s.Cookie)
	}
	for _, o := range was {
		if o.Proto == TCP {
			evs = append(evs, ev(o, o.State, StateClosed))
		}
	}
	return evs
}

// checkOrigin fails unless counts.Origin says where each row of p came
// from: a kept row is prev's row at its origin, unchanged, the kept rows
// are in prev's order, and a row the kernel answered for is -1.
func checkOrigin(t *testing.T, what string, prev, p *Snapshot, counts PatchCounts) {
	t.Helper()
	if counts.Origin == nil {
		return // rows were dropped after: nothing is promised
	}
	if len(counts.Origin) != len(p.Sockets) {
		t.Fatalf("%s: %d origins for %d rows", what, len(counts.Origin), len(p.Sockets))
	}
	last := int32(-1)
	for k, o := range counts.Origin {
		if o < 0 {
			continue
		}
		if o <= last || int(o) >= len(prev.Sockets) {
			t.Fatalf("%s: row %d kept from row %d, after %d (of %d)", what, k, o, last, len(prev.Sockets))
		}
		last = o
		if a, b := &p.Sockets[k], &prev.Sockets[o]; a.Cookie != b.Cookie || a.State != b.State || a.Local != b.Local {
			t.Fatalf("%s: row %d (%v %v) kept from row %d (%v %v)", what, k, a.State, a.Local, o, b.State, b.Local)
		}
	}
}

// sameTable fails unless a and b hold the same sockets by cookie, in the
// same states and with the same addresses.
func sameTable(t *testing.T, what string, a, b []Socket) {
	t.Helper()
	key := func(s *Socket) string { return s.State.String() + " " + s.Local.String() + " " + s.Remote.String() }
	am, bm := map[uint64]string{}, map[uint64]string{}
	for i := range a {
		am[a[i].Cookie] = key(&a[i])
	}
	for i := range b {
		bm[b[i].Cookie] = key(&b[i])
	}
	for c, k := range bm {
		if am[c] != k {
			t.Errorf("%s: cookie %d is %q in the dump, %q patched", what, c, k, am[c])
		}
	}
	for c, k := range am {
		if _, ok := bm[c]; !ok {
			t.Errorf("%s: cookie %d (%s) patched in, not in the dump", what, c, k)
		}
	}
}

// A table a kernel filter narrowed is patched as a walk would list it:
// the events of sockets the program accepts (by their 4-tuple) are asked
// for, those of the others are not; every row is asked for again, so a
// TIME_WAIT destroyed without an event goes; a UDP bind, which no event
// announces, moves the UDP counters from the base and the counts
// disagree. A program that tests a mark cannot be patched by.
func TestPatchNarrowedByAKernelFilter(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	l, port := listenTCP(t, unix.AF_INET, 16, nil)
	c1 := dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	s1 := acceptTCP(t, l)
	pairTCP(t, unix.AF_INET6) // elsewhere: not in the table
	u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), port)); err != nil {
		t.Fatalf("bind udp to the port: %v", err)
	}
	src := NewNetlink(Options{TCP: true, UDP: true, IPv4: true, IPv6: true, States: AllStates, Kernel: eitherPort(uint16(port))})
	t.Cleanup(func() { src.Close() })
	whole := lookupSource(t)

	base, err := src.Sockstat()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Filtered || len(snap.Sockets) != 4 {
		t.Fatalf("the filtered dump has %d rows (filtered %v), want the listener, a pair and a UDP socket", len(snap.Sockets), snap.Filtered)
	}
	patch := func(what string, prev *Snapshot, evs []StateEvent) Snapshot {
		t.Helper()
		p, counts, err := src.Patch(context.Background(), prev, base, evs, nil, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !counts.Within(0, 0) {
			t.Fatalf("%s: counts %+v", what, counts)
		}
		checkOrigin(t, what, prev, &p, counts)
		if !p.Filtered || p.Total < len(p.Sockets) {
			t.Fatalf("%s: a patched narrowed table: filtered %v, total %d of %d rows", what, p.Filtered, p.Total, len(p.Sockets))
		}
		dump, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sameTable(t, what, p.Sockets, dump.Sockets)
		base = counts.Kernel
		return p
	}
	p := patch("nothing changed", &snap, nil)

	// A connection to the port and one elsewhere: the events of both,
	// but only the first one's sockets are asked for.
	before, err := whole.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	acceptTCP(t, l)
	pairTCP(t, unix.AF_INET)
	after, err := whole.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	evs := eventsFor(after.Sockets, before.Sockets)
	if len(evs) < 4 {
		t.Fatalf("%d new TCP sockets, want the two connections' four ends", len(evs))
	}
	p = patch("two new connections", &p, evs)
	if got := len(src.patch.want); got != 6 {
		t.Errorf("the patch asked for %d sockets, want its 4 rows and the 2 new ends on the port", got)
	}

	// A close: FIN_WAIT_2 and CLOSE_WAIT, each announced. The server
	// reads the FIN before the client has the ACK of it: the table is
	// taken once the client is in FIN_WAIT_2, or the patch's lookup and
	// the dump after it could see FIN_WAIT_1 and FIN_WAIT_2.
	cookie1, err := unix.GetsockoptUint64(c1.fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()
	waitEOF(t, s1)
	after2 := waitSnapshot(t, whole, func(s *Snapshot) bool {
		for i := range s.Sockets {
			if s.Sockets[i].Cookie == cookie1 {
				return s.Sockets[i].State == StateFinWait2
			}
		}
		return false
	})
	p = patch("a close", &p, eventsFor(after2.Sockets, after.Sockets))

	// A TIME_WAIT destroyed without an event: every row is asked for.
	s1.Close()
	after3, err := whole.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p = patch("the close ends", &p, eventsFor(after3.Sockets, after2.Sockets))
	var tw *Socket
	for i := range p.Sockets {
		if p.Sockets[i].State == StateTimeWait {
			tw = &p.Sockets[i]
		}
	}
	if tw == nil {
		t.Fatal("no TIME_WAIT row after the active close")
	}
	victim := *tw
	if err := Destroy(context.Background(), &victim); err != nil {
		t.Fatalf("destroying the TIME_WAIT socket: %v", err)
	}
	p = patch("a TIME_WAIT destroyed", &p, nil)
	for _, s := range p.Sockets {
		if s.Cookie == victim.Cookie {
			t.Fatal("the destroyed TIME_WAIT socket is still in the patched table")
		}
	}

	// A UDP bind, anywhere: no event, the UDP counters move.
	udpSocket(t, unix.AF_INET, 0)
	_, counts, err := src.Patch(context.Background(), &p, base, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Within(0, 0) || !counts.Within(0, 1) {
		t.Fatalf("after a UDP bind no event announced the counts are %+v", counts)
	}

	// A mark condition: a socket's mark changes without an event.
	src.SetKernelFilter(markOnly{})
	if _, _, err := src.Patch(context.Background(), &p, base, nil, nil, nil, nil); !errors.Is(err, ErrNoPatch) {
		t.Fatalf("Patch under a mark condition: %v, want ErrNoPatch", err)
	}
}

// A patch looks owners up for the rows the kernel answered for, and
// keeps the others' from the table it kept them from. A new connection's
// inodes are new to the owner cache: the patch's resolve scans (the test
// makes a scan affordable) and its ends show the test's own process. A
// shutdown then changes the pair's states, not their inodes: the second
// patch looks the two fresh rows up in the cache, scans nothing, and
// every row still shows the test's process.
func TestPatchOwnersOfFreshRows(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	l, port := listenTCP(t, unix.AF_INET, 16, nil)
	dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	acceptTCP(t, l)
	src := NewNetlink(Options{TCP: true, UDP: true, IPv4: true, IPv6: true, States: AllStates, Owners: true})
	t.Cleanup(func() { src.Close() })
	whole := lookupSource(t)
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid := unix.Getpid()
	ownedByUs := func(what string, socks []Socket, min int) {
		t.Helper()
		n := 0
		for _, s := range socks {
			if s.Inode == 0 {
				continue
			}
			if len(s.Owners) != 1 || s.Owners[0].PID != pid {
				t.Errorf("%s: %v %v -> %v owned by %+v, want the test (pid %d)", what, s.State, s.Local, s.Remote, s.Owners, pid)
			}
			n++
		}
		if n < min {
			t.Errorf("%s: %d rows with an inode, want %d", what, n, min)
		}
	}
	ownedByUs("the walk", snap.Sockets, 3)

	before, err := whole.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	s := acceptTCP(t, l)
	after, err := whole.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src.owners.lastCost = 0 // a scan is affordable: the new inodes are found
	p, _, err := src.Patch(context.Background(), &snap, SockCounters{}, eventsFor(after.Sockets, before.Sockets), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.patch.fresh) != 2 {
		t.Errorf("%d fresh rows, want the new connection's 2 ends", len(src.patch.fresh))
	}
	ownedByUs("a patch with a new connection", p.Sockets, 5)

	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	waitEOF(t, s)
	// The client's FIN_WAIT_1 -> FIN_WAIT_2 comes with the server's ACK,
	// in softirq: dump until it has.
	var after2 Snapshot
	for try := 0; ; try++ {
		if after2, err = whole.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(after2.Sockets, func(s Socket) bool { return s.State == StateFinWait2 }) {
			break
		}
		if try == 200 {
			t.Fatal("the client never came to FIN_WAIT_2")
		}
		runtime.Gosched()
	}
	src.owners.lastCost = time.Hour // no scan may run: the cache answers
	scans := src.owners.scans
	p2, _, err := src.Patch(context.Background(), &p, SockCounters{}, eventsFor(after2.Sockets, after.Sockets), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.patch.fresh) != 2 || src.owners.scans != scans {
		t.Errorf("a shutdown: %d fresh rows and %d scans, want the pair's 2 ends and none", len(src.patch.fresh), src.owners.scans-scans)
	}
	ownedByUs("a patch with a shutdown", p2.Sockets, 5)
	states := map[State]int{}
	for _, r := range p2.Sockets {
		states[r.State]++
	}
	if states[StateFinWait2] != 1 || states[StateCloseWait] != 1 {
		t.Errorf("after the shutdown the patched table holds %v", states)
	}

	// Owners on screen only: a new connection off screen is not scanned
	// for, however cheap a scan; shown, it is.
	src.SetOwnersOnScreen(true)
	before3 := after2
	dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	acceptTCP(t, l)
	after3, err := whole.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	evs := eventsFor(after3.Sockets, before3.Sockets)
	src.owners.lastCost, src.owners.lastScan = 0, time.Now()
	scans = src.owners.scans
	p3, _, err := src.Patch(context.Background(), &p2, SockCounters{}, evs, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fresh []Socket
	for _, i := range src.patch.fresh {
		r := p3.Sockets[i]
		fresh = append(fresh, r)
		if len(r.Owners) != 0 || r.Known(FieldOwners) {
			t.Errorf("a new row off screen has owners %+v (known %v) without a scan", r.Owners, r.Known(FieldOwners))
		}
	}
	if len(fresh) != 2 || src.owners.scans != scans {
		t.Fatalf("a new connection off screen: %d fresh rows and %d scans, want 2 and none", len(fresh), src.owners.scans-scans)
	}
	p4, _, err := src.Patch(context.Background(), &p3, SockCounters{}, nil, nil, fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.owners.scans != scans+1 {
		t.Errorf("the new rows shown: %d scans, want 1", src.owners.scans-scans)
	}
	ownedByUs("the new rows shown", p4.Sockets, 7)
}
