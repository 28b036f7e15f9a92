//go:build linux

package collect

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
)

// udpSocket binds a UDP socket on the family's loopback, connected to
// peer when peer is not 0.
func udpSocket(t *testing.T, fam, peer int) (*rawFD, int) {
	t.Helper()
	u := newSocket(t, fam, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(fam, loopback(fam), 0)); err != nil {
		t.Fatalf("bind udp: %v", err)
	}
	if peer != 0 {
		if err := unix.Connect(u.fd, sockaddr(fam, loopback(fam), peer)); err != nil {
			t.Fatalf("connect udp: %v", err)
		}
	}
	return u, localPort(t, u)
}

func lookupSource(t *testing.T) *Netlink {
	t.Helper()
	src := NewNetlink(Options{TCP: true, UDP: true, IPv4: true, IPv6: true, States: AllStates})
	t.Cleanup(func() { src.Close() })
	return src
}

// Lookup answers each row of a dump with the same row: TCP established,
// listening and TIME_WAIT, UDP bound and connected, IPv4 and IPv6, all
// in one call, the test's own found by inode (and TIME_WAIT by its
// 4-tuple on the test's own address).
func TestLookupMatchesDump(t *testing.T) {
	src := lookupSource(t)
	var fds []*rawFD
	var keys []Key
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		l, port := listenTCP(t, fam, 8, nil)
		c := dialTCP(t, fam, loopback(fam), port, nil)
		s := acceptTCP(t, l)
		if _, err := unix.Write(c.fd, []byte("queued, unread")); err != nil {
			t.Fatal(err)
		}
		// A connection closed by the client first leaves it in TIME_WAIT.
		tc := dialTCP(t, fam, loopback(fam), port, nil)
		ts := acceptTCP(t, l)
		twKey := Key{Proto: TCP, Local: sockName(t, tc), Remote: peerName(t, tc)}
		tc.Close()
		waitEOF(t, ts)
		ts.Close()
		u, uport := udpSocket(t, fam, 0)
		uc, _ := udpSocket(t, fam, uport)
		if _, err := unix.Write(uc.fd, []byte("dgram")); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, l, c, s, u, uc)
		keys = append(keys, twKey)
	}
	var rows []Socket
	waitSnapshot(t, src, func(snap *Snapshot) bool {
		rows = rows[:0]
		for _, r := range fds {
			if s := findFD(t, snap, r); s != nil {
				rows = append(rows, *s)
			}
		}
		for _, k := range keys {
			if s := findKey(snap, k); s != nil && s.State == StateTimeWait {
				rows = append(rows, *s)
			}
		}
		return len(rows) == len(fds)+len(keys)
	})
	out, err := src.Lookup(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(rows) {
		t.Fatalf("%d answers for %d rows", len(out), len(rows))
	}
	for i := range rows {
		w, p := &rows[i], &out[i]
		if p.Status != PeekFound {
			t.Errorf("%s %s %s -> %s: %v, want found", w.Proto, w.State, w.Local, w.Remote, p.Status)
			continue
		}
		g := &p.Socket
		if g.Proto != w.Proto || g.Family != w.Family || g.State != w.State || g.Local != w.Local || g.Remote != w.Remote ||
			g.RecvQ != w.RecvQ || g.SendQ != w.SendQ || g.UID != w.UID || g.Inode != w.Inode || g.Cookie != w.Cookie ||
			g.Ifindex != w.Ifindex || g.Timer != w.Timer || g.NetNS != w.NetNS {
			t.Errorf("lookup of %+v\n gave %+v", *w, *g)
		}
	}
	// The same call again allocates nothing: out is the caller's.
	if a := testing.AllocsPerRun(20, func() { out, _ = src.Lookup(context.Background(), rows, out) }); a != 0 {
		t.Errorf("Lookup allocates %.1f times a call with the result buffer handed back", a)
	}
}

// A closed socket is not found; the rows around it are, in order.
func TestLookupClosed(t *testing.T) {
	src := lookupSource(t)
	c, s, _ := pairTCP(t, unix.AF_INET)
	u, _ := udpSocket(t, unix.AF_INET6, 0)
	snap := waitSnapshot(t, src, func(snap *Snapshot) bool {
		return findFD(t, snap, c) != nil && findFD(t, snap, s) != nil && findFD(t, snap, u) != nil
	})
	rows := []Socket{*findFD(t, &snap, c), *findFD(t, &snap, u), *findFD(t, &snap, s)}
	u.Close()
	s.Close() // a FIN: the client goes to CLOSE_WAIT
	waitfor.Until(t, 10*time.Second, "the client to see the FIN", func() bool {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		g := findFD(t, &snap, c)
		return g != nil && g.State == StateCloseWait
	})
	out, err := src.Lookup(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[1].Status != PeekMissing {
		t.Errorf("closed UDP socket: %v, want missing", out[1].Status)
	}
	if out[0].Status != PeekFound || out[0].Socket.State != StateCloseWait {
		t.Errorf("client after the server's close: %v %v, want found in CLOSE_WAIT", out[0].Status, out[0].Socket.State)
	}
	// The server end is an orphan in FIN_WAIT_2 now, or gone: either way
	// the kernel's answer is its state, never the old ESTABLISHED.
	if out[2].Status == PeekFound && out[2].Socket.State == StateEstablished {
		t.Errorf("closed server end still found established")
	}
	// A cookie the kernel never gave is not taken for the socket.
	bad := rows[0]
	bad.Cookie ^= 1 << 40
	out, err = src.Lookup(context.Background(), []Socket{bad}, out)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Status != PeekMissing {
		t.Errorf("wrong cookie: %v, want missing", out[0].Status)
	}
}

// A socket whose queue grew shows the new Recv-Q, as the dump does.
func TestLookupQueueGrew(t *testing.T) {
	src := lookupSource(t)
	c, s, _ := pairTCP(t, unix.AF_INET6)
	snap := waitSnapshot(t, src, func(snap *Snapshot) bool { return findFD(t, snap, s) != nil })
	row := *findFD(t, &snap, s)
	if row.RecvQ != 0 {
		t.Fatalf("fresh connection has Recv-Q %d", row.RecvQ)
	}
	msg := make([]byte, 1000)
	if _, err := unix.Write(c.fd, msg); err != nil {
		t.Fatal(err)
	}
	var out []Peeked
	waitfor.Until(t, 10*time.Second, "the written bytes in Recv-Q", func() bool {
		var err error
		if out, err = src.Lookup(context.Background(), []Socket{row}, out); err != nil {
			t.Fatal(err)
		}
		return out[0].Status == PeekFound && out[0].Socket.RecvQ == 1000
	})
	snap = waitSnapshot(t, src, func(snap *Snapshot) bool { return findFD(t, snap, s) != nil })
	if got := findFD(t, &snap, s).RecvQ; got != out[0].Socket.RecvQ {
		t.Errorf("dump says Recv-Q %d, lookup %d", got, out[0].Socket.RecvQ)
	}
}

// Of a SO_REUSEPORT group of listeners the kernel looks up one, by a
// hash of the request's addresses: the others are missing though they
// listen, which is why a listener that is missing is not peekable rather
// than gone.
func TestLookupReuseportGroup(t *testing.T) {
	src := lookupSource(t)
	reuse := func(r *rawFD) { setInt(t, r, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) }
	a, port := listenTCP(t, unix.AF_INET, 8, reuse)
	b := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	reuse(b)
	if err := unix.Bind(b.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), port)); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(b.fd, 8); err != nil {
		t.Fatal(err)
	}
	snap := waitSnapshot(t, src, func(snap *Snapshot) bool { return findFD(t, snap, a) != nil && findFD(t, snap, b) != nil })
	out, err := src.Lookup(context.Background(), []Socket{*findFD(t, &snap, a), *findFD(t, &snap, b)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range out {
		switch p.Status {
		case PeekFound:
			found++
		case PeekMissing:
		default:
			t.Errorf("listener not asked: %v", p.Status)
		}
	}
	if found != 1 {
		t.Errorf("%d of the group's two listeners found, want the one the hash picks", found)
	}
}

func sockName(t *testing.T, r *rawFD) netip.AddrPort {
	t.Helper()
	sa, err := unix.Getsockname(r.fd)
	if err != nil {
		t.Fatal(err)
	}
	return addrPortOf(sa)
}

func peerName(t *testing.T, r *rawFD) netip.AddrPort {
	t.Helper()
	sa, err := unix.Getpeername(r.fd)
	if err != nil {
		t.Fatal(err)
	}
	return addrPortOf(sa)
}

// The counters follow the namespace's own sockets: a UDP bind, a TCP
// listener of each family, a TIME_WAIT. They are the namespace's, which
// any program moves, so the test runs in a namespace of its own.
func TestSockstatCounters(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	src := lookupSource(t)
	read := func() SockCounters {
		t.Helper()
		c, err := src.Sockstat()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := read()
	udpSocket(t, unix.AF_INET, 0)
	udpSocket(t, unix.AF_INET6, 0)
	listenTCP(t, unix.AF_INET, 8, nil)
	listenTCP(t, unix.AF_INET6, 8, nil)
	c, s, _ := pairTCP(t, unix.AF_INET)
	c.Close()
	waitEOF(t, s)
	s.Close()
	after := read()
	want := before
	want.UDPInUse++
	want.UDP6InUse++
	want.TCPInUse++ // the v4 listener; the pair's ends are closed
	want.TCP6InUse++
	want.TCPTimeWait++
	if after != want {
		t.Errorf("counters went from %+v to %+v, want %+v", before, after, want)
	}
	if a := testing.AllocsPerRun(20, func() { _, _ = src.Sockstat() }); a != 0 {
		t.Errorf("Sockstat allocates %.1f times a read", a)
	}
}
