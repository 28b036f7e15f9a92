package filter

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"

	"socktop/collect"
)

// TestHTTPNamesAgreeWithSS is the test: "sport = :http" selects
// what ss 'sport = :http' selects, on listeners of the test's own
// address at 80 and 443 (TCP), a UDP socket at 80 and one at 443 (ss
// resolves a name for the protocols it lists and uses the port for all
// of them), and the connections to the listeners. The test's sockets are
// found by inode.
func TestHTTPNamesAgreeWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("binding ports 80 and 443 needs root (CI runs as root)")
	}
	for _, name := range []string{"http", "https"} {
		if _, msg := lookupService(services(), name); msg != "" {
			t.Skipf("this host's services file does not name %s: %s", name, msg)
		}
	}
	own := newOwnSockets()
	for _, port := range []uint16{80, 443} {
		at := netip.AddrPortFrom(testAddr4, port)
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(at))
		if err != nil {
			t.Fatalf("listen on %v: %v", at, err)
		}
		t.Cleanup(func() { ln.Close() })
		own.add(t, ln)
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0))}
		c, err := d.Dial("tcp4", at.String())
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
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(at))
		if err != nil {
			t.Fatalf("udp on %v: %v", at, err)
		}
		t.Cleanup(func() { u.Close() })
		own.add(t, u)
		own.ports[port] = true
	}
	// The clients' ports would widen ss's narrowing; 80 and 443 are at one
	// end of every row of the test.
	own.ports = map[uint16]bool{80: true, 443: true}
	socks := own.snapshot(t, func(socks []collect.Socket) bool { return len(socks) == 8 })
	// Each expression is one ss run over the host's whole table, which is
	// slow on a busy host: few, each a different form.
	exprs := []string{"sport = :http", "sport = :https", "dport = :http", "sport != :http", "src " + testAddr4.String() + ":https"}
	if _, msg := lookupService(services(), "www"); msg == "" {
		exprs = append(exprs, "sport = :www") // Debian's alias of http
	}
	for _, expr := range exprs {
		if agreeWithSS(t, []string{expr}, own, socks) == 0 {
			t.Errorf("%q: ss kept none of the test's sockets", expr)
		}
	}
}
