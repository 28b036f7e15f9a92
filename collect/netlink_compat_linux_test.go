package collect

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// The one-walk compat dump and the two per-family dumps must return the
// same sockets, IPv4 and IPv6, with every field decoded alike.
func TestCompatDumpMatchesPerFamily(t *testing.T) {
	own := mine(t)
	for _, addr := range []netip.Addr{testAddr4, netip.IPv6Loopback()} {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		own.addConn(t, ln)
		// The child stays in the accept queue: its row has no inode, and
		// is found by the client's 4-tuple.
		c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		own.addConn(t, c)
	}
	ours := func(s Socket) bool { return own.has(&s) }

	compat := NewNetlink(Options{TCP: true})
	defer compat.Close()
	perFam := NewNetlink(Options{TCP: true})
	defer perFam.Close()
	perFam.noCompat = true

	a, err := compat.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if compat.noCompat {
		// Only EINVAL, ENOENT or EOPNOTSUPP switch it off (compatRefused);
		// any other failure made Snapshot fail above.
		t.Skip("this kernel has no TCPDIAG_GETSOCK; the per-family dumps are in use")
	}
	b, err := perFam.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[Key]Socket{}
	for _, s := range a.Sockets {
		if ours(s) {
			s.Cookie, s.TimerLeft = 0, 0 // the keepalive countdown moves between dumps
			got[s.Key()] = s
		}
	}
	n, fams := 0, map[uint8]int{}
	for _, s := range b.Sockets {
		if !ours(s) {
			continue
		}
		n++
		fams[s.Family]++
		s.Cookie, s.TimerLeft = 0, 0
		g, ok := got[s.Key()]
		if !ok {
			t.Errorf("compat dump lacks %v %v", s.Key(), s.State)
			continue
		}
		if g.State != s.State || g.Family != s.Family || g.Inode != s.Inode || g.RecvQ != s.RecvQ || g.SendQ != s.SendQ || g.UID != s.UID || g.Timer != s.Timer {
			t.Errorf("compat %+v\nper-family %+v", g, s)
		}
	}
	// A listener, a client and an accepted child per family.
	if n != 6 || len(got) != 6 || fams[4] != 3 || fams[6] != 3 {
		t.Fatalf("per-family dump has %d of our sockets (%v), compat %d; want 3 per family", n, fams, len(got))
	}
}

// When the kernel refuses the compat request, the snapshot falls back to
// per-family dumps in the same place: every socket once, TCP before UDP.
func TestCompatRefusedFallsBack(t *testing.T) {
	ln, err := net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln4, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	inode := func(c interface {
		SyscallConn() (syscall.RawConn, error)
	}) uint32 {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var in uint32
		rc.Control(func(fd uintptr) { in = inodeOf(t, int(fd)) })
		return in
	}

	n := NewNetlink(Options{})
	defer n.Close()
	n.compatType = 99 // not a sock_diag message type: the kernel says EINVAL
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("a refused compat dump must fall back, got %v", err)
	}
	if !n.noCompat {
		t.Fatal("the refused compat dump did not switch to per-family dumps")
	}
	want := map[uint32]int{inode(ln): 0, inode(ln4): 0, inode(u): 0}
	lastTCP, firstUDP := -1, len(snap.Sockets)
	for i, s := range snap.Sockets {
		if _, ok := want[s.Inode]; ok {
			want[s.Inode]++
		}
		if s.Proto == TCP {
			lastTCP = i
		} else if i < firstUDP {
			firstUDP = i
		}
	}
	for in, c := range want {
		if c != 1 {
			t.Errorf("socket with inode %d listed %d times, want once", in, c)
		}
	}
	if lastTCP > firstUDP {
		t.Errorf("TCP socket at %d after the first UDP one at %d: the fallback dumps went to the end", lastTCP, firstUDP)
	}
}
