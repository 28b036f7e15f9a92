package filter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// bindService listens on the test's own address at the port of a
// well-known service this host's services file names and nothing here
// holds (binding 127.a.b.c:22 fails when sshd listens on 0.0.0.0:22). It
// returns nil when every one is taken.
func bindService(t *testing.T) (*net.TCPListener, string) {
	t.Helper()
	for _, name := range []string{"ssh", "http", "https", "smtp", "domain", "ftp", "telnet", "imap", "pop3", "ldap"} {
		port, msg := lookupService(services(), name)
		if msg != "" {
			continue
		}
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, uint16(port))))
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			t.Fatalf("listen on %v:%d (%s): %v", testAddr4, port, name, err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln, name
	}
	return nil, ""
}

// TestServiceNamesAgreeWithSS: "sport = :NAME" and "dport = :NAME" keep,
// among the test's own sockets, what ss keeps for the same words, on a
// listener at a real service port, its client and the accepted end.
func TestServiceNamesAgreeWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	ln, name := bindService(t)
	if ln == nil {
		// Every well-known port is taken on this host: the test needs a
		// namespace where they are free.
		if !kerneltest.InQuietNetns(t) {
			return
		}
		if ln, name = bindService(t); ln == nil {
			t.Fatal("no well-known port is free even in a new network namespace")
		}
	}
	own := newOwnSockets()
	own.add(t, ln)
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0))}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	own.add(t, c.(*net.TCPConn))
	own.add(t, s)
	// The client's port would widen ss's narrowing to rows on it; the
	// listener's port is at one end of every row of the test.
	own.ports = map[uint16]bool{uint16(ln.Addr().(*net.TCPAddr).Port): true}

	socks := own.snapshot(t, func(socks []collect.Socket) bool { return len(socks) == 3 })
	for _, expr := range []string{"sport = :" + name, "dport = :" + name, "sport != :" + name, fmt.Sprintf("src %s:%s", testAddr4, name)} {
		if agreeWithSS(t, []string{expr}, own, socks) == 0 {
			t.Errorf("%q: ss kept none of the test's sockets", expr)
		}
	}
}
