//go:build linux

package filter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// TestMain runs the suite with loopback up (see kerneltest.Main), or,
// in a child a test started in a cgroup of its own, holds sockets there
// (see cgroupChild).
func TestMain(m *testing.M) {
	if os.Getenv(cgroupChildEnv) != "" {
		holdSocketsInCgroup()
		return
	}
	kerneltest.Main(m)
}

// testAddr4 is this test binary's own IPv4 loopback address.
var testAddr4 = kerneltest.Addr4

// ownSockets is the set of sockets one test made. The host is never quiet:
// other programs hold sockets on the same port numbers, so a test knows
// its own by the inode of a descriptor it holds, and a row without one (a
// TIME_WAIT) by its exact 4-tuple on the test's own address.
type ownSockets struct {
	inodes map[uint32]bool
	tuples map[collect.Key]bool
	ports  map[uint16]bool // the ports of the test's sockets, for ssNarrow
}

func newOwnSockets() *ownSockets {
	return &ownSockets{inodes: map[uint32]bool{}, tuples: map[collect.Key]bool{}, ports: map[uint16]bool{}}
}

// add records the socket of a connection, listener or UDP socket made
// with package net: its inode and its port.
func (o *ownSockets) add(t *testing.T, c syscall.Conn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var sa unix.Sockaddr
	if cerr := rc.Control(func(fd uintptr) {
		if err = unix.Fstat(int(fd), &st); err == nil {
			sa, err = unix.Getsockname(int(fd))
		}
	}); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatalf("fstat or getsockname: %v", err)
	}
	o.inodes[uint32(st.Ino)] = true
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		o.ports[uint16(a.Port)] = true
	case *unix.SockaddrInet6:
		o.ports[uint16(a.Port)] = true
	}
}

// has reports whether s is one of the test's sockets.
func (o *ownSockets) has(s *collect.Socket) bool {
	if s.Inode != 0 {
		return o.inodes[s.Inode]
	}
	return o.tuples[s.Key()]
}

// snapshot returns the test's own sockets from a netlink snapshot, once
// ready accepts them (the TIME_WAIT comes a moment after the close). It
// fails after 10 s, a timeout for a loaded host.
func (o *ownSockets) snapshot(t *testing.T, ready func([]collect.Socket) bool) []collect.Socket {
	t.Helper()
	src := collect.NewNetlink(collect.Options{})
	defer src.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatalf("netlink snapshot: %v", err)
		}
		var own []collect.Socket
		for i := range snap.Sockets {
			if o.has(&snap.Sockets[i]) {
				own = append(own, snap.Sockets[i])
			}
		}
		if ready(own) {
			return own
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test's sockets did not all appear within 10 s: %v", own)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// filterTestSockets opens a small zoo on loopback: TCP listeners on the
// test's own IPv4 address (testAddr4) and ::1, an established pair on each,
// a TIME_WAIT left by a client that closed first, and UDP sockets
// unconnected and connected. It returns the two listening ports, the
// test's sockets and a snapshot of them; everything is closed at cleanup.
func filterTestSockets(t *testing.T) (l4, l6 uint16, own *ownSockets, socks []collect.Socket) {
	t.Helper()
	own = newOwnSockets()
	closeLater := func(c interface{ Close() error }) { t.Cleanup(func() { c.Close() }) }
	local4 := net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0))
	listen := func(network string, addr *net.TCPAddr) (*net.TCPListener, uint16) {
		ln, err := net.ListenTCP(network, addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		closeLater(ln)
		own.add(t, ln)
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
		own.add(t, c.(*net.TCPConn))
		own.add(t, s)
		return c.(*net.TCPConn), s
	}
	ln4, p4 := listen("tcp4", local4)
	ln6, p6 := listen("tcp6", &net.TCPAddr{IP: net.IPv6loopback})
	pair(ln4)
	pair(ln6)
	// The client closes first, then the server once it has read the FIN:
	// the client's 4-tuple sits in TIME_WAIT for 60 s.
	c, s := pair(ln4)
	tw := collect.Key{Proto: collect.TCP, Local: netip.MustParseAddrPort(c.LocalAddr().String()), Remote: netip.MustParseAddrPort(c.RemoteAddr().String())}
	own.tuples[tw] = true
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
		own.add(t, u)
		return u
	}
	u4 := udp("udp4", testAddr4)
	udp("udp6", netip.IPv6Loopback())
	cu, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)), u4.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatalf("dial udp: %v", err)
	}
	closeLater(cu)
	own.add(t, cu)

	// Wait for the TIME_WAIT before anyone looks.
	socks = own.snapshot(t, func(socks []collect.Socket) bool {
		return slices.ContainsFunc(socks, func(x collect.Socket) bool { return x.Key() == tw && x.State == collect.StateTimeWait })
	})
	return p4, p6, own, socks
}

// sockID names a socket in a failure message: protocol and 4-tuple.
func sockID(s *collect.Socket) string {
	return fmt.Sprintf("%s %s %s", s.Proto, s.Local, s.Remote)
}

// ssNarrow is an ss expression for the rows with one of the ports at
// either end; ss evaluates it in the kernel, so it prints a few rows and
// not the host's whole table (on a host with 100k sockets one full ss run
// takes over a second, and the test's TIME_WAIT lives 60 s).
func ssNarrow(ports map[uint16]bool) string {
	var terms []string
	for _, p := range slices.Sorted(maps.Keys(ports)) {
		terms = append(terms, fmt.Sprintf("sport = :%d or dport = :%d", p, p))
	}
	return strings.Join(terms, " or ")
}

// runSS runs `ss -tanuHe ARGS...` and returns the rows among socks that
// ss printed, known by their socket cookie (ss -e prints it as sk:HEX), in
// the order of socks. ARGS are ss's: state and exclude terms (separate
// words, which ss wants first) and at most one expression; ss evaluates
// the ports of the test's sockets (ssNarrow) before the expression.
func runSS(t *testing.T, args []string, own *ownSockets, socks []collect.Socket) []string {
	t.Helper()
	narrow := ssNarrow(own.ports)
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
	printed := map[uint64]bool{}
	for line := range strings.Lines(string(out)) {
		cookie := uint64(0)
		for _, f := range strings.Fields(line) {
			if hex, ok := strings.CutPrefix(f, "sk:"); ok {
				if cookie, err = strconv.ParseUint(hex, 16, 64); err != nil {
					t.Fatalf("ss %q: cookie %q: %v", words, f, err)
				}
			}
		}
		if cookie == 0 {
			t.Fatalf("ss %q: no socket cookie (sk:) in row %q", words, line)
		}
		printed[cookie] = true
	}
	var ids []string
	for i := range socks {
		if printed[socks[i].Cookie] {
			ids = append(ids, sockID(&socks[i]))
		}
	}
	return ids
}

// agreeWithSS parses the words of args as one expression and checks that
// the filter keeps, among socks, the rows ss keeps for the same words. It
// returns how many rows ss kept.
func agreeWithSS(t *testing.T, args []string, own *ownSockets, socks []collect.Socket) int {
	t.Helper()
	expr := strings.Join(args, " ")
	f, err := Parse(expr)
	if err != nil {
		t.Errorf("Parse(%q): %v", expr, err)
		return 0
	}
	var got []string
	for i := range socks {
		if f.Match(&socks[i]) {
			got = append(got, sockID(&socks[i]))
		}
	}
	want := runSS(t, args, own, socks)
	if !slices.Equal(got, want) {
		t.Errorf("%q:\nsocktop %q\n     ss %q", expr, got, want)
	}
	return len(want)
}

// TestFilterAgreesWithSS runs each expression through ss on real sockets
// and through Filter on a netlink snapshot of the same sockets: ss is the
// oracle of what the expression means.
func TestFilterAgreesWithSS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	l4, l6, own, cand := filterTestSockets(t)
	a4 := testAddr4.String()
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
		if agreeWithSS(t, args, own, cand) > 0 {
			nonEmpty++
		}
	}
	// The comparison means something only if ss saw the test's sockets.
	if nonEmpty < len(cases)-4 {
		t.Errorf("ss matched nothing for %d of %d expressions", len(cases)-nonEmpty, len(cases))
	}
}
