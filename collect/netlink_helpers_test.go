//go:build linux

package collect

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawFD is a socket made with raw calls; Close is idempotent so a test can
// close it early (to reach TIME_WAIT) and still register it for cleanup.
type rawFD struct {
	fd     int
	closed bool
}

func (r *rawFD) Close() {
	if !r.closed {
		r.closed = true
		unix.Close(r.fd)
	}
}

// loopback returns 127.0.0.1 or ::1.
func loopback(fam int) netip.Addr {
	if fam == unix.AF_INET6 {
		return netip.IPv6Loopback()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func sockaddr(fam int, a netip.Addr, port int) unix.Sockaddr {
	if fam == unix.AF_INET6 {
		return &unix.SockaddrInet6{Port: port, Addr: a.As16()}
	}
	return &unix.SockaddrInet4{Port: port, Addr: a.As4()}
}

func newSocket(t testing.TB, fam, typ int) *rawFD {
	t.Helper()
	fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	r := &rawFD{fd: fd}
	t.Cleanup(r.Close)
	return r
}

func localPort(t testing.TB, r *rawFD) int {
	t.Helper()
	sa, err := unix.Getsockname(r.fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	t.Fatalf("getsockname: unexpected %T", sa)
	return 0
}

func setInt(t testing.TB, r *rawFD, level, opt, v int) {
	t.Helper()
	if err := unix.SetsockoptInt(r.fd, level, opt, v); err != nil {
		t.Fatalf("setsockopt(%d, %d, %d): %v", level, opt, v, err)
	}
}

// listenTCP binds a loopback listener on a free port. setup runs before
// bind (socket options a listener's children inherit).
func listenTCP(t testing.TB, fam, backlog int, setup func(*rawFD)) (*rawFD, int) {
	t.Helper()
	l := newSocket(t, fam, unix.SOCK_STREAM)
	if setup != nil {
		setup(l)
	}
	if err := unix.Bind(l.fd, sockaddr(fam, loopback(fam), 0)); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := unix.Listen(l.fd, backlog); err != nil {
		t.Fatalf("listen: %v", err)
	}
	return l, localPort(t, l)
}

// dialTCP connects (blocking) from a new socket of family fam to addr:port.
func dialTCP(t testing.TB, fam int, addr netip.Addr, port int, setup func(*rawFD)) *rawFD {
	t.Helper()
	c := newSocket(t, fam, unix.SOCK_STREAM)
	if setup != nil {
		setup(c)
	}
	if err := unix.Connect(c.fd, sockaddr(fam, addr, port)); err != nil {
		t.Fatalf("connect to %v:%d: %v", addr, port, err)
	}
	return c
}

func acceptTCP(t testing.TB, l *rawFD) *rawFD {
	t.Helper()
	fd, _, err := unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	r := &rawFD{fd: fd}
	t.Cleanup(r.Close)
	return r
}

// pairTCP returns a connected client and its accepted server end.
func pairTCP(t testing.TB, fam int) (client, server *rawFD, port int) {
	t.Helper()
	l, port := listenTCP(t, fam, 8, nil)
	client = dialTCP(t, fam, loopback(fam), port, nil)
	server = acceptTCP(t, l)
	l.Close()
	return client, server, port
}

// asUID runs f on one OS thread whose fsuid is uid, so the sockets f makes
// belong to uid in the kernel's eyes (sk_uid is the creator's fsuid).
func asUID(t testing.TB, uid int, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, _ := unix.SetfsuidRetUid(uid)
	defer unix.SetfsuidRetUid(prev)
	f()
}

// zeroWindow builds the zero-window pair of scenarios.md: the server never
// reads and has a 4 KB receive buffer, the client filled its 4 KB send
// buffer. Both queues are non-empty and stay so.
func zeroWindow(t testing.TB, fam int) (client, server *rawFD) {
	t.Helper()
	l, port := listenTCP(t, fam, 8, func(r *rawFD) { setInt(t, r, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
	client = dialTCP(t, fam, loopback(fam), port, func(r *rawFD) { setInt(t, r, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096) })
	server = acceptTCP(t, l)
	l.Close()
	if err := unix.SetNonblock(client.fd, true); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1024)
	// Write until EAGAIN twice, a little apart: the first EAGAIN can come
	// before the peer's window has closed.
	for round := 0; round < 2; round++ {
		for {
			_, err := unix.Write(client.fd, chunk)
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return client, server
}

// waitSnapshot polls a snapshot until ok accepts it, or fails after 5 s.
func waitSnapshot(t testing.TB, src Source, ok func(*Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		if ok(&snap) {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expected sockets did not appear within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findSocket returns the socket with the given local and remote ports and
// protocol, or nil.
func findSocket(snap *Snapshot, p Proto, lport, rport uint16) *Socket {
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.Proto == p && s.Local.Port() == lport && s.Remote.Port() == rport {
			return s
		}
	}
	return nil
}
