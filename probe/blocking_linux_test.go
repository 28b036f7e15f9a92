package probe

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blockedListener makes a listener on a free port and a thread blocked in
// accept() on it, asleep in the kernel.
func blockedListener(t *testing.T, p *Probe) (*Endpoint, *Blocked, uint16) {
	t.Helper()
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.SetReuseAddr(true))
	must(t, ln.Bind(port))
	must(t, ln.Listen(4))
	b, err := ln.AcceptBlocking("server 2")
	must(t, err)
	must(t, b.WaitInKernel(callWait))
	return ln, b, port
}

func nonblocking(t *testing.T, ep *Endpoint) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(ep.FD()), unix.F_GETFL, 0)
	must(t, err)
	return flags&unix.O_NONBLOCK != 0
}

func TestAcceptBlockingReleasedByShutdown(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	ln, b, _ := blockedListener(t, p)
	waitEvent(t, rec, fmt.Sprintf("server: accept() [blocking, thread %d] = asleep in accept4", b.TID()))
	if nonblocking(t, ln) {
		t.Error("the listener is still O_NONBLOCK while a thread blocks in accept() on it")
	}
	select {
	case <-b.Done():
		t.Fatal("the blocked accept returned before anyone released it")
	default:
	}
	if _, err := ln.Accept("server 3", callWait); !errors.Is(err, ErrBadArgument) {
		t.Errorf("Accept beside a blocking accept = %v, want ErrBadArgument", err)
	}
	must(t, ln.Shutdown(ShutRDWR))
	child, err := b.Wait(callWait)
	if !errors.Is(err, unix.EINVAL) || child != nil {
		t.Fatalf("blocked accept after shutdown of the listener = %v, %v; want EINVAL", child, err)
	}
	waitEvent(t, rec, fmt.Sprintf("server: accept() [blocking, thread %d] = EINVAL", b.TID()))
	if !nonblocking(t, ln) {
		t.Error("the listener did not get O_NONBLOCK back after the blocking accept returned")
	}
	// The listener is no longer listening: a waiting accept fails at once
	// instead of waiting.
	if _, err := ln.Accept("server 3", callWait); !errors.Is(err, unix.EINVAL) {
		t.Errorf("accept on the shut-down listener = %v, want EINVAL", err)
	}
}

func TestAcceptBlockingTakesAConnection(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	_, b, port := blockedListener(t, p)
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	child, err := b.Wait(callWait)
	must(t, err)
	if child.Name() != "server 2" || child.Remote() != cli.Local() {
		t.Errorf("accepted %q with peer %s, want \"server 2\" with peer %s", child.Name(), child.Remote(), cli.Local())
	}
	if !nonblocking(t, child) {
		t.Error("the accepted descriptor is blocking")
	}
}

func TestStopReleasesBlockedAccept(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	_, b, _ := blockedListener(t, p)
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(callWait):
		t.Fatal("Stop did not return while a thread was blocked in accept()")
	}
	select {
	case <-b.Done():
	default:
		t.Fatal("Stop returned with the accept still blocked")
	}
	if _, err := b.Wait(0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("blocked accept after Stop = %v, want EINVAL", err)
	}
	waitEvent(t, rec, "server: shutdown(SHUT_RDWR) [stop] = 0")
}

// closeWaitPair returns the server's end of a connection whose client has
// closed (the server read the EOF: CLOSE_WAIT).
func closeWaitPair(t *testing.T, p *Probe) *Endpoint {
	t.Helper()
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.Bind(port))
	must(t, ln.Listen(4))
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	a, err := ln.Accept("server", callWait)
	must(t, err)
	must(t, cli.Close())
	if n, err := a.Recv(100, callWait); n != 0 || err != nil {
		t.Fatalf("recv after the client's close = %d, %v; want EOF", n, err)
	}
	return a
}

// TestWriteToClosedPeer runs without signal.Notify first: a write that
// fails with EPIPE raises SIGPIPE, and the test binary survives it only
// because the Go runtime ignores SIGPIPE on descriptors other than 1 and
// 2. It then shows that the kernel does raise the signal.
func TestWriteToClosedPeer(t *testing.T) {
	p, rec := newProbe(t)
	a := closeWaitPair(t, p)
	if n, err := a.Send([]byte("hello?")); n != 6 || err != nil {
		t.Fatalf("first write in CLOSE_WAIT = %d, %v; want 6 bytes taken", n, err)
	}
	rev, err := a.Poll(0, callWait)
	must(t, err)
	if rev&unix.POLLHUP == 0 {
		t.Fatalf("poll after the peer's RST = %s, want POLLHUP", PollString(rev))
	}
	if n, err := a.Recv(100, callWait); n != 0 || err != nil {
		t.Errorf("recv after the RST = %d, %v; want 0 (EOF)", n, err)
	}
	if _, err := a.Send([]byte("x")); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("second write = %v, want EPIPE", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGPIPE)
	defer signal.Stop(sig)
	if _, err := a.Send([]byte("x")); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("third write = %v, want EPIPE", err)
	}
	select {
	case <-sig:
	case <-time.After(callWait):
		t.Error("the EPIPE write raised no SIGPIPE")
	}
	got := strings.Join(rec.lines(), "\n")
	for _, want := range []string{"server: send(6 bytes) = 6", "server: send(1 bytes) = EPIPE"} {
		if !strings.Contains(got, want) {
			t.Errorf("no event %q in\n%s", want, got)
		}
	}
}

func TestSockErrorAfterRSTInCloseWait(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	a := closeWaitPair(t, p)
	_, err := a.Send([]byte("hello?"))
	must(t, err)
	_, err = a.Poll(0, callWait)
	must(t, err)
	e, err := a.SockError()
	must(t, err)
	if e != unix.EPIPE {
		t.Errorf("SO_ERROR after a RST in CLOSE_WAIT = %v, want EPIPE", e)
	}
	if e, err := a.SockError(); err != nil || e != 0 {
		t.Errorf("second SO_ERROR = %v, %v; want 0 (reading clears it)", e, err)
	}
	waitEvent(t, rec, "server: getsockopt(SO_ERROR) = EPIPE")
	waitEvent(t, rec, "server: getsockopt(SO_ERROR) = 0")
}

func TestNonBlockingConnectPollAndSockError(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.Bind(port))
	must(t, ln.Listen(0))
	// backlog 0 queues one connection; the next SYN is dropped.
	first, err := p.TCP("client 1")
	must(t, err)
	must(t, first.Connect(port, callWait))
	c, err := p.TCP("client 2")
	must(t, err)
	must(t, c.ConnectNonBlocking(port))
	waitEvent(t, rec, fmt.Sprintf("client 2: connect(127.0.0.1:%d) [non-blocking] = EINPROGRESS", port))
	if rev, err := c.Poll(PollOut, 0); err != nil || rev != 0 {
		t.Errorf("poll(POLLOUT) while the SYN is dropped = %s, %v; want 0", PollString(rev), err)
	}
	waitEvent(t, rec, "client 2: poll(POLLOUT, 0 ms) = 0 (nothing ready)")
	_, err = ln.Accept("server", callWait)
	must(t, err)
	rev, err := c.Poll(PollOut, callWait)
	must(t, err)
	if rev != PollOut {
		t.Errorf("poll(POLLOUT) once there is room = %s, want POLLOUT", PollString(rev))
	}
	if e, err := c.SockError(); err != nil || e != 0 {
		t.Errorf("SO_ERROR after the connect = %v, %v; want 0", e, err)
	}
	waitEvent(t, rec, "client 2: getsockopt(SO_ERROR) = 0")
}

func TestNonBlockingConnectRefusedSockError(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	port := freePort(t)
	c, err := p.TCP("client")
	must(t, err)
	must(t, c.ConnectNonBlocking(port))
	rev, err := c.Poll(PollOut, callWait)
	must(t, err)
	if rev&unix.POLLERR == 0 {
		t.Errorf("poll after a refused connect = %s, want POLLERR", PollString(rev))
	}
	if e, err := c.SockError(); err != nil || e != unix.ECONNREFUSED {
		t.Errorf("SO_ERROR after a refused connect = %v, %v; want ECONNREFUSED", e, err)
	}
}

func TestPollString(t *testing.T) {
	t.Parallel()
	for ev, want := range map[int16]string{
		0:                            "0",
		unix.POLLOUT:                 "POLLOUT",
		unix.POLLERR | unix.POLLHUP:  "POLLERR|POLLHUP",
		unix.POLLIN | unix.POLLRDHUP: "POLLIN|POLLRDHUP",
		unix.POLLOUT | 0x1000:        "POLLOUT|0x1000",
	} {
		if got := PollString(ev); got != want {
			t.Errorf("PollString(%#x) = %q, want %q", ev, got, want)
		}
	}
}
