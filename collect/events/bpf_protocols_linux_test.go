//go:build linux

package events

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// ipprotoMPTCP is IPPROTO_MPTCP, an MPTCP socket's SO_PROTOCOL.
const ipprotoMPTCP = 262

// TestBPFSkipsMPTCP: an MPTCP listener and client (Go listens with MPTCP
// by default) change state through their TCP subflows, which the reader
// reports; the MPTCP sockets themselves, whose cookies SO_COOKIE on the
// application's fds gives, are left out.
func TestBPFSkipsMPTCP(t *testing.T) {
	needRoot(t)
	r, err := openBPF()
	if err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, r)
	var lcfg net.ListenConfig
	lcfg.SetMultipathTCP(true)
	l, err := lcfg.Listen(context.Background(), "tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	ln := l.(*net.TCPListener)
	defer ln.Close()
	if protocolOf(t, ln) != ipprotoMPTCP {
		t.Skip("the kernel gave a plain TCP listener: no MPTCP here (net.mptcp.enabled=0?)")
	}
	lAddr := ln.Addr().(*net.TCPAddr).AddrPort()
	lCookie := cookieOf(t, ln)
	d := net.Dialer{}
	d.SetMultipathTCP(true)
	cl, err := d.Dial("tcp4", lAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cCookie := cookieOf(t, cl.(*net.TCPConn))
	sv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, cl, sv, "ping")
	cl.Close()
	sv.Close()
	ln.Close()

	// The subflows' paths, found by address: the listening subflow's
	// LISTEN -> CLOSED is the last of them.
	sub := waitEvents(t, c, "the listening subflow's CLOSED -> LISTEN -> CLOSED", 2, func(e *collect.StateEvent) bool {
		return e.Local == lAddr && e.Remote.Port() == 0
	})
	if sub[0].Cookie == lCookie {
		t.Errorf("the listening subflow's event carries the MPTCP socket's cookie %d", lCookie)
	}
	for _, e := range c.matching(func(e *collect.StateEvent) bool { return e.Cookie == lCookie || e.Cookie == cCookie }) {
		t.Errorf("event of an MPTCP socket (cookie %d): %s -> %s %v -> %v", e.Cookie, e.From, e.To, e.Local, e.Remote)
	}
}

func protocolOf(t testing.TB, ln *net.TCPListener) int {
	t.Helper()
	raw, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var proto int
	var gerr error
	if err := raw.Control(func(fd uintptr) { proto, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("SO_PROTOCOL: %v", gerr)
	}
	return proto
}

// TestBPFMappedIPv6: an AF_INET6 socket talking IPv4 through v4-mapped
// addresses is reported as IPv6 with its mapped addresses, as its dump
// row shows it.
func TestBPFMappedIPv6(t *testing.T) {
	needRoot(t)
	r, err := openBPF()
	if err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, r)
	mapped := netip.AddrFrom16(kerneltest.Addr4.As16())
	ln, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet6{Addr: mapped.As16()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet6).Port
	cl, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cl)
	if err := unix.Connect(cl, &unix.SockaddrInet6{Addr: mapped.As16(), Port: port}); err != nil {
		t.Fatal(err)
	}
	cookie, err := unix.GetsockoptUint64(cl, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		t.Fatal(err)
	}
	evs := waitEvents(t, c, "the mapped client's CLOSED -> SYN_SENT -> ESTABLISHED", 2, byCookie(cookie))
	want := netip.AddrPortFrom(mapped, uint16(port))
	for _, e := range evs {
		if e.Family != 6 || e.Remote != want || !e.Local.Addr().Is4In6() {
			t.Errorf("%s -> %s: family %d %v -> %v, want family 6 to %v from a mapped address", e.From, e.To, e.Family, e.Local, e.Remote, want)
		}
	}
}
