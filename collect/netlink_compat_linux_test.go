package collect

import (
	"context"
	"net"
	"testing"
)

// The one-walk compat dump and the two per-family dumps must return the
// same sockets, IPv4 and IPv6, with every field decoded alike.
func TestCompatDumpMatchesPerFamily(t *testing.T) {
	var ports = map[uint16]bool{}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ports[uint16(ln.Addr().(*net.TCPAddr).Port)] = true
	}
	ours := func(s Socket) bool { return ports[s.Local.Port()] || ports[s.Remote.Port()] }

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
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()

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
	want := map[uint16]int{
		uint16(ln.Addr().(*net.TCPAddr).Port):     0,
		uint16(ln4.Addr().(*net.TCPAddr).Port):    0,
		uint16(u.LocalAddr().(*net.UDPAddr).Port): 0,
	}
	lastTCP, firstUDP := -1, len(snap.Sockets)
	for i, s := range snap.Sockets {
		if _, ok := want[s.Local.Port()]; ok && s.State != StateTimeWait {
			want[s.Local.Port()]++
		}
		if s.Proto == TCP {
			lastTCP = i
		} else if i < firstUDP {
			firstUDP = i
		}
	}
	for p, c := range want {
		if c != 1 {
			t.Errorf("port %d listed %d times, want once", p, c)
		}
	}
	if lastTCP > firstUDP {
		t.Errorf("TCP socket at %d after the first UDP one at %d: the fallback dumps went to the end", lastTCP, firstUDP)
	}
}
