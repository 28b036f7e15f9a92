//go:build linux

package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// eventWait guards every wait for kernel events against a hang.
const eventWait = 20 * time.Second

// needRoot skips a test that loads BPF when not root; the unprivileged
// path has its own test.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF needs root; TestBPFUnprivileged covers the refusal")
	}
}

// collector runs a reader and keeps every event it hands over.
type collector struct {
	mu   sync.Mutex
	evs  []collect.StateEvent
	done chan error
}

func startCollector(t testing.TB, r reader) *collector {
	c := &collector{done: make(chan error, 1)}
	go func() {
		c.done <- r.run(func(evs []collect.StateEvent) {
			c.mu.Lock()
			c.evs = append(c.evs, evs...)
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		r.close()
		waitfor.Recv(t, eventWait, "run to end after close", c.done, func(err error, _ bool) bool {
			if err != nil {
				t.Errorf("run: %v", err)
			}
			return true
		}, nil)
	})
	return c
}

// matching returns the events keep selects, in the reader's order.
func (c *collector) matching(keep func(*collect.StateEvent) bool) []collect.StateEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []collect.StateEvent
	for i := range c.evs {
		if keep(&c.evs[i]) {
			out = append(out, c.evs[i])
		}
	}
	return out
}

func byCookie(cookie uint64) func(*collect.StateEvent) bool {
	return func(e *collect.StateEvent) bool { return e.Cookie == cookie }
}

// cookieOf reads a connection's socket cookie.
func cookieOf(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	return kerneltest.Cookie(t, c)
}

// loopConn is one loopback connection the test made and closed: the
// client closes first, then the server.
type loopConn struct {
	listener, client, server uint64
	lAddr, cAddr             netip.AddrPort
}

// politeClose connects to a listener on addr from an unbound client
// (so its port is chosen at connect), sends a few bytes each
// way, closes the client, waits for the server to read the FIN, and
// closes the server and the listener.
func politeClose(t testing.TB, network string, addr netip.Addr) loopConn {
	t.Helper()
	// Plain TCP: Go listens with MPTCP by default, and an MPTCP
	// listener's cookie is not its TCP subflow's (TestBPFSkipsMPTCP).
	var lcfg net.ListenConfig
	lcfg.SetMultipathTCP(false)
	l, err := lcfg.Listen(context.Background(), network, netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	ln := l.(*net.TCPListener)
	defer ln.Close()
	var lc loopConn
	lc.listener = cookieOf(t, ln)
	lc.lAddr = ln.Addr().(*net.TCPAddr).AddrPort()
	var d net.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	cl, err := d.DialContext(ctx, network, lc.lAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lc.client = cookieOf(t, cl.(*net.TCPConn))
	lc.cAddr = cl.LocalAddr().(*net.TCPAddr).AddrPort()
	sv, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	lc.server = cookieOf(t, sv)
	exchange(t, cl, sv, "ping")
	exchange(t, sv, cl, "pong")
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sv.SetReadDeadline(time.Now().Add(eventWait)); err != nil {
		t.Fatal(err)
	}
	if n, err := sv.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("server read after the client's close: %d, %v; want EOF", n, err)
	}
	if err := sv.Close(); err != nil {
		t.Fatal(err)
	}
	return lc
}

func exchange(t testing.TB, from, to net.Conn, msg string) {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if err := to.SetReadDeadline(time.Now().Add(eventWait)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(to, buf); err != nil || string(buf) != msg {
		t.Fatalf("read %q, %v; want %q", buf, err, msg)
	}
}

// path is a list of transitions, for comparing and printing.
type path []collect.StateEvent

func (p path) String() string {
	var b strings.Builder
	for i, e := range p {
		if i == 0 {
			b.WriteString(e.From.String())
		}
		fmt.Fprintf(&b, " -> %s", e.To)
	}
	return b.String()
}

// checkPath checks that evs go through want, state by state, each
// transition starting where the last ended, with non-decreasing times.
func checkPath(t *testing.T, side string, evs []collect.StateEvent, want ...collect.State) {
	t.Helper()
	got := path(evs).String()
	var wb strings.Builder
	for i, s := range want {
		if i > 0 {
			wb.WriteString(" -> ")
		}
		wb.WriteString(s.String())
	}
	if got != wb.String() || len(evs) != len(want)-1 {
		t.Errorf("%s path: %s; want %s", side, got, wb.String())
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].From != evs[i-1].To {
			t.Errorf("%s: event %d starts at %s, the last ended at %s", side, i, evs[i].From, evs[i-1].To)
		}
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("%s: event %d (%s -> %s) at %v is before event %d at %v", side, i, evs[i].From, evs[i].To, evs[i].Time, i-1, evs[i-1].Time)
		}
	}
}

// selfNetNS is the inode of this process's network namespace.
func selfNetNS(t testing.TB) uint32 {
	t.Helper()
	fi, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return uint32(fi.Sys().(*syscall.Stat_t).Ino)
}

// waitEvents waits until keep selects n events.
func waitEvents(t *testing.T, c *collector, what string, n int, keep func(*collect.StateEvent) bool) []collect.StateEvent {
	t.Helper()
	var got []collect.StateEvent
	waitfor.UntilShow(t, eventWait, what, func() bool {
		got = c.matching(keep)
		return len(got) >= n
	}, func() string { return "seen: " + path(got).String() })
	return got
}

// childEvents finds the server's events: the accepted socket's by its
// cookie, and any transition on the same 4-tuple that carries another
// cookie (a request socket's).
func childEvents(c *collector, lc loopConn) (own, other []collect.StateEvent) {
	for _, e := range c.matching(func(e *collect.StateEvent) bool {
		return e.Cookie == lc.server || (e.Local == lc.lAddr && e.Remote == lc.cAddr)
	}) {
		if e.Cookie == lc.server {
			own = append(own, e)
		} else {
			other = append(other, e)
		}
	}
	return own, other
}

func testPaths(t *testing.T, network string, addr netip.Addr, family uint8) {
	needRoot(t)
	r, err := openBPF()
	if err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, r)
	lc := politeClose(t, network, addr)

	client := waitEvents(t, c, "the client's five transitions", 5, byCookie(lc.client))
	checkPath(t, "client", client, collect.StateClosed, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, collect.StateClosed)
	waitEvents(t, c, "the server's five transitions", 5, func(e *collect.StateEvent) bool {
		return e.Cookie == lc.server || (e.Local == lc.lAddr && e.Remote == lc.cAddr)
	})
	own, other := childEvents(c, lc)
	if len(other) != 0 {
		t.Errorf("server 4-tuple events under another cookie than the accepted socket's %d: %s (%+v)", lc.server, path(other), other)
	}
	// The request socket makes no event of its own: the child, cloned
	// from the listener when the handshake's last ACK comes, reports
	// LISTEN -> SYN_RECV, and the kernel gives it a fresh cookie there,
	// the accepted socket's. So every event on the server's 4-tuple
	// carries that cookie.
	checkPath(t, "server", own, collect.StateListen, collect.StateSynRecv, collect.StateEstablished,
		collect.StateCloseWait, collect.StateLastAck, collect.StateClosed)
	listener := waitEvents(t, c, "the listener's two transitions", 2, byCookie(lc.listener))
	checkPath(t, "listener", listener, collect.StateClosed, collect.StateListen, collect.StateClosed)

	ns := selfNetNS(t)
	all := c.matching(func(e *collect.StateEvent) bool {
		return e.Cookie == lc.client || e.Cookie == lc.server || e.Cookie == lc.listener
	})
	for _, e := range all {
		if e.NetNS != ns {
			t.Errorf("event %s -> %s of cookie %d in netns %d, want %d", e.From, e.To, e.Cookie, e.NetNS, ns)
		}
		if e.Family != family || e.Proto != collect.TCP {
			t.Errorf("event %s -> %s of cookie %d: family %d proto %v, want %d TCP", e.From, e.To, e.Cookie, e.Family, e.Proto, family)
		}
	}
	// The addresses at each change: the connecting client's first event
	// has no port yet, and every later one has the 4-tuple.
	if len(client) == 5 {
		if want := netip.AddrPortFrom(lc.cAddr.Addr(), 0); client[0].Local != want || client[0].Remote != lc.lAddr {
			t.Errorf("client CLOSED -> SYN_SENT: %v -> %v, want %v -> %v", client[0].Local, client[0].Remote, want, lc.lAddr)
		}
		for _, e := range client[1:] {
			if e.Local != lc.cAddr || e.Remote != lc.lAddr {
				t.Errorf("client %s -> %s: %v -> %v, want %v -> %v", e.From, e.To, e.Local, e.Remote, lc.cAddr, lc.lAddr)
			}
		}
	}
	for _, e := range own {
		if e.Local != lc.lAddr || e.Remote != lc.cAddr {
			t.Errorf("server %s -> %s: %v -> %v, want %v -> %v", e.From, e.To, e.Local, e.Remote, lc.lAddr, lc.cAddr)
		}
	}
	for _, e := range listener {
		if e.Local != lc.lAddr || e.Remote.Port() != 0 {
			t.Errorf("listener %s -> %s: %v -> %v, want %v -> port 0", e.From, e.To, e.Local, e.Remote, lc.lAddr)
		}
	}
	// Causality across the two sides: the client's FIN precedes the
	// server's CLOSE_WAIT, and the server's FIN the client's last change.
	if len(client) == 5 && len(own) == 5 {
		if own[2].Time.Before(client[2].Time) {
			t.Errorf("server entered CLOSE_WAIT at %v, before the client's FIN_WAIT_1 at %v", own[2].Time, client[2].Time)
		}
		if client[4].Time.Before(own[3].Time) {
			t.Errorf("client left FIN_WAIT_2 at %v, before the server's LAST_ACK at %v", client[4].Time, own[3].Time)
		}
	}
}

// TestBPFPathsIPv4 follows one polite close on the test's own 127.a.b.c
// through the BPF reader: each socket's exact path, in order.
func TestBPFPathsIPv4(t *testing.T) {
	testPaths(t, "tcp4", kerneltest.Addr4, 4)
}

// TestBPFPathsIPv6 is the same on ::1.
func TestBPFPathsIPv6(t *testing.T) {
	testPaths(t, "tcp6", netip.IPv6Loopback(), 6)
}

// TestOpenPrefersBPF: as root, Open with no mode reads through BPF, and
// the stream delivers the test's own events.
func TestOpenPrefersBPF(t *testing.T) {
	needRoot(t)
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.Mode() != ModeBPF {
		t.Fatalf("mode %q, notices %q; want bpf", s.Mode(), s.Notices())
	}
	lc := politeClose(t, "tcp4", kerneltest.Addr4)
	var got []collect.StateEvent
	waitfor.UntilShow(t, eventWait, "the client's five transitions through the stream", func() bool {
		evs, _, _, _ := s.Drain(nil, nil)
		for _, e := range evs {
			if e.Cookie == lc.client {
				got = append(got, e)
			}
		}
		return len(got) >= 5
	}, func() string { return path(got).String() })
	checkPath(t, "client", got, collect.StateClosed, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, collect.StateClosed)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Errorf("stream error: %v", err)
	}
}
