//go:build linux

package collect

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
)

// sockstatSkipSource is an --all-netns source that dumps only the given
// namespaces besides socktop's.
func sockstatSkipSource(t *testing.T, spaces ...testNetns) *Netlink {
	t.Helper()
	n := NewNetlink(Options{AllNetNS: true})
	mine := map[uint32]bool{}
	for _, ns := range spaces {
		mine[ns.inode] = true
	}
	n.others.scan.keep = func(ns NetNS) bool { return mine[ns.Inode] }
	t.Cleanup(func() { n.Close() })
	return n
}

// skipOf returns the skip bits of namespace ns's last dump.
func skipOf(t *testing.T, n *Netlink, ns testNetns) uint8 {
	t.Helper()
	c := n.others.conns[ns.inode]
	if c == nil {
		t.Fatalf("namespace %s not kept", ns.name)
	}
	return c.skip
}

// rowsIn checks that the snapshot's rows of ns are those of ss -tanuHe
// run inside it, by protocol, addresses and state, and returns how many.
func rowsIn(t *testing.T, snap *Snapshot, ns testNetns) int {
	t.Helper()
	want := map[Key]string{}
	for _, l := range ssIn(t, ns.name, "-tanuHe") {
		want[Key{Proto: l.proto, Local: l.local, Remote: l.peer}] = l.state
	}
	got := 0
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.NetNS.Inode != ns.inode {
			continue
		}
		got++
		st, ok := want[Key{Proto: s.Proto, Local: s.Local, Remote: s.Remote}]
		if !ok || st != s.State.SSName() {
			t.Errorf("%s: socktop %v %v -> %v %s, ss has %q", ns.name, s.Proto, s.Local, s.Remote, s.State.SSName(), st)
		}
	}
	if got != len(want) {
		t.Errorf("%s: socktop %d rows, ss %d", ns.name, got, len(want))
	}
	return got
}

// TestNetNSSockstatSkips makes namespaces holding nothing, only UDP, only
// a TIME_WAIT connection (sockstat's tw, not inuse), and TCP and UDP: the
// dumps each one's counters say it needs are made, the others skipped,
// and the rows agree with ss inside each.
func TestNetNSSockstatSkips(t *testing.T) {
	empty, udpOnly, twOnly, full := newTestNetns(t), newTestNetns(t), newTestNetns(t), newTestNetns(t)
	inNetns(t, udpOnly.path, func() {
		u := newSocket(t, unix.AF_INET6, unix.SOCK_DGRAM)
		if err := unix.Bind(u.fd, sockaddr(unix.AF_INET6, loopback(unix.AF_INET6), 0)); err != nil {
			t.Fatal(err)
		}
	})
	inNetns(t, twOnly.path, func() {
		c, s, _ := pairTCP(t, unix.AF_INET)
		c.Close() // the active closer holds TIME_WAIT
		s.Close()
	})
	waitfor.Until(t, 10*time.Second, "the connection in "+twOnly.name+" reaches TIME_WAIT alone", func() bool {
		lines := ssIn(t, twOnly.name, "-tanuHe")
		return len(lines) == 1 && lines[0].state == "TIME-WAIT"
	})
	fillNetns(t, full)

	n := sockstatSkipSource(t, empty, udpOnly, twOnly, full)
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns   testNetns
		skip uint8
		rows int
	}{
		{empty, skipTCP | skipUDP, 0},
		{udpOnly, skipTCP, 1},
		{twOnly, skipUDP, 1},
		{full, 0, 4},
	} {
		if got := skipOf(t, n, c.ns); got != c.skip {
			t.Errorf("%s: skip %02b, want %02b", c.ns.name, got, c.skip)
		}
		if got := rowsIn(t, &snap, c.ns); got != c.rows {
			t.Errorf("%s: %d rows, want %d", c.ns.name, got, c.rows)
		}
	}

	// The files kept open read the namespace's counters now: a listener
	// and an IPv6 UDP socket opened in the empty one are dumped at the
	// next refresh.
	inNetns(t, empty.path, func() {
		listenTCP(t, unix.AF_INET6, 8, nil)
		u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
		if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
			t.Fatal(err)
		}
	})
	snap, err = n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := skipOf(t, n, empty); got != 0 {
		t.Errorf("%s with a listener and a UDP socket: skip %02b, want none", empty.name, got)
	}
	if got := rowsIn(t, &snap, empty); got != 2 {
		t.Errorf("%s: %d rows, want the listener and the UDP socket", empty.name, got)
	}
}

// TestNetNSSockstatBoundInactive: a TCP socket that is only bound is not
// in sockstat's counters, so a dump that asks for bound-inactive sockets
// is made in a namespace whose counters say it has no TCP.
func TestNetNSSockstatBoundInactive(t *testing.T) {
	ns := newTestNetns(t)
	var port int
	inNetns(t, ns.path, func() {
		b := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
		if err := unix.Bind(b.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
			t.Fatal(err)
		}
		port = localPort(t, b)
	})
	n := sockstatSkipSource(t, ns)
	n.SetStates(StateMask(1<<StateBoundInactive | 1<<StateClosed))
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := skipOf(t, n, ns); got&skipTCP != 0 {
		t.Errorf("bound-inactive asked for: TCP skipped (%02b)", got)
	}
	found := false
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.NetNS.Inode == ns.inode && s.Proto == TCP && int(s.Local.Port()) == port {
			found = true
		}
	}
	if !found {
		t.Errorf("the bound TCP socket on port %d in %s is not listed", port, ns.name)
	}
}

// TestSockstatProtosFixture reads the counters from sockstat text of
// this kernel's format; text without a line or a number it needs is not
// read as "none".
func TestSockstatProtosFixture(t *testing.T) {
	// orphan is the host's, whatever the namespace: not counted.
	v4 := "sockets: used 12129\nTCP: inuse 0 orphan 7 tw 3 alloc 12108 mem 757\nUDP: inuse 2 mem 256\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	v6 := "TCP6: inuse 5\nUDP6: inuse 0\nUDPLITE6: inuse 0\n"
	if tcp, udp, ok := sockstatProtos([]byte(v4), true); !ok || tcp != 3 || udp != 2 {
		t.Errorf("sockstat: tcp %d udp %d ok %v, want 3 2 true", tcp, udp, ok)
	}
	if tcp, udp, ok := sockstatProtos([]byte(v6), false); !ok || tcp != 5 || udp != 0 {
		t.Errorf("sockstat6: tcp %d udp %d ok %v, want 5 0 true", tcp, udp, ok)
	}
	for _, bad := range []string{
		"",
		"TCP: inuse 0 orphan 0 tw 0\n",          // no UDP line
		"TCP: inuse 0 orphan 0\nUDP: inuse 0\n", // no tw
		"TCP: orphan 0 tw 0\nUDP: inuse 0\n",    // no inuse
		"TCP: inuse 0 orphan 0 tw x\nUDP: inuse 0\n",         // not a number
		"TCP: inuse 0 orphan 0 tw 0 alloc 1\nUDP: mem 256\n", // no UDP inuse
	} {
		if _, _, ok := sockstatProtos([]byte(bad), true); ok {
			t.Errorf("sockstat %q read as known", bad)
		}
	}
}
