//go:build linux

package collect

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
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

// loopback returns the test binary's own IPv4 loopback address (see
// testAddr4) or ::1.
func loopback(fam int) netip.Addr {
	if fam == unix.AF_INET6 {
		return netip.IPv6Loopback()
	}
	return testAddr4
}

func sockaddr(fam int, a netip.Addr, port int) unix.Sockaddr {
	if fam == unix.AF_INET6 {
		return &unix.SockaddrInet6{Port: port, Addr: a.As16()}
	}
	return &unix.SockaddrInet4{Port: port, Addr: a.As4()}
}

// newSocket makes a socket and records it among the test's own (mine).
func newSocket(t testing.TB, fam, typ int) *rawFD {
	t.Helper()
	fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	r := &rawFD{fd: fd}
	t.Cleanup(r.Close)
	mine(t).addFD(t, fd)
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
// An IPv4 client is bound to the test's own address first, so both ends of
// the 4-tuple are the test's; the connection's 4-tuple is recorded among
// the test's own, for the rows it leaves without an inode.
func dialTCP(t testing.TB, fam int, addr netip.Addr, port int, setup func(*rawFD)) *rawFD {
	t.Helper()
	c := newSocket(t, fam, unix.SOCK_STREAM)
	if setup != nil {
		setup(c)
	}
	if fam == unix.AF_INET {
		// The port is still chosen by connect, from the ephemeral range.
		setInt(t, c, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(c.fd, sockaddr(fam, testAddr4, 0)); err != nil {
			t.Fatalf("bind client to %v: %v", testAddr4, err)
		}
	}
	if err := unix.Connect(c.fd, sockaddr(fam, addr, port)); err != nil {
		t.Fatalf("connect to %v:%d: %v", addr, port, err)
	}
	mine(t).addFD(t, c.fd)
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
	mine(t).addFD(t, fd)
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
	// Write until the queues stop moving: the first EAGAIN can come
	// before the peer's window has closed, and a loaded host delays the
	// receiver's collapsing of its buffer.
	// Unchanged means unchanged for settleFor, not between two quick polls.
	const settleFor = 50 * time.Millisecond
	chunk := make([]byte, 1024)
	prev := [2]int{-1, -1}
	var since time.Time
	waitfor.UntilShow(t, 5*time.Second, "the zero-window queues to settle", func() bool {
		wrote := false
		for {
			_, err := unix.Write(client.fd, chunk)
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			wrote = true
		}
		inq, err1 := unix.IoctlGetInt(server.fd, unix.SIOCINQ)
		outq, err2 := unix.IoctlGetInt(client.fd, unix.SIOCOUTQ)
		if err1 != nil || err2 != nil {
			t.Fatalf("SIOCINQ/SIOCOUTQ: %v %v", err1, err2)
		}
		now := [2]int{inq, outq}
		if wrote || now != prev || inq == 0 || outq == 0 {
			prev, since = now, time.Now()
			return false
		}
		return time.Since(since) >= settleFor
	}, func() string { return fmt.Sprintf("Recv-Q %d, Send-Q %d", prev[0], prev[1]) })
	return client, server
}

// waitEOF blocks until the peer of r has closed (a read returns 0), so
// that the next close of r is not a simultaneous one.
func waitEOF(t testing.TB, r *rawFD) {
	t.Helper()
	buf := make([]byte, 64)
	for {
		n, err := unix.Read(r.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("read to EOF: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// waitSnapshot polls a snapshot until ok accepts it.
func waitSnapshot(t testing.TB, src Source, ok func(*Snapshot) bool) Snapshot {
	t.Helper()
	var snap Snapshot
	waitfor.Until(t, 10*time.Second, "the expected sockets to appear in a snapshot", func() bool {
		var err error
		if snap, err = src.Snapshot(context.Background()); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		return ok(&snap)
	})
	return snap
}

// findFD returns the socket of the descriptor r holds (found by its
// inode), or nil.
func findFD(t testing.TB, snap *Snapshot, r *rawFD) *Socket {
	t.Helper()
	in := inodeOf(t, r.fd)
	for i := range snap.Sockets {
		if snap.Sockets[i].Inode == in {
			return &snap.Sockets[i]
		}
	}
	return nil
}

// findKey returns the socket with exactly this protocol and 4-tuple, or
// nil: for rows without an inode (TIME_WAIT, orphans), on the test's own
// addresses.
func findKey(snap *Snapshot, k Key) *Socket {
	for i := range snap.Sockets {
		if snap.Sockets[i].Key() == k {
			return &snap.Sockets[i]
		}
	}
	return nil
}
