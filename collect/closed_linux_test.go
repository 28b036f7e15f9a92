//go:build linux

package collect

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

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
		t.Run(fmt.Sprintf("tcp4/serverClosesFirst=%v", serverFirst), func(t *testing.T) {
			testClosedTCP(t, "tcp4", kerneltest.Addr4, serverFirst)
		})
	}
	// ::1 is shared with the host's programs; the cookies tell the test's
	// sockets from theirs.
	t.Run("tcp6", func(t *testing.T) { testClosedTCP(t, "tcp6", netip.IPv6Loopback(), false) })
}

func testClosedTCP(t *testing.T, network string, addr netip.Addr, serverFirst bool) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w, err := WatchClosed(func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const sent, answered = 100_000, 3_333 // client to server, server to client
	ln, err := net.ListenTCP(network, net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0))}
	cc, err := d.Dial(network, ln.Addr().String())
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
	clientCookie, serverCookie := kerneltest.Cookie(t, client), kerneltest.Cookie(t, server)
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
		family := uint8(4)
		if addr.Is6() {
			family = 6
		}
		if c.Proto != TCP || c.Family != family || c.Local != e.local || c.Remote != e.remote {
			t.Errorf("%s: record %v %d %s -> %s, want tcp %d %s -> %s", e.name, c.Proto, c.Family, c.Local, c.Remote, family, e.local, e.remote)
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

// udpPair makes a UDP socket on the test's own address, connected to a
// second one, sends one datagram, and returns both.
func udpPair(t *testing.T, network string, addr netip.Addr) (a, b *net.UDPConn) {
	t.Helper()
	b, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	a, err = net.DialUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)), b.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestClosedWatcherUDP(t *testing.T) {
	w, err := WatchClosed(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, e := range []struct {
		network string
		addr    netip.Addr
		family  uint8
	}{
		{"udp4", kerneltest.Addr4, 4},
		// ::1 is shared with the host's programs; the cookie tells the
		// test's sockets from theirs.
		{"udp6", netip.IPv6Loopback(), 6},
	} {
		a, b := udpPair(t, e.network, e.addr)
		ca, cb := kerneltest.Cookie(t, a), kerneltest.Cookie(t, b)
		aLocal, bLocal := a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort()
		a.Close()
		b.Close()
		set := newClosedSet(ca, cb)
		waitfor.Recv(t, 30*time.Second, "the destroy records of two "+e.network+" sockets", w.Closed(), set.take, set.String)
		for _, x := range []struct {
			cookie        uint64
			local, remote netip.AddrPort
		}{
			{ca, aLocal, bLocal},
			// The unconnected socket has no remote: the kernel sends zeros.
			{cb, bLocal, netip.AddrPortFrom(zeroAddr(e.family), 0)},
		} {
			c := set.got[x.cookie]
			if c.Proto != UDP || c.Family != e.family || c.Local != x.local || c.Remote != x.remote || c.Info != nil {
				t.Errorf("%s cookie %d: %+v, want udp %d %s -> %s without tcp_info", e.network, x.cookie, c, e.family, x.local, x.remote)
			}
		}
	}
}

func zeroAddr(family uint8) netip.Addr {
	if family == 6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// TestClosedWatcherLost fills a watcher's tiny receive buffer while
// nobody reads it: the kernel's drops are counted, and the records that
// come after them are still delivered.
func TestClosedWatcherLost(t *testing.T) {
	w, err := watchClosed(nil, 1, 1, nil) // the kernel raises 1 to its minimum
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Each pair is two records and the buffer holds a few. The reader
	// waits on the full channel meanwhile, so the kernel must drop, and
	// the reader learns of it when it reads again.
	const pairs = 500
	for range pairs {
		a, b := udpPair(t, "udp4", kerneltest.Addr4)
		a.Close()
		b.Close()
	}
	waitfor.Recv(t, 30*time.Second, "an ENOBUFS on the destroy socket", w.Closed(), func(Closed, bool) bool { return w.Lost() > 0 }, nil)
	// Reading must resume after the loss. The kernel sends destroy
	// records from a work queue, so records of the sockets above may
	// still be on their way and overflow the buffer again: a record of a
	// new socket can be lost too, and then the kernel's drop count grows.
	// Each attempt ends when the new socket's record arrives, or when a
	// drop since its close says it may have been lost; a full buffer
	// always has records left to read, so the attempt does not hang.
	var set *closedSet
	got := false
	for attempt := 0; attempt < 100 && !got; attempt++ {
		d0, err := w.Dropped()
		if err != nil {
			t.Fatal(err)
		}
		a, b := udpPair(t, "udp4", kerneltest.Addr4)
		after := kerneltest.Cookie(t, a)
		a.Close()
		b.Close()
		set = newClosedSet(after)
		waitfor.Recv(t, 30*time.Second, "a record after the loss", w.Closed(), func(c Closed, open bool) bool {
			if set.take(c, open) {
				got = true
				return true
			}
			d, err := w.Dropped()
			return err == nil && d > d0
		}, set.String)
	}
	if !got {
		t.Fatalf("no record after the loss in 100 attempts:\n%s", set)
	}
	dropped, err := w.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	if dropped < w.Lost() {
		t.Errorf("the kernel counts %d dropped messages, fewer than the watcher's %d ENOBUFS", dropped, w.Lost())
	}
	t.Logf("lost %d times, %d messages; %d records came between the loss and the last socket", w.Lost(), dropped, set.others)
}

// TestClosedWatcherClose checks that Close ends the reader, whether it
// waits on the kernel or on a consumer that does not read, and closes the
// channel.
func TestClosedWatcherClose(t *testing.T) {
	for _, busy := range []bool{false, true} {
		w, err := watchClosed(nil, closedRcvBuf, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if busy {
			// Two records: one fills the channel, the reader blocks on
			// the second.
			for range 2 {
				a, b := udpPair(t, "udp4", kerneltest.Addr4)
				a.Close()
				b.Close()
			}
			waitfor.Until(t, 30*time.Second, "a record in the channel", func() bool { return len(w.Closed()) == 1 })
		}
		done := make(chan error)
		go func() { done <- w.Close() }()
		waitfor.Recv(t, 30*time.Second, "Close to return", done, func(err error, _ bool) bool {
			if err != nil {
				t.Errorf("Close: %v", err)
			}
			return true
		}, nil)
		select {
		case <-w.stopped:
		default:
			t.Fatal("Close returned before the reader did")
		}
		for range w.Closed() {
		}
		if err := w.Err(); err != nil {
			t.Errorf("Err after Close: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}
