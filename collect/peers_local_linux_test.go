//go:build linux

package collect

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPeersLocal pairs the ends of the test's own local connections in a
// real dump: a TCP pair on its own 127.a.b.c, a TCP pair on ::1, an IPv4
// client of a dual-stack listener (whose accepted end is AF_INET6 with a
// v4-mapped address), a connected UDP pair, a UDP client of an
// unconnected server, and a Unix socketpair. Each end
// is found by inode, its peer is the row of the other descriptor, and the
// peer's owner is this process. A listener has no peer, and a UDP socket
// connected to a documentation address (connect sends nothing) through
// the default route is not
// local.
func TestPeersLocal(t *testing.T) {
	c4, s4, _ := pairTCP(t, unix.AF_INET)
	c6, s6, _ := pairTCP(t, unix.AF_INET6)

	dual := newSocket(t, unix.AF_INET6, unix.SOCK_STREAM)
	setInt(t, dual, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	must(t, "bind [::]", unix.Bind(dual.fd, &unix.SockaddrInet6{}))
	must(t, "listen", unix.Listen(dual.fd, 4))
	cm := dialTCP(t, unix.AF_INET, testAddr4, localPort(t, dual), nil)
	sm := acceptTCP(t, dual)

	udp := func() *rawFD {
		u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
		must(t, "bind udp", unix.Bind(u.fd, sockaddr(unix.AF_INET, testAddr4, 0)))
		return u
	}
	u1, u2 := udp(), udp()
	must(t, "connect udp", unix.Connect(u1.fd, sockaddr(unix.AF_INET, testAddr4, localPort(t, u2))))
	must(t, "connect udp", unix.Connect(u2.fd, sockaddr(unix.AF_INET, testAddr4, localPort(t, u1))))

	// A UDP server, connected to nobody, and a client connected to it.
	srv, cli := udp(), udp()
	must(t, "connect udp", unix.Connect(cli.fd, sockaddr(unix.AF_INET, testAddr4, localPort(t, srv))))

	// Unbound: the kernel refuses a loopback source towards another host.
	far := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
	farOK := true
	if err := unix.Connect(far.fd, sockaddr(unix.AF_INET, netip.MustParseAddr("198.51.100.1"), 9)); err != nil {
		if !errors.Is(err, unix.ENETUNREACH) {
			t.Fatalf("connect udp to 198.51.100.1: %v", err)
		}
		farOK = false // no route at all: the unit test covers it
	}
	pair := unixPair(t, unix.SOCK_STREAM)

	src := NewNetlink(Options{Unix: true, TCP: true, UDP: true, Owners: true})
	t.Cleanup(func() { src.Close() })
	inodes := func(fds ...int) []uint32 {
		out := make([]uint32, len(fds))
		for i, fd := range fds {
			out[i] = inodeOf(t, fd)
		}
		return out
	}
	want := inodes(c4.fd, s4.fd, c6.fd, s6.fd, cm.fd, sm.fd, u1.fd, u2.fd, far.fd, dual.fd, pair[0], pair[1], srv.fd, cli.fd)
	byIno := func(snap *Snapshot) map[uint32]*Socket {
		m := make(map[uint32]*Socket, len(want))
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			for _, in := range want {
				if s.Inode == in {
					m[in] = s
				}
			}
		}
		return m
	}
	snap := waitSnapshot(t, src, func(s *Snapshot) bool { return len(byIno(s)) == len(want) })
	rows := byIno(&snap)
	var p Peers
	p.Build(snap.Sockets)

	for _, c := range []struct {
		name string
		a, b int
	}{
		{"tcp 127.a.b.c", c4.fd, s4.fd}, {"tcp ::1", c6.fd, s6.fd},
		{"tcp v4 client of a dual-stack listener", cm.fd, sm.fd},
		{"udp connected pair", u1.fd, u2.fd}, {"unix socketpair", pair[0], pair[1]},
	} {
		for _, d := range [][2]int{{c.a, c.b}, {c.b, c.a}} {
			s, w := rows[inodeOf(t, d[0])], rows[inodeOf(t, d[1])]
			got, st := p.Find(s)
			if st != PeerFound || got != w {
				t.Errorf("%s: Find(%v -> %v) = %v, %v; want the row of inode %d", c.name, s.Local, s.Remote, got, st, w.Inode)
				continue
			}
			if !ownedByMe(got) {
				t.Errorf("%s: the peer's owners are %v, want this process", c.name, got.Owners)
			}
			if p.Of(s) != got {
				t.Errorf("%s: Of disagrees with Find", c.name)
			}
		}
	}
	if got, st := p.Find(rows[inodeOf(t, cli.fd)]); st != PeerFound || got != rows[inodeOf(t, srv.fd)] {
		t.Errorf("the UDP client: Find = %v, %v; want its server", got, st)
	}
	if got, st := p.Find(rows[inodeOf(t, srv.fd)]); got != nil || st != PeerNone {
		t.Errorf("the UDP server: Find = %v, %v; want no peer", got, st)
	}
	if got, st := p.Find(rows[inodeOf(t, dual.fd)]); got != nil || st != PeerNone {
		t.Errorf("the listener: Find = %v, %v; want no peer", got, st)
	}
	if farOK {
		s := rows[inodeOf(t, far.fd)]
		if got, st := p.Find(s); got != nil || st != PeerNotLocal {
			t.Errorf("udp connected to %v: Find = %v, %v; want not local", s.Remote, got, st)
		}
	}

	// Once the server closes, the client (CLOSE_WAIT) is paired with the
	// server's orphan end, FIN_WAIT_1 or 2 without an inode or owner; and a
	// rebuilt index answers from the new snapshot.
	client := inodeOf(t, c4.fd)
	s4.Close()
	snap = waitSnapshot(t, src, func(s *Snapshot) bool {
		for i := range s.Sockets {
			if s.Sockets[i].Inode == client {
				return s.Sockets[i].State == StateCloseWait
			}
		}
		return false
	})
	rows = byIno(&snap)
	p.Build(snap.Sockets)
	got, st := p.Find(rows[client])
	if st != PeerFound || got.Inode != 0 || (got.State != StateFinWait1 && got.State != StateFinWait2) || len(got.Owners) != 0 {
		t.Errorf("after the server closed, the client's peer is %+v (%v), want its orphan FIN_WAIT end", got, st)
	}
	if got, st := p.Find(rows[inodeOf(t, c6.fd)]); st != PeerFound || got != rows[inodeOf(t, s6.fd)] {
		t.Errorf("after a rebuild, the ::1 pair: %v, %v", got, st)
	}
}
