//go:build linux

package collect

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ssLine is one line of `ss -tanuHeOo`.
type ssLine struct {
	proto        Proto
	state        string
	recvQ, sendQ uint32
	local, peer  netip.AddrPort
	uid, ino     uint32
	cookie       uint64
	timer        string // "" when ss printed no timer
	timerLeft    time.Duration
	retrans      int
}

type sockKey struct {
	proto       Proto
	local, peer netip.AddrPort
}

// parseSS reads ss's one-line extended output. It is the oracle's parser,
// so it is strict: an unknown token shape is an error, not a skip.
func parseSS(b []byte) ([]ssLine, error) {
	var out []ssLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 6 {
			return nil, fmt.Errorf("short ss line %q", sc.Text())
		}
		var l ssLine
		switch f[0] {
		case "tcp":
			l.proto = TCP
		case "udp":
			l.proto = UDP
		default:
			return nil, fmt.Errorf("ss netid %q", f[0])
		}
		l.state = f[1]
		rq, err1 := strconv.ParseUint(f[2], 10, 32)
		sq, err2 := strconv.ParseUint(f[3], 10, 32)
		local, err3 := parseSSAddr(f[4])
		peer, err4 := parseSSAddr(f[5])
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				return nil, fmt.Errorf("ss line %q: %w", sc.Text(), err)
			}
		}
		l.recvQ, l.sendQ, l.local, l.peer = uint32(rq), uint32(sq), local, peer
		for _, tok := range f[6:] {
			k, v, _ := strings.Cut(tok, ":")
			var err error
			switch k {
			case "uid":
				var n uint64
				n, err = strconv.ParseUint(v, 10, 32)
				l.uid = uint32(n)
			case "ino":
				var n uint64
				n, err = strconv.ParseUint(v, 10, 32)
				l.ino = uint32(n)
			case "sk":
				l.cookie, err = strconv.ParseUint(v, 16, 64)
			case "timer":
				err = l.parseTimer(v)
			}
			if err != nil {
				return nil, fmt.Errorf("ss token %q: %w", tok, err)
			}
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// parseTimer reads "(keepalive,14sec,0)".
func (l *ssLine) parseTimer(v string) error {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return fmt.Errorf("timer %q", v)
	}
	d, err := parseSSDuration(parts[1])
	if err != nil {
		return err
	}
	r, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	l.timer, l.timerLeft, l.retrans = parts[0], d, r
	return nil
}

// parseSSDuration reads ss's print_ms_timer format: [Nmin][S(sec|.)][MMMms],
// so "5.080ms" is 5.08 s, "14sec" is 14 s, "1min5sec" is 65 s.
func parseSSDuration(s string) (time.Duration, error) {
	orig := s
	var d time.Duration
	num := func() (int, error) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(s[:i])
		s = s[i:]
		return n, err
	}
	for s != "" {
		n, err := num()
		if err != nil {
			return 0, fmt.Errorf("ss duration %q: %w", orig, err)
		}
		switch {
		case strings.HasPrefix(s, "min"):
			d += time.Duration(n) * time.Minute
			s = s[3:]
		case strings.HasPrefix(s, "sec"):
			d += time.Duration(n) * time.Second
			s = s[3:]
		case strings.HasPrefix(s, "."):
			d += time.Duration(n) * time.Second
			s = s[1:]
		case strings.HasPrefix(s, "ms"):
			d += time.Duration(n) * time.Millisecond
			s = s[2:]
		default:
			return 0, fmt.Errorf("ss duration %q", orig)
		}
	}
	return d, nil
}

// parseSSAddr reads "127.0.0.1:80", "[::1]:80", "0.0.0.0:*", "[::]:*";
// "*" as a port is 0.
func parseSSAddr(s string) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("address %q has no port", s)
	}
	host, port := strings.Trim(s[:i], "[]"), s[i+1:]
	host, _, _ = strings.Cut(host, "%")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p := uint64(0)
	if port != "*" {
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return netip.AddrPort{}, err
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func TestParseSSDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"796ms":    796 * time.Millisecond,
		"5.080ms":  5080 * time.Millisecond,
		"14sec":    14 * time.Second,
		"1min5sec": 65 * time.Second,
		"12min":    12 * time.Minute,
	} {
		got, err := parseSSDuration(in)
		if err != nil || got != want {
			t.Errorf("parseSSDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseSSDuration("5parsecs"); err == nil {
		t.Errorf("parseSSDuration accepted garbage")
	}
}

// oracleTable builds, for one family, every state the test compares, and
// returns the ports involved.
func oracleTable(t *testing.T, fam int) map[uint16]bool {
	ports := map[uint16]bool{}
	add := func(p int) { ports[uint16(p)] = true }
	lo := loopback(fam)

	// LISTEN with a full accept queue: backlog 1 holds 2 children.
	full, fport := listenTCP(t, fam, 1, nil)
	_ = full
	add(fport)
	for range 2 {
		dialTCP(t, fam, lo, fport, nil)
	}

	// ESTABLISHED with a keepalive timer, owned by another uid.
	l, eport := listenTCP(t, fam, 8, nil)
	add(eport)
	asUID(t, 65534, func() {
		c := dialTCP(t, fam, lo, eport, func(r *rawFD) {
			setInt(t, r, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			setInt(t, r, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 30)
		})
		_ = c
	})
	acceptTCP(t, l)

	// TIME_WAIT on the client: client closes first, then the server.
	c, s, tport := pairTCP(t, fam)
	add(tport)
	c.Close()
	time.Sleep(10 * time.Millisecond)
	s.Close()

	// CLOSE_WAIT on the server, orphan FIN_WAIT_2 on the client.
	c2, _, wport := pairTCP(t, fam)
	add(wport)
	c2.Close()

	// Bytes in both queues.
	zc, _ := zeroWindow(t, fam)
	add(localPort(t, zc))

	// UDP bound, and UDP connected to it.
	u := newSocket(t, fam, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(fam, lo, 0)); err != nil {
		t.Fatal(err)
	}
	uport := localPort(t, u)
	add(uport)
	uc := newSocket(t, fam, unix.SOCK_DGRAM)
	if err := unix.Connect(uc.fd, sockaddr(fam, lo, uport)); err != nil {
		t.Fatal(err)
	}

	if fam == unix.AF_INET6 {
		// An IPv6 socket talking to an IPv4 listener: IPv4-mapped
		// addresses on an AF_INET6 socket.
		l4, p4 := listenTCP(t, unix.AF_INET, 8, nil)
		add(p4)
		dialTCP(t, unix.AF_INET6, netip.MustParseAddr("::ffff:127.0.0.1"), p4, nil)
		acceptTCP(t, l4)
	}
	return ports
}

// ours reports whether a socket belongs to the oracle table: one end is a
// loopback address (127.0.0.1, ::1, or IPv4-mapped) on one of its ports.
// Checking the address too keeps out other processes' sockets that merely
// share a port number on another address (a socket farm on 127.77.1.1).
func ours(ports portSet, local, remote netip.AddrPort) bool {
	is := func(ap netip.AddrPort) bool {
		a := ap.Addr().Unmap()
		return ports[ap.Port()] && (a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback())
	}
	return is(local) || is(remote)
}

type portSet = map[uint16]bool

// TestNetlinkMatchesSS compares every field socktop reports with what ss
// prints for the same sockets, built on loopback in every stable state.
func TestNetlinkMatchesSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	ports := oracleTable(t, unix.AF_INET)
	for p := range oracleTable(t, unix.AF_INET6) {
		ports[p] = true
	}
	n := NewNetlink(Options{})
	t.Cleanup(func() { n.Close() })

	// Every state must be there before comparing, or the comparison
	// could pass on an empty table.
	want := map[string]int{"LISTEN": 0, "ESTAB": 0, "TIME-WAIT": 0, "CLOSE-WAIT": 0, "FIN-WAIT-2": 0, "UNCONN": 0}
	waitSnapshot(t, n, func(s *Snapshot) bool {
		clear(want)
		for i := range s.Sockets {
			x := &s.Sockets[i]
			if ours(ports, x.Local, x.Remote) {
				want[x.State.SSName()]++
			}
		}
		return want["LISTEN"] >= 5 && want["TIME-WAIT"] >= 2 && want["CLOSE-WAIT"] >= 2 &&
			want["FIN-WAIT-2"] >= 2 && want["UNCONN"] >= 2 && want["ESTAB"] >= 10
	})

	// Queues of the zero-window pair can still move a little while the
	// receiver collapses its buffer: retry the whole comparison.
	var errs []string
	for attempt := 0; attempt < 3; attempt++ {
		errs = compareWithSS(t, n, ports)
		if len(errs) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, e := range errs {
		t.Error(e)
	}
}

func compareWithSS(t *testing.T, n *Netlink, ports map[uint16]bool) []string {
	t.Helper()
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command("ss", "-tanuHeOo").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	gap := time.Since(start) + time.Since(snap.Taken)
	lines, err := parseSS(out)
	if err != nil {
		t.Fatal(err)
	}
	ss := map[sockKey]ssLine{}
	for _, l := range lines {
		if ours(ports, l.local, l.peer) {
			ss[sockKey{l.proto, l.local, l.peer}] = l
		}
	}
	var errs []string
	seen := map[sockKey]bool{}
	var sawQueues, sawUID, sawMapped, sawFull bool
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if !ours(ports, s.Local, s.Remote) {
			continue
		}
		k := sockKey{s.Proto, s.Local, s.Remote}
		seen[k] = true
		l, ok := ss[k]
		if !ok {
			errs = append(errs, fmt.Sprintf("%v %v -> %v %v: not in ss", s.Proto, s.Local, s.Remote, s.State))
			continue
		}
		bad := func(field string, ours, theirs any) {
			errs = append(errs, fmt.Sprintf("%v %v -> %v: %s = %v, ss says %v", s.Proto, s.Local, s.Remote, field, ours, theirs))
		}
		if s.State.SSName() != l.state {
			bad("state", s.State.SSName(), l.state)
		}
		if s.RecvQ != l.recvQ {
			bad("Recv-Q", s.RecvQ, l.recvQ)
		}
		if s.SendQ != l.sendQ {
			bad("Send-Q", s.SendQ, l.sendQ)
		}
		if s.UID != l.uid {
			bad("uid", s.UID, l.uid)
		}
		if s.Inode != l.ino {
			bad("inode", s.Inode, l.ino)
		}
		if s.Cookie != l.cookie {
			bad("cookie", s.Cookie, l.cookie)
		}
		wantFam := uint8(4)
		if s.Local.Addr().Is6() {
			wantFam = 6
		}
		if s.Family != wantFam {
			bad("family", s.Family, wantFam)
		}
		if !s.Remote.IsValid() {
			bad("remote validity", s.Remote, l.peer)
		}
		ssTimer := l.timer
		if ssTimer == "" {
			ssTimer = "off"
		}
		if s.Timer.String() != ssTimer {
			bad("timer", s.Timer, ssTimer)
		}
		if s.Retrans != uint8(l.retrans) {
			bad("retrans", s.Retrans, l.retrans)
		}
		// ss looked later and truncates to whole seconds above 10 s; a
		// persist timer is re-armed with backoff, so only its kind counts.
		if s.Timer != TimerOff && s.Timer != TimerPersist {
			d := s.TimerLeft - l.timerLeft
			if d < -50*time.Millisecond || d > gap+1100*time.Millisecond {
				bad("timer left", s.TimerLeft, l.timerLeft)
			}
		}
		sawQueues = sawQueues || (s.State == StateEstablished && s.RecvQ > 0) || (s.SendQ > 1000)
		sawUID = sawUID || s.UID == 65534
		sawMapped = sawMapped || s.Local.Addr().Is4In6()
		sawFull = sawFull || (s.State == StateListen && s.RecvQ == 2 && s.SendQ == 1)
	}
	for k, l := range ss {
		if !seen[k] {
			errs = append(errs, fmt.Sprintf("%v %v -> %v %s: ss has it, socktop does not", k.proto, k.local, k.peer, l.state))
		}
	}
	if !sawQueues || !sawUID || !sawMapped || !sawFull {
		errs = append(errs, fmt.Sprintf("table incomplete: queues %v, uid 65534 %v, v4-mapped %v, full accept queue %v", sawQueues, sawUID, sawMapped, sawFull))
	}
	return errs
}
