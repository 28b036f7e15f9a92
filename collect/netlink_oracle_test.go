//go:build linux

package collect

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
)

// oracleTable builds, for one family, every state the test compares, and
// returns the ports involved (to narrow ss's output with a kernel filter;
// the test's own rows are then found by inode and 4-tuple, see mine).
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
	waitEOF(t, s) // the server has the FIN: no simultaneous close
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
	if fam == unix.AF_INET {
		if err := unix.Bind(uc.fd, sockaddr(fam, lo, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Connect(uc.fd, sockaddr(fam, lo, uport)); err != nil {
		t.Fatal(err)
	}

	if fam == unix.AF_INET6 {
		// An IPv6 socket talking to an IPv4 listener: IPv4-mapped
		// addresses on an AF_INET6 socket.
		l4, p4 := listenTCP(t, unix.AF_INET, 8, nil)
		add(p4)
		dialTCP(t, unix.AF_INET6, netip.AddrFrom16(testAddr4.As16()), p4, nil)
		acceptTCP(t, l4)
	}
	return ports
}

// oracleWant is how many of the test's sockets the two oracle tables hold
// in each state, as ss names it.
var oracleWant = map[string]int{"LISTEN": 5, "ESTAB": 20, "TIME-WAIT": 2, "CLOSE-WAIT": 2, "FIN-WAIT-2": 2, "UNCONN": 2}

// TestNetlinkMatchesSS compares every field socktop reports with what ss
// prints for the same sockets, built on loopback in every stable state.
func TestNetlinkMatchesSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	ports := oracleTable(t, unix.AF_INET)
	maps.Copy(ports, oracleTable(t, unix.AF_INET6))
	n := NewNetlink(Options{})
	t.Cleanup(func() { n.Close() })
	own := mine(t)

	// Every state must be there before comparing, or the comparison
	// could pass on an empty table.
	got := map[string]int{}
	waitSnapshot(t, n, func(s *Snapshot) bool {
		clear(got)
		for i := range s.Sockets {
			if x := &s.Sockets[i]; own.has(x) {
				got[x.State.SSName()]++
			}
		}
		return maps.Equal(got, oracleWant)
	})

	// Queues of the zero-window pair can still move a little while the
	// receiver collapses its buffer, and a loaded host can stretch that:
	// retry the whole comparison for a while.
	var errs []string
	waitfor.UntilShow(t, 10*time.Second, "socktop and ss to agree",
		func() bool { errs = compareWithSS(t, n, ports); return len(errs) == 0 },
		func() string { return strings.Join(errs, "\n") })
}

// ssPortFilter is an ss expression for the rows with one of ports at
// either end; ss evaluates it in the kernel, so ss prints only those.
func ssPortFilter(ports map[uint16]bool) string {
	var terms []string
	for _, p := range slices.Sorted(maps.Keys(ports)) {
		terms = append(terms, fmt.Sprintf("sport = :%d or dport = :%d", p, p))
	}
	return strings.Join(terms, " or ")
}

func compareWithSS(t *testing.T, n *Netlink, ports map[uint16]bool) []string {
	t.Helper()
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	own := mine(t)
	start := time.Now()
	out, err := exec.Command("ss", "-tanuHeOo", ssPortFilter(ports)).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	// How far apart the two looks were bounds how far the timers moved.
	gap := time.Since(start) + time.Since(snap.Taken)
	lines, err := parseSS(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	ss := map[Key]ssLine{}
	for _, l := range lines {
		if own.hasSS(&l) {
			ss[Key{Proto: l.proto, Local: l.local, Remote: l.peer}] = l
		}
	}
	var errs []string
	seen := map[Key]bool{}
	var sawQueues, sawUID, sawMapped, sawFull bool
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if !own.has(s) {
			continue
		}
		k := s.Key()
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
			errs = append(errs, fmt.Sprintf("%v %v -> %v %s: ss has it, socktop does not", k.Proto, k.Local, k.Remote, l.state))
		}
	}
	if !sawQueues || !sawUID || !sawMapped || !sawFull {
		errs = append(errs, fmt.Sprintf("table incomplete: queues %v, uid 65534 %v, v4-mapped %v, full accept queue %v", sawQueues, sawUID, sawMapped, sawFull))
	}
	return errs
}
