//go:build linux

package collect

import (
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
)

// testAddr4 is this test binary's own IPv4 loopback address.
var testAddr4 = kerneltest.Addr4

// ownSockets is the set of sockets one test made. The host is never quiet:
// other programs hold sockets on the same port numbers (ss prints `*:P`
// for a dual-stack listener of any port), so a test finds its own by the
// inode of a descriptor it holds, and a row without an inode by the exact
// 4-tuple of a connection it made.
type ownSockets struct {
	mu     sync.Mutex
	inodes map[uint32]bool
	tuples map[Key]bool // addresses unmapped, see normKey
}

var (
	ownMu  sync.Mutex
	ownAll = map[testing.TB]*ownSockets{}
)

// mine returns the set of t's own sockets, made on first use and dropped
// when t ends.
func mine(t testing.TB) *ownSockets {
	ownMu.Lock()
	defer ownMu.Unlock()
	o := ownAll[t]
	if o == nil {
		o = &ownSockets{inodes: map[uint32]bool{}, tuples: map[Key]bool{}}
		ownAll[t] = o
		t.Cleanup(func() {
			ownMu.Lock()
			delete(ownAll, t)
			ownMu.Unlock()
		})
	}
	return o
}

// inodeOf returns the socket inode of descriptor fd.
func inodeOf(t testing.TB, fd int) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat(%d): %v", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		t.Fatalf("fd %d is not a socket", fd)
	}
	return uint32(st.Ino)
}

// addFD records the socket of fd: its inode and, once it is connected, its
// 4-tuple both ways (the peer's row may be a child not yet accepted, and
// either end may outlive its descriptor as TIME_WAIT or an orphan).
func (o *ownSockets) addFD(t testing.TB, fd int) {
	t.Helper()
	in := inodeOf(t, fd)
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		t.Fatalf("SO_TYPE: %v", err)
	}
	p := TCP
	if typ == unix.SOCK_DGRAM {
		p = UDP
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inodes[in] = true
	la, err1 := unix.Getsockname(fd)
	ra, err2 := unix.Getpeername(fd)
	if err1 != nil || err2 != nil {
		return // not connected: the inode is all there is
	}
	l, r := addrPortOf(la), addrPortOf(ra)
	o.tuples[normKey(Key{Proto: p, Local: l, Remote: r})] = true
	o.tuples[normKey(Key{Proto: p, Local: r, Remote: l})] = true
}

// addConn records a socket made with package net.
func (o *ownSockets) addConn(t testing.TB, c syscall.Conn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { o.addFD(t, int(fd)) }); err != nil {
		t.Fatal(err)
	}
}

// normKey unmaps both addresses, so an AF_INET6 socket talking to an IPv4
// peer through ::ffff:a.b.c.d and that peer's AF_INET row meet.
func normKey(k Key) Key {
	k.Local = netip.AddrPortFrom(k.Local.Addr().Unmap(), k.Local.Port())
	k.Remote = netip.AddrPortFrom(k.Remote.Addr().Unmap(), k.Remote.Port())
	return k
}

// match reports whether a row is one of the test's: by inode when the row
// has one, else by its exact 4-tuple.
func (o *ownSockets) match(p Proto, local, remote netip.AddrPort, inode uint32) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if inode != 0 {
		return o.inodes[inode]
	}
	return o.tuples[normKey(Key{Proto: p, Local: local, Remote: remote})]
}

// has reports whether s is one of the test's sockets.
func (o *ownSockets) has(s *Socket) bool { return o.match(s.Proto, s.Local, s.Remote, s.Inode) }

// hasSS reports whether an ss row is one of the test's sockets.
func (o *ownSockets) hasSS(l *ssLine) bool { return o.match(l.proto, l.local, l.peer, l.ino) }

// count returns how many of snap's sockets are the test's.
func (o *ownSockets) count(snap *Snapshot) int {
	n := 0
	for i := range snap.Sockets {
		if o.has(&snap.Sockets[i]) {
			n++
		}
	}
	return n
}
