//go:build linux

package collect

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// soCookie is SO_COOKIE (asm-generic/socket.h), which x/sys/unix lacks.
const soCookie = 57

// sockCookie returns the kernel's cookie of the socket behind c.
func sockCookie(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cookie uint64
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		var v [8]byte
		l := uint32(len(v))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, soCookie,
			uintptr(unsafe.Pointer(&v[0])), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 {
			gerr = e
			return
		}
		cookie = binary.NativeEndian.Uint64(v[:])
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("SO_COOKIE: %v", gerr)
	}
	if cookie == 0 {
		t.Fatal("SO_COOKIE gave 0")
	}
	return cookie
}

// closedSet gathers the records of the sockets a test waits for, by
// cookie; the host's other destroyed sockets are counted and ignored.
type closedSet struct {
	want   map[uint64]bool
	got    map[uint64]Closed
	others int
}

func newClosedSet(cookies ...uint64) *closedSet {
	s := &closedSet{want: map[uint64]bool{}, got: map[uint64]Closed{}}
	for _, c := range cookies {
		s.want[c] = true
	}
	return s
}

// take keeps c if it is one of the awaited sockets, and reports whether
// all of them have come.
func (s *closedSet) take(c Closed, open bool) bool {
	if open && s.want[c.Cookie] {
		s.got[c.Cookie] = c
	} else if open {
		s.others++
	}
	return len(s.got) == len(s.want)
}

func (s *closedSet) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records of other sockets\n", s.others)
	for k := range s.want {
		c, ok := s.got[k]
		fmt.Fprintf(&b, "cookie %d: seen %v %+v\n", k, ok, c)
	}
	return b.String()
}

// TestClosedWatcherTCP checks the records of both ends of a loopback
// connection against what the test sent, once with the client closing
// first and once with the server. The kernel counts sequence space, not
// payload: bytes_acked is snd_una's advance, so it takes in the FIN once
// the peer acks it, and the client's SYN, since the client's snd_una
// starts at its ISN and the server's child starts past its own SYN;
// bytes_received is rcv_nxt's advance, which takes in the peer's FIN but
// not its SYN. Hence client out N+2, in M+1; server out M+1, in N+1,
// whichever end closes first.
func TestClosedWatcherTCP(t *testing.T) {
	for _, serverFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("serverClosesFirst=%v", serverFirst), func(t *testing.T) { testClosedTCP(t, serverFirst) })
	}
}

func testClosedTCP(t *testing.T, serverFirst bool) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w, err := WatchClosed(func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const sent, answered = 100_000, 3_333 // client to server, server to client
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0))}
	cc, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client := cc.(*net.TCPConn)
	defer client.Close()
	server, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	clientCookie, serverCookie := sockCookie(t, client), sockCookie(t, server)
	clientLocal := client.LocalAddr().(*net.TCPAddr).AddrPort()
	serverLocal := server.LocalAddr().(*net.TCPAddr).AddrPort()

	go func() { client.Write(make([]byte, sent)) }()
	if _, err := io.ReadFull(server, make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(make([]byte, answered)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, answered)); err != nil {
		t.Fatal(err)
	}
	// The first to close ends in TIME_WAIT; the other reads the FIN
	// before it closes, so neither side resets.
	first, second := net.Conn(client), net.Conn(server)
	if serverFirst {
		first, second = second, first
	}
	first.Close()
	if n, err := second.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer's close: %d, %v", n, err)
	}
	second.Close()

	set := newClosedSet(clientCookie, serverCookie)
	waitfor.Recv(t, 30*time.Second, "the destroy records of both ends", w.Closed(), set.take, set.String)
	for _, e := range []struct {
		name          string
		cookie        uint64
		local, remote netip.AddrPort
		out, in       uint64
	}{
		{"client", clientCookie, clientLocal, serverLocal, sent + 2, answered + 1},
		{"server", serverCookie, serverLocal, clientLocal, answered + 1, sent + 1},
	} {
		c := set.got[e.cookie]
		t.Logf("%s: %+v info %+v", e.name, c, c.Info)
		if c.Proto != TCP || c.Family != 4 || c.Local != e.local || c.Remote != e.remote {
			t.Errorf("%s: record %v %d %s -> %s, want tcp 4 %s -> %s", e.name, c.Proto, c.Family, c.Local, c.Remote, e.local, e.remote)
		}
		if c.State != StateClosed {
			t.Errorf("%s: destroyed in state %v, want CLOSE", e.name, c.State)
		}
		if !c.Received.Equal(at) {
			t.Errorf("%s: received %v, want the injected clock's %v", e.name, c.Received, at)
		}
		if c.Info == nil {
			t.Errorf("%s: no tcp_info", e.name)
			continue
		}
		if c.Info.BytesAcked != e.out || c.Info.BytesReceived != e.in {
			t.Errorf("%s: bytes_acked %d bytes_received %d, want %d and %d", e.name, c.Info.BytesAcked, c.Info.BytesReceived, e.out, e.in)
		}
	}
}
