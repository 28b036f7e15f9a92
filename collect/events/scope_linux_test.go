package events

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/waitfor"
)

// drainAll syncs the stream up to now and drains it.
func drainAll(t *testing.T, st *Stream) ([]collect.StateEvent, []collect.Closed) {
	t.Helper()
	if !st.Sync(time.Now(), eventWait) {
		t.Fatal("the stream did not catch up")
	}
	evs, closed, _, _ := st.Drain(nil, nil)
	return evs, closed
}

// drainUntilClosed drains the stream, synced, until the destroy record
// of cookie has come. Destroy records come on a socket of their own,
// which Sync does not wait for; they come in the order the kernel
// queued them, so every record of a socket closed before cookie's has
// come too, or was dropped.
func drainUntilClosed(t *testing.T, st *Stream, cookie uint64) (map[uint64][]collect.StateEvent, map[uint64]bool) {
	t.Helper()
	var evs []collect.StateEvent
	var closed []collect.Closed
	waitfor.Until(t, eventWait, "the destroy record of the last socket closed", func() bool {
		e, c := drainAll(t, st)
		evs, closed = append(evs, e...), append(closed, c...)
		return closedCookies(closed)[cookie]
	})
	return cookies(evs), closedCookies(closed)
}

func cookies(evs []collect.StateEvent) map[uint64][]collect.StateEvent {
	m := map[uint64][]collect.StateEvent{}
	for _, e := range evs {
		m[e.Cookie] = append(m[e.Cookie], e)
	}
	return m
}

func closedCookies(cs []collect.Closed) map[uint64]bool {
	m := map[uint64]bool{}
	for _, c := range cs {
		m[c.Cookie] = true
	}
	return m
}

// A scope of one port keeps the events and destroy records of the
// connections on that port, and drops another port's in the kernel: of
// those only the client's connect, whose port is not chosen yet, comes,
// and the event after it, which says the port.
// A scope taken off lets the other port's through again.
func TestStreamScopeByPorts(t *testing.T) {
	needRoot(t)
	st, err := Open(Options{Mode: ModeBPF, Closed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Mode() != ModeBPF || st.cw == nil {
		t.Fatalf("want BPF and destroy records; mode %s, notices %v", st.Mode(), st.Notices())
	}
	in, out := listenLoop(t), listenLoop(t)
	inPort := uint16(in.Addr().(*net.TCPAddr).Port)
	ps := &collect.PortSet{Local: []collect.PortRange{{Lo: inPort, Hi: inPort}}, Remote: []collect.PortRange{{Lo: inPort, Hi: inPort}}}
	if err := st.SetScope(Scope{NetNS: selfNetNS(t), TCP: ps, UDP: &collect.PortSet{}}); err != nil {
		t.Fatal(err)
	}
	drainAll(t, st)

	o := connectClose(t, out)
	i := connectClose(t, in)
	by, rec := drainUntilClosed(t, st, i.server)
	for _, c := range []uint64{i.client, i.server} {
		if len(by[c]) < 3 {
			t.Errorf("the scope's port: socket %d has %d events, want its whole path: %v", c, len(by[c]), path(by[c]))
		}
	}
	if got := by[o.server]; len(got) != 0 {
		t.Errorf("another port: the server has events %v; the kernel should have dropped them", path(got))
	}
	// The connect, before its port was chosen, and the next event,
	// which names the port: nothing after.
	if got := by[o.client]; len(got) != 2 || got[0].To != collect.StateSynSent || got[0].Local.Port() != 0 ||
		got[1].To != collect.StateEstablished || got[1].Local.Port() == 0 {
		t.Errorf("another port: the client has events %v; want its connect, before its port was chosen, and the next one alone", path(got))
	}
	if rec[o.server] {
		t.Errorf("another port: a destroy record of the server %d came; the kernel should have dropped it", o.server)
	}

	if err := st.SetScope(Scope{}); err != nil {
		t.Fatal(err)
	}
	o = connectClose(t, out)
	by, _ = drainUntilClosed(t, st, o.server)
	if len(by[o.server]) < 3 || len(by[o.client]) < 3 {
		t.Errorf("no scope: another port's server has %v, client %v; want both paths", path(by[o.server]), path(by[o.client]))
	}
}

// A scope of this namespace drops the events of a socket in another one.
func TestStreamScopeByNamespace(t *testing.T) {
	needRoot(t)
	st, err := Open(Options{Mode: ModeBPF})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.rd.(*bpfReader).hasNetNS {
		t.Skip("this kernel's struct sock gives the program no namespace")
	}
	if err := st.SetScope(Scope{NetNS: selfNetNS(t)}); err != nil {
		t.Fatal(err)
	}
	drainAll(t, st)
	away := listenAway(t)
	here := listenClose(t)
	by := cookies(first(drainAll(t, st)))
	if len(by[here]) != 2 {
		t.Errorf("this namespace's listener has events %v; want it listening and closed", path(by[here]))
	}
	if len(by[away]) != 0 {
		t.Errorf("another namespace's listener has events %v; the kernel should have dropped them", path(by[away]))
	}
	if err := st.SetScope(Scope{}); err != nil {
		t.Fatal(err)
	}
	away = listenAway(t)
	if by := cookies(first(drainAll(t, st))); len(by[away]) != 2 {
		t.Errorf("no scope: another namespace's listener has events %v; want both", path(by[away]))
	}
}

func first[A, B any](a A, _ B) A { return a }

// listenLoop listens on a loopback port of its own, plain TCP (see
// politeClose).
func listenLoop(t *testing.T) *net.TCPListener {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// connectClose makes one connection to ln from a port chosen at connect,
// and closes it, the client first.
func connectClose(t *testing.T, ln *net.TCPListener) loopConn {
	t.Helper()
	var d net.Dialer
	d.SetMultipathTCP(false)
	cl, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	lc := loopConn{client: cookieOf(t, cl.(*net.TCPConn)), server: cookieOf(t, sv)}
	cl.Close()
	if err := sv.SetReadDeadline(time.Now().Add(eventWait)); err != nil {
		t.Fatal(err)
	}
	if n, err := sv.Read(make([]byte, 1)); n != 0 {
		t.Fatalf("server read %d bytes, %v; want EOF", n, err)
	}
	sv.Close()
	return lc
}

// listenClose listens on any address of this namespace and closes,
// returning the socket's cookie.
func listenClose(t *testing.T) uint64 {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		t.Fatal(err)
	}
	return cookie
}

// listenAway is listenClose in a new network namespace, made on a thread
// that ends with it.
func listenAway(t *testing.T) uint64 {
	t.Helper()
	type res struct {
		cookie uint64
		err    error
	}
	done := make(chan res, 1)
	go func() {
		// Never unlocked: the thread, in the other namespace, ends with
		// the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- res{err: err}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			done <- res{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
			done <- res{err: err}
			return
		}
		if err := unix.Listen(fd, 1); err != nil {
			done <- res{err: err}
			return
		}
		c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
		done <- res{cookie: c, err: err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.cookie
}
