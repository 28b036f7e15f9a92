//go:build linux

package collect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// filterTestSockets opens a small zoo on loopback: TCP listeners on the
// test's own IPv4 address (testAddr4) and ::1, an established pair on each,
// a TIME_WAIT left by a client that closed first, and UDP sockets
// unconnected and connected. Each is recorded among the test's own (mine):
// other programs on the host hold sockets on the same port numbers.
// It returns the two listening ports and every port one of its sockets is
// bound to and every other socket talks to; everything is closed at
// cleanup.
func filterTestSockets(t *testing.T) (l4, l6 uint16, ports map[uint16]bool) {
	t.Helper()
	own := mine(t)
	closeLater := func(c interface{ Close() error }) { t.Cleanup(func() { c.Close() }) }
	local4 := net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0))
	listen := func(network string, addr *net.TCPAddr) (*net.TCPListener, uint16) {
		ln, err := net.ListenTCP(network, addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		closeLater(ln)
		own.addConn(t, ln)
		return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
	}
	pair := func(ln *net.TCPListener) (client, server *net.TCPConn) {
		d := net.Dialer{}
		if ln.Addr().(*net.TCPAddr).IP.To4() != nil {
			d.LocalAddr = local4
		}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial %s: %v", ln.Addr(), err)
		}
		closeLater(c)
		s, err := ln.AcceptTCP()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		closeLater(s)
		own.addConn(t, c.(*net.TCPConn))
		own.addConn(t, s)
		return c.(*net.TCPConn), s
	}
	ln4, p4 := listen("tcp4", local4)
	ln6, p6 := listen("tcp6", &net.TCPAddr{IP: net.IPv6loopback})
	pair(ln4)
	pair(ln6)
	// The client closes first, then the server once it has read the FIN:
	// the client's 4-tuple sits in TIME_WAIT for 60 s.
	c, s := pair(ln4)
	tw := Key{Proto: TCP, Local: netip.MustParseAddrPort(c.LocalAddr().String()), Remote: netip.MustParseAddrPort(c.RemoteAddr().String())}
	c.Close()
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatalf("read to EOF: %v", err)
	}
	s.Close()

	udp := func(network string, addr netip.Addr) *net.UDPConn {
		u, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			t.Fatalf("udp %s: %v", addr, err)
		}
		closeLater(u)
		own.addConn(t, u)
		return u
	}
	u4 := udp("udp4", testAddr4)
	u6 := udp("udp6", netip.IPv6Loopback())
	cu, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)), u4.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("dial udp: %v", err)
	}
	closeLater(cu)
	own.addConn(t, cu)

	// Wait for the TIME_WAIT before anyone looks.
	src := NewNetlink(Options{TCP: true, IPv4: true})
	defer src.Close()
	waitSnapshot(t, src, func(sn *Snapshot) bool {
		x := findKey(sn, tw)
		return x != nil && x.State == StateTimeWait
	})
	ports = map[uint16]bool{p4: true, p6: true,
		uint16(u4.LocalAddr().(*net.UDPAddr).Port): true, uint16(u6.LocalAddr().(*net.UDPAddr).Port): true}
	return p4, p6, ports
}

// sockID is what the comparison uses: protocol and 4-tuple, with a missing
// peer read as the unspecified address of the family, as ss prints it.
func sockID(p Proto, fam uint8, l, r netip.AddrPort) string {
	if !r.Addr().IsValid() {
		if fam == 6 {
			r = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		} else {
			r = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		}
	}
	return fmt.Sprintf("%s %s %s", p, l, r)
}

// runSS runs `ss -tanuHe ARGS...` and returns the ids of the rows that are
// among the test's own sockets. ARGS are ss's: state and exclude terms
// (separate words, which ss wants first) and at most one expression.
// narrow is a condition true for every socket of the test (see
// ssPortFilter): ss evaluates it in the kernel before the expression, so
// it prints a few rows and not the host's whole table (on a host with
// 100k sockets one full ss run takes over a second, and the test's
// TIME_WAIT lives 60 s).
func runSS(t *testing.T, args []string, narrow string) []string {
	t.Helper()
	var words []string
	expr := ""
	for i := 0; i < len(args); i++ {
		if (args[i] == "state" || args[i] == "exclude") && i+1 < len(args) {
			words = append(words, args[i], args[i+1])
			i++
			continue
		}
		if expr != "" {
			t.Fatalf("ss arguments %q: two expressions", args)
		}
		expr = args[i]
	}
	if expr == "" {
		words = append(words, narrow)
	} else {
		// narrow first: an inet: or inet6: in expr sets the family of the
		// addresses after it.
		words = append(words, "( "+narrow+" ) and ( "+expr+" )")
	}
	cmd := exec.Command("ss", append([]string{"-tanuHe"}, words...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ss %q: %v: %s", words, err, stderr.String())
	}
	lines, err := parseSS(out, 0)
	if err != nil {
		t.Fatalf("ss %q: %v", words, err)
	}
	own := mine(t)
	var ids []string
	for i := range lines {
		if l := &lines[i]; own.hasSS(l) {
			ids = append(ids, sockID(l.proto, 0, l.local, l.peer))
		}
	}
	slices.Sort(ids)
	return ids
}

// TestFilterAgreesWithSS runs each expression through ss on real sockets
// and through Filter on a netlink snapshot of the same sockets: ss is the
// oracle of what the expression means.
func TestFilterAgreesWithSS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	l4, l6, ports := filterTestSockets(t)
	own := mine(t)
	a4 := testAddr4.String()
	src := NewNetlink(Options{})
	t.Cleanup(func() { src.Close() })
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("netlink snapshot: %v", err)
	}
	var cand []Socket
	for _, s := range snap.Sockets {
		if own.has(&s) {
			cand = append(cand, s)
		}
	}
	if len(cand) < 10 {
		t.Fatalf("the snapshot has %d of the test's sockets, want at least 10: %v", len(cand), cand)
	}

	// Each case is ss's argument list; socktop gets the same words joined.
	// ss wants state terms as separate words before the expression.
	cases := [][]string{
		{"state", "listening"},
		{"state", "established"},
		{"state", "time-wait"},
		{"state", "closed"},
		{"state", "unconnected"},
		{"state", "connected"},
		{"state", "synchronized"},
		{"state", "bucket"},
		{"state", "big"},
		{"state", "all"},
		{"exclude", "listening"},
		{"exclude", "closed"},
		{"state", "listening", "state", "time-wait"},
		{"state", "connected", "exclude", "established"},
		{"exclude", "listening", "state", "listening"},
		{"state", "established", fmt.Sprintf("( sport = :%d or dport = :%d )", l4, l4)},
		{"state", "established", fmt.Sprintf("sport = :%d or dport = :%d", l4, l4)},
		{fmt.Sprintf("sport = :%d", l4)},
		{fmt.Sprintf("dport == :%d", l4)},
		{fmt.Sprintf("dport eq %d", l6)},
		{fmt.Sprintf("sport != :%d", l4)},
		{fmt.Sprintf("sport > :%d", l4)},
		{fmt.Sprintf("sport geq :%d", l6)},
		{fmt.Sprintf("dport <= :%d", l4)},
		{fmt.Sprintf("dport lt :%d", l6)},
		{"dport = :0"},
		{"src " + a4},
		{"src 127.0.0.0/8"},
		{"dst " + a4 + "/32"},
		{"src [::1]"},
		{"src ::1/128"},
		{"dst ::/0"},
		{"dst 0.0.0.0"},
		{"dst [::]"},
		{fmt.Sprintf("src %s:%d", a4, l4)},
		{fmt.Sprintf("dst [::1]:%d", l6)},
		{fmt.Sprintf("src *:%d", l4)},
		{fmt.Sprintf("src :%d", l6)},
		{"src inet:0.0.0.0/0"},
		{"dst *"},
		{fmt.Sprintf("not sport = :%d", l4)},
		{fmt.Sprintf("! ( sport = :%d or dport = :%d )", l4, l4)},
		{fmt.Sprintf("src %s and dport = :%d", a4, l4)},
		{fmt.Sprintf("src %s dport = :%d", a4, l4)},
		{fmt.Sprintf("src [::1] || dport = :%d", l4)},
		{fmt.Sprintf("( src [::1] or dst [::1] ) && not dport = :%d", l6)},
		{"state", "listening", "src [::1]"},
		{"exclude", "established", fmt.Sprintf("dport != :%d", l4)},
	}
	nonEmpty := 0
	for _, args := range cases {
		expr := strings.Join(args, " ")
		f, err := ParseFilter(expr)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", expr, err)
			continue
		}
		var got []string
		for i := range cand {
			if f.Match(&cand[i]) {
				s := &cand[i]
				got = append(got, sockID(s.Proto, s.Family, s.Local, s.Remote))
			}
		}
		slices.Sort(got)
		want := runSS(t, args, ssPortFilter(ports))
		if !slices.Equal(got, want) {
			t.Errorf("%q:\nsocktop %q\n     ss %q", expr, got, want)
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	// The comparison means something only if ss saw the test's sockets.
	if nonEmpty < len(cases)-4 {
		t.Errorf("ss matched nothing for %d of %d expressions", len(cases)-nonEmpty, len(cases))
	}
}
