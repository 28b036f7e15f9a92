//go:build linux

package collect

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rowOf returns the collector's row of the socket behind r, found by its
// inode, and checks its cookie against SO_COOKIE.
func rowOf(t *testing.T, r *rawFD) Socket {
	t.Helper()
	n := NewNetlink(Options{States: AllStates})
	defer n.Close()
	snap := waitSnapshot(t, n, func(s *Snapshot) bool { return findFD(t, s, r) != nil })
	row := *findFD(t, &snap, r)
	if c := cookieOf(t, r.fd); row.Cookie != c {
		t.Fatalf("dump cookie %d, SO_COOKIE %d", row.Cookie, c)
	}
	return row
}

func cookieOf(t *testing.T, fd int) uint64 {
	t.Helper()
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil || c == 0 {
		t.Fatalf("SO_COOKIE: %d, %v", c, err)
	}
	return c
}

// ssListed reports whether `ss -tanuHe` lists a socket with this cookie.
func ssListed(t *testing.T, cookie uint64) bool {
	t.Helper()
	out, err := exec.Command("ss", "-tanuHe").Output()
	if err != nil {
		t.Fatalf("ss -tanuHe: %v", err)
	}
	lines, err := parseSS(out, 0)
	if err != nil {
		t.Fatalf("parsing ss -tanuHe: %v", err)
	}
	for _, l := range lines {
		if l.cookie == cookie {
			return true
		}
	}
	return false
}

// readErr reads from r (a guard timeout keeps a failed kill from hanging
// the test) and returns the errno, or EAGAIN when nothing came.
func readErr(t *testing.T, r *rawFD) error {
	t.Helper()
	tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for {
		n, err := unix.Read(r.fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return errors.New("EOF")
		}
		return errors.New("data: " + string(buf[:n]))
	}
}

// alive checks that a and b still talk to each other: a byte sent from a
// arrives at b.
func alive(t *testing.T, a, b *rawFD) {
	t.Helper()
	if _, err := unix.Write(a.fd, []byte("x")); err != nil {
		t.Fatalf("the surviving socket cannot send: %v", err)
	}
	if err := readErr(t, b); err == nil || err.Error() != "data: x" {
		t.Fatalf("the surviving socket's peer read %v, want the byte sent", err)
	}
}

func mappedAddr() netip.Addr { return netip.AddrFrom16(testAddr4.As16()) }

// pairMapped returns a connected pair of AF_INET6 sockets talking over
// the test's IPv4 address as ::ffff:127.a.b.c.
func pairMapped(t *testing.T) (client, server *rawFD) {
	t.Helper()
	l := newSocket(t, unix.AF_INET6, unix.SOCK_STREAM)
	if err := unix.Bind(l.fd, sockaddr(unix.AF_INET6, mappedAddr(), 0)); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := unix.Listen(l.fd, 8); err != nil {
		t.Fatal(err)
	}
	client = newSocket(t, unix.AF_INET6, unix.SOCK_STREAM)
	if err := unix.Bind(client.fd, sockaddr(unix.AF_INET6, mappedAddr(), 0)); err != nil {
		t.Fatalf("bind client: %v", err)
	}
	if err := unix.Connect(client.fd, sockaddr(unix.AF_INET6, mappedAddr(), localPort(t, l))); err != nil {
		t.Fatalf("connect: %v", err)
	}
	mine(t).addFD(t, client.fd)
	server = acceptTCP(t, l)
	l.Close()
	return client, server
}

// TestDestroyTCP kills one end of a connected pair by its cookie: the
// killed end's read fails with ECONNABORTED, the peer's with ECONNRESET
// (it got the RST), and ss lists neither any more.
func TestDestroyTCP(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fam        int
		mapped     bool
		killServer bool
	}{
		{"ipv4", unix.AF_INET, false, false},
		{"ipv6", unix.AF_INET6, false, true},
		{"ipv4-mapped", unix.AF_INET6, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c, s *rawFD
			if tc.mapped {
				c, s = pairMapped(t)
			} else {
				c, s, _ = pairTCP(t, tc.fam)
			}
			victim, peer := c, s
			if tc.killServer {
				victim, peer = s, c
			}
			row := rowOf(t, victim)
			if tc.mapped && (row.Family != 6 || !row.Local.Addr().Is4In6()) {
				t.Fatalf("not an IPv4-mapped IPv6 row: %+v", row)
			}
			// Namespace support names the host's namespace by its inode.
			row.NetNS.Inode = ownNetNS()
			if !ssListed(t, row.Cookie) {
				t.Fatalf("ss does not list cookie %d before the kill", row.Cookie)
			}
			if err := Destroy(context.Background(), &row); err != nil {
				t.Fatalf("Destroy: %v", err)
			}
			if err := readErr(t, victim); !errors.Is(err, unix.ECONNABORTED) {
				t.Errorf("the killed socket's read: %v, want ECONNABORTED", err)
			}
			if err := readErr(t, peer); !errors.Is(err, unix.ECONNRESET) {
				t.Errorf("the peer's read: %v, want ECONNRESET (the RST)", err)
			}
			if ssListed(t, row.Cookie) {
				t.Errorf("ss still lists the killed socket (cookie %d)", row.Cookie)
			}
		})
	}
}

// udpPair returns two UDP sockets on loopback connected to each other.
func udpPairRaw(t *testing.T, fam int) (a, b *rawFD) {
	t.Helper()
	a = newSocket(t, fam, unix.SOCK_DGRAM)
	b = newSocket(t, fam, unix.SOCK_DGRAM)
	for _, r := range []*rawFD{a, b} {
		if err := unix.Bind(r.fd, sockaddr(fam, loopback(fam), 0)); err != nil {
			t.Fatalf("bind: %v", err)
		}
	}
	connectUDP(t, a, fam, localPort(t, b))
	connectUDP(t, b, fam, localPort(t, a))
	return a, b
}

func connectUDP(t *testing.T, r *rawFD, fam, port int) {
	t.Helper()
	if err := unix.Connect(r.fd, sockaddr(fam, loopback(fam), port)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	mine(t).addFD(t, r.fd)
}

// TestDestroyUDP kills a connected UDP socket and an unconnected one: the
// program's next recv fails with ECONNABORTED. Both were bound to port 0,
// so the kernel gives the port back and ss no longer lists them.
func TestDestroyUDP(t *testing.T) {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		a, _ := udpPairRaw(t, fam)
		u := newSocket(t, fam, unix.SOCK_DGRAM)
		if err := unix.Bind(u.fd, sockaddr(fam, loopback(fam), 0)); err != nil {
			t.Fatal(err)
		}
		for _, victim := range []*rawFD{a, u} {
			row := rowOf(t, victim)
			if want := map[*rawFD]State{a: StateEstablished, u: StateUnconn}[victim]; row.State != want {
				t.Fatalf("row %+v, want %s", row, want)
			}
			if err := Destroy(context.Background(), &row); err != nil {
				t.Fatalf("Destroy %s: %v", row.State, err)
			}
			if err := readErr(t, victim); !errors.Is(err, unix.ECONNABORTED) {
				t.Errorf("family %d %s: recv after the kill: %v, want ECONNABORTED", fam, row.State, err)
			}
			if ssListed(t, row.Cookie) {
				t.Errorf("family %d %s: ss still lists the killed socket (cookie %d)", fam, row.State, row.Cookie)
			}
		}
	}
}

// TestDestroyWrongCookie: a cookie that does not match the socket on the
// 4-tuple kills nothing; the error says so, wrapping ErrNotFound and the
// kernel's ENOENT.
func TestDestroyWrongCookie(t *testing.T) {
	c, s, _ := pairTCP(t, unix.AF_INET)
	row := rowOf(t, c)
	row.Cookie++
	err := Destroy(context.Background(), &row)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "no longer matches") {
		t.Fatalf("Destroy with a wrong cookie: %v, want ErrNotFound, ENOENT and the words", err)
	}
	alive(t, c, s)
	alive(t, s, c)
	if !ssListed(t, row.Cookie-1) {
		t.Errorf("ss no longer lists the live socket")
	}
}

// TestDestroyReusedTuple: a socket is closed and a new one takes its exact
// 4-tuple; killing the old one by its cookie leaves the new one alone.
// The kernel answers ENOENT; the error wraps ErrNotFound and says which
// of gone and reused it was.
func TestDestroyReusedTuple(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		l, port := listenTCP(t, unix.AF_INET, 8, nil)
		reuse := func(r *rawFD) { setInt(t, r, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }
		c1 := dialTCP(t, unix.AF_INET, testAddr4, port, reuse)
		s1 := acceptTCP(t, l)
		old := rowOf(t, c1)
		// SO_LINGER 0: close sends an RST and leaves no TIME_WAIT behind,
		// so the 4-tuple is free at once.
		if err := unix.SetsockoptLinger(c1.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			t.Fatal(err)
		}
		c1.Close()
		if err := readErr(t, s1); !errors.Is(err, unix.ECONNRESET) {
			t.Fatalf("the old server end: %v, want ECONNRESET", err)
		}
		s1.Close()
		c2 := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
		reuse(c2)
		if err := unix.Bind(c2.fd, sockaddr(unix.AF_INET, testAddr4, int(old.Local.Port()))); err != nil {
			t.Fatalf("bind the old client's port again: %v", err)
		}
		if err := unix.Connect(c2.fd, sockaddr(unix.AF_INET, testAddr4, port)); err != nil {
			t.Fatal(err)
		}
		s2 := acceptTCP(t, l)
		cur := rowOf(t, c2)
		if cur.Key() != old.Key() || cur.Cookie == old.Cookie {
			t.Fatalf("the new socket %+v does not reuse the old one's 4-tuple with a new cookie (%+v)", cur, old)
		}
		err := Destroy(context.Background(), &old)
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "no longer matches") {
			t.Fatalf("Destroy of the closed socket: %v, want ErrNotFound (ENOENT), the cookie no longer matching", err)
		}
		alive(t, c2, s2)
		alive(t, s2, c2)
	})
	t.Run("udp", func(t *testing.T) {
		a1, b := udpPairRaw(t, unix.AF_INET)
		old := rowOf(t, a1)
		a1.Close()
		if err := Destroy(context.Background(), &old); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "already gone") {
			t.Fatalf("Destroy of the closed socket: %v, want ErrNotFound, already gone", err)
		}
		a2 := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
		if err := unix.Bind(a2.fd, sockaddr(unix.AF_INET, testAddr4, int(old.Local.Port()))); err != nil {
			t.Fatalf("bind the old socket's port again: %v", err)
		}
		connectUDP(t, a2, unix.AF_INET, localPort(t, b))
		cur := rowOf(t, a2)
		if cur.Key() != old.Key() || cur.Cookie == old.Cookie {
			t.Fatalf("the new socket %+v does not reuse the old one's 4-tuple with a new cookie (%+v)", cur, old)
		}
		err := Destroy(context.Background(), &old)
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "no longer matches") {
			t.Fatalf("Destroy of the closed socket: %v, want ErrNotFound (ENOENT), the cookie no longer matching", err)
		}
		alive(t, b, a2)
		alive(t, a2, b)
	})
}

// TestDestroyBoundDevice: the kernel finds a socket bound to a device only
// when asked with the device's index, which a row does not carry; Destroy
// looks it up by cookie.
func TestDestroyBoundDevice(t *testing.T) {
	l, port := listenTCP(t, unix.AF_INET, 8, nil)
	c := dialTCP(t, unix.AF_INET, testAddr4, port, func(r *rawFD) {
		if err := unix.SetsockoptString(r.fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo"); err != nil {
			t.Fatalf("SO_BINDTODEVICE lo: %v", err)
		}
	})
	s := acceptTCP(t, l)
	row := rowOf(t, c)
	if err := Destroy(context.Background(), &row); err != nil {
		t.Fatalf("Destroy of a socket bound to lo: %v", err)
	}
	if err := readErr(t, c); !errors.Is(err, unix.ECONNABORTED) {
		t.Errorf("the killed socket's read: %v, want ECONNABORTED", err)
	}
	if err := readErr(t, s); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("the peer's read: %v, want ECONNRESET", err)
	}
}

// TestDestroyTimeWaitAndListen records what this kernel does with the
// sockets ss -K users ask about: a TIME_WAIT mini-socket is dropped at
// once, and a listener is closed (accept fails with EINVAL, a new connect
// is refused). The README says the same.
func TestDestroyTimeWaitAndListen(t *testing.T) {
	n := NewNetlink(Options{States: AllStates})
	defer n.Close()

	l, port := listenTCP(t, unix.AF_INET, 8, nil)
	c := dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	s := acceptTCP(t, l)
	k := Key{Proto: TCP}
	la, err1 := unix.Getsockname(c.fd)
	ra, err2 := unix.Getpeername(c.fd)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	k.Local, k.Remote = addrPortOf(la), addrPortOf(ra)
	c.Close() // the active closer goes to TIME_WAIT
	waitEOF(t, s)
	s.Close()
	snap := waitSnapshot(t, n, func(sn *Snapshot) bool {
		r := findKey(sn, k)
		return r != nil && r.State == StateTimeWait
	})
	tw := *findKey(&snap, k)
	if !ssListed(t, tw.Cookie) {
		t.Fatalf("ss does not list the TIME_WAIT socket %+v", tw)
	}
	if err := Destroy(context.Background(), &tw); err != nil {
		t.Fatalf("Destroy of TIME_WAIT: %v", err)
	}
	if ssListed(t, tw.Cookie) {
		t.Errorf("ss still lists the killed TIME_WAIT socket")
	}

	row := rowOf(t, l)
	if row.State != StateListen {
		t.Fatalf("listener row %+v", row)
	}
	if err := Destroy(context.Background(), &row); err != nil {
		t.Fatalf("Destroy of LISTEN: %v", err)
	}
	if _, _, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC); !errors.Is(err, unix.EINVAL) {
		t.Errorf("accept on the killed listener: %v, want EINVAL", err)
	}
	c2 := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := unix.Connect(c2.fd, sockaddr(unix.AF_INET, testAddr4, port)); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("connect to the killed listener: %v, want ECONNREFUSED", err)
	}
	if ssListed(t, row.Cookie) {
		t.Errorf("ss still lists the killed listener")
	}
}

// TestDestroyInNetNS kills a socket that lives in a namespace the test
// made: the kill is asked inside it, and ip netns exec NS ss no longer
// lists the socket.
func TestDestroyInNetNS(t *testing.T) {
	ns := newTestNetns(t)
	var c, s *rawFD
	inNetns(t, ns.path, func() { c, s, _ = pairTCP(t, unix.AF_INET) })
	n := NewNetlink(Options{States: AllStates, AllNetNS: true})
	defer n.Close()
	snap := waitSnapshot(t, n, func(sn *Snapshot) bool { return findFD(t, sn, c) != nil })
	row := *findFD(t, &snap, c)
	if row.NetNS.Inode != ns.inode {
		t.Fatalf("row %+v is not of namespace %d", row, ns.inode)
	}
	inside := func() bool {
		for _, l := range ssIn(t, ns.name, "-tanuHe") {
			if l.cookie == row.Cookie {
				return true
			}
		}
		return false
	}
	if !inside() {
		t.Fatalf("ss in %s does not list cookie %d", ns.name, row.Cookie)
	}
	if err := Destroy(context.Background(), &row); err != nil {
		t.Fatalf("Destroy in %s: %v", ns.name, err)
	}
	if err := readErr(t, c); !errors.Is(err, unix.ECONNABORTED) {
		t.Errorf("the killed socket's read: %v, want ECONNABORTED", err)
	}
	if err := readErr(t, s); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("the peer's read: %v, want ECONNRESET", err)
	}
	if inside() {
		t.Errorf("ss in %s still lists the killed socket", ns.name)
	}
}

// TestDestroyAllBothEnds: both ends of a connection in one DestroyAll:
// the first is killed, the second is closed by its RST and counted so.
func TestDestroyAllBothEnds(t *testing.T) {
	c, s, _ := pairTCP(t, unix.AF_INET)
	rows := []Socket{rowOf(t, c), rowOf(t, s)}
	res := DestroyAll(context.Background(), rows)
	if res[0].Err != nil || res[0].ByPeer || res[1].Err != nil || !res[1].ByPeer {
		t.Fatalf("results %+v, want the first killed and the second closed by its peer", res)
	}
	if err := readErr(t, c); !errors.Is(err, unix.ECONNABORTED) {
		t.Errorf("the killed end's read: %v, want ECONNABORTED", err)
	}
	if err := readErr(t, s); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("the peer's read: %v, want ECONNRESET", err)
	}
}
