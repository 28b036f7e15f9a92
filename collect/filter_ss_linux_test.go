//go:build linux

package collect

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// filterTestSockets opens a small zoo on loopback: TCP listeners on
// 127.0.0.1 and ::1, an established pair on each, a TIME_WAIT left by a
// client that closed first, and UDP sockets unconnected and connected. It
// returns the sockIDs of its sockets (other tests on the machine open
// sockets meanwhile, sometimes on the same ports) and the two listening
// ports; everything is closed at cleanup.
func filterTestSockets(t *testing.T) (mine map[string]bool, l4, l6 uint16) {
	t.Helper()
	mine = map[string]bool{}
	closeLater := func(c interface{ Close() error }) { t.Cleanup(func() { c.Close() }) }
	// note records the socket with local address a and peer r (nil: none).
	note := func(a, r net.Addr) uint16 {
		l := netip.MustParseAddrPort(a.String())
		p, fam := TCP, uint8(4)
		if a.Network() == "udp" {
			p = UDP
		}
		if l.Addr().Is6() {
			fam = 6
		}
		var rp netip.AddrPort
		if r != nil {
			rp = netip.MustParseAddrPort(r.String())
		}
		mine[sockID(p, fam, l, rp)] = true
		return l.Port()
	}
	listen := func(network, addr string) (net.Listener, uint16) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		closeLater(ln)
		return ln, note(ln.Addr(), nil)
	}
	pair := func(ln net.Listener) (client, server net.Conn) {
		c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
		if err != nil {
			t.Fatalf("dial %s: %v", ln.Addr(), err)
		}
		closeLater(c)
		s, err := ln.Accept()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		closeLater(s)
		note(c.LocalAddr(), c.RemoteAddr())
		note(s.LocalAddr(), s.RemoteAddr())
		return c, s
	}
	ln4, p4 := listen("tcp4", "127.0.0.1:0")
	ln6, p6 := listen("tcp6", "[::1]:0")
	pair(ln4)
	pair(ln6)
	// The client closes first, then the server: the client's 4-tuple sits
	// in TIME_WAIT for 60 s.
	c, s := pair(ln4)
	twPort := netip.MustParseAddrPort(c.LocalAddr().String()).Port()
	c.Close()
	time.Sleep(20 * time.Millisecond)
	s.Close()

	udp := func(network, addr string) *net.UDPConn {
		u, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		if err != nil {
			t.Fatalf("udp %s: %v", addr, err)
		}
		closeLater(u)
		note(u.LocalAddr(), nil)
		return u
	}
	u4 := udp("udp4", "127.0.0.1:0")
	udp("udp6", "[::1]:0")
	cu, err := net.DialUDP("udp4", nil, u4.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("dial udp: %v", err)
	}
	closeLater(cu)
	note(cu.LocalAddr(), cu.RemoteAddr())

	// Wait for the TIME_WAIT before anyone looks.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ss", "-tanH", "state", "time-wait", fmt.Sprintf("sport = :%d", twPort)).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d never reached TIME_WAIT", twPort)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return mine, p4, p6
}

// ssEndpoint reads an address as ss prints it: 127.0.0.1:80, [::1]:443,
// 0.0.0.0:*, [::]:*.
func ssEndpoint(s string) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("no port in %q", s)
	}
	host, port := strings.Trim(s[:i], "[]"), s[i+1:]
	if port == "*" {
		port = "0"
	}
	if host == "*" {
		host = "0.0.0.0"
	}
	return netip.ParseAddrPort(net.JoinHostPort(host, port))
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

// runSS runs `ss -tanuH ARGS...` and returns the ids of the rows that are
// among the test's own sockets.
func runSS(t *testing.T, args []string, mine map[string]bool) []string {
	t.Helper()
	cmd := exec.Command("ss", append([]string{"-tanuH"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ss %q: %v: %s", args, err, stderr.String())
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		// With a single state ss leaves the State column out.
		addrs := f[3:5]
		if f[1][0] < '0' || f[1][0] > '9' {
			if len(f) < 6 {
				t.Fatalf("ss line %q: too few fields", sc.Text())
			}
			addrs = f[4:6]
		}
		l, err1 := ssEndpoint(addrs[0])
		r, err2 := ssEndpoint(addrs[1])
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("ss line %q: %v", sc.Text(), err)
		}
		p := TCP
		if f[0] == "udp" {
			p = UDP
		}
		if id := sockID(p, 0, l, r); mine[id] {
			ids = append(ids, id)
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
	mine, l4, l6 := filterTestSockets(t)
	src := NewNetlink(Options{})
	t.Cleanup(func() { src.Close() })
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("netlink snapshot: %v", err)
	}
	var cand []Socket
	for _, s := range snap.Sockets {
		if mine[sockID(s.Proto, s.Family, s.Local, s.Remote)] {
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
		{"src 127.0.0.1"},
		{"src 127.0.0.0/8"},
		{"dst 127.0.0.1/32"},
		{"src [::1]"},
		{"src ::1/128"},
		{"dst ::/0"},
		{"dst 0.0.0.0"},
		{"dst [::]"},
		{fmt.Sprintf("src 127.0.0.1:%d", l4)},
		{fmt.Sprintf("dst [::1]:%d", l6)},
		{fmt.Sprintf("src *:%d", l4)},
		{fmt.Sprintf("src :%d", l6)},
		{"src inet:0.0.0.0/0"},
		{"dst *"},
		{fmt.Sprintf("not sport = :%d", l4)},
		{fmt.Sprintf("! ( sport = :%d or dport = :%d )", l4, l4)},
		{fmt.Sprintf("src 127.0.0.1 and dport = :%d", l4)},
		{fmt.Sprintf("src 127.0.0.1 dport = :%d", l4)},
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
		want := runSS(t, args, mine)
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
