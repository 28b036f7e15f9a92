package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
)

// callWait bounds a loopback connect, accept or recv the test expects to
// complete; also a hang guard.
const callWait = 30 * time.Second

// recorder collects a probe's events for assertions.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) sink(ev Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.evs))
	for i, ev := range r.evs {
		out[i] = ev.String()
	}
	return out
}

func newProbe(t *testing.T) (*Probe, *recorder) {
	t.Helper()
	rec := &recorder{}
	p := New(rec.sink)
	t.Cleanup(p.Stop)
	return p, rec
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// waitEvent waits until an event of rec contains text.
func waitEvent(t *testing.T, rec *recorder, text string) {
	t.Helper()
	log := func() string { return strings.Join(rec.lines(), "\n") }
	waitfor.UntilShow(t, 60*time.Second, fmt.Sprintf("an event with %q", text),
		func() bool { return strings.Contains(log(), text) }, log)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEventsInOrderWithText(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	port := freePort(t)
	srv, err := p.TCP("server")
	must(t, err)
	must(t, srv.SetReuseAddr(false))
	must(t, srv.Bind(port))
	must(t, srv.Listen(1))
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	conn, err := srv.Accept("server", callWait)
	must(t, err)
	if _, err := cli.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Recv(100, callWait); err != nil || n != 5 {
		t.Fatalf("recv = %d, %v; want 5 bytes", n, err)
	}
	must(t, cli.Shutdown(ShutWR))
	if n, err := conn.Recv(100, callWait); err != nil || n != 0 {
		t.Fatalf("recv after the peer's FIN = %d, %v; want EOF", n, err)
	}
	must(t, cli.Close())

	want := []string{
		"server: socket(AF_INET, SOCK_STREAM) = fd ",
		"server: setsockopt(SO_REUSEADDR, 0) = 0",
		fmt.Sprintf("server: bind(127.0.0.1:%d) = 0", port),
		"server: listen(backlog=1) = 0",
		"client: socket(AF_INET, SOCK_STREAM) = fd",
		fmt.Sprintf("client: connect(127.0.0.1:%d) = 0", port),
		"server: accept() = fd",
		"client: send(5 bytes) = 5",
		"server: recv() = 5 bytes",
		"client: shutdown(SHUT_WR) = 0",
		"server: recv() = 0 (EOF: the peer sent FIN)",
		"client: close() = 0",
	}
	got := rec.lines()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		w := want[i]
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("event %d = %q, want prefix %q", i, got[i], w)
		}
	}
	if !strings.Contains(got[6], fmt.Sprintf("peer %s", cli.Local())) {
		t.Errorf("accept event %q does not name the client %s", got[6], cli.Local())
	}
	if cli.Local().Port() == 0 || cli.Remote().Port() != port {
		t.Errorf("client local %s remote %s: want both learned", cli.Local(), cli.Remote())
	}
}

func TestFailedCallEventAndError(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	port := freePort(t)
	a, err := p.TCP("server")
	must(t, err)
	must(t, a.Bind(port))
	must(t, a.Listen(4))
	b, err := p.TCP("server (new)")
	must(t, err)
	err = b.Bind(port)
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("second bind = %v, want EADDRINUSE", err)
	}
	got := rec.lines()
	last := got[len(got)-1]
	if want := fmt.Sprintf("server (new): bind(127.0.0.1:%d) = EADDRINUSE", port); last != want {
		t.Errorf("last event %q, want %q", last, want)
	}
	rec.mu.Lock()
	evErr := rec.evs[len(rec.evs)-1].Err
	rec.mu.Unlock()
	if !errors.Is(evErr, unix.EADDRINUSE) {
		t.Errorf("event Err = %v, want EADDRINUSE", evErr)
	}
}

// restartBind builds a first-generation server with oldReuse, leaves the
// given leftover on the port, and tries to bind a second generation with
// newReuse.
func restartBind(t *testing.T, leftover string, oldReuse, newReuse bool) error {
	t.Helper()
	p, _ := newProbe(t)
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.SetReuseAddr(oldReuse))
	must(t, ln.Bind(port))
	must(t, ln.Listen(4))
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	conn, err := ln.Accept("server", callWait)
	must(t, err)
	switch leftover {
	case "time-wait":
		// The server closes first, so the TIME_WAIT lands on its port.
		must(t, conn.Close())
		if _, err := cli.Recv(10, callWait); err != nil {
			t.Fatal(err)
		}
		must(t, cli.Close())
		must(t, ln.Close())
	case "estab-child":
		must(t, ln.Close())
	case "listen":
	default:
		t.Fatalf("unknown leftover %q", leftover)
	}
	next, err := p.TCP("server (new)")
	must(t, err)
	must(t, next.SetReuseAddr(newReuse))
	return next.Bind(port)
}

func TestReuseAddrTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		leftover           string
		oldReuse, newReuse bool
		wantInUse          bool
	}{
		{"time-wait", true, false, true},
		{"time-wait", true, true, false},
		{"time-wait", false, true, true},
		{"time-wait", false, false, true},
		{"estab-child", true, true, false},
		{"estab-child", true, false, true},
		{"estab-child", false, true, true},
		{"listen", true, true, true},
		{"listen", false, false, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/old=%v/new=%v", c.leftover, c.oldReuse, c.newReuse), func(t *testing.T) {
			t.Parallel()
			err := restartBind(t, c.leftover, c.oldReuse, c.newReuse)
			if c.wantInUse && !errors.Is(err, unix.EADDRINUSE) {
				t.Errorf("bind = %v, want EADDRINUSE", err)
			}
			if !c.wantInUse && err != nil {
				t.Errorf("bind = %v, want success", err)
			}
		})
	}
}

func TestStopClosesEverythingAndEndsWaits(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p := New(rec.sink)
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.Bind(port))
	must(t, ln.Listen(1))
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	fds := []int{ln.FD(), cli.FD()}

	acceptErr := make(chan error, 1)
	go func() {
		_, err := ln.Accept("second", 0)
		_, err = ln.Accept("third", 0) // no third client: waits until Stop
		acceptErr <- err
	}()
	// Stop comes once the second connection is accepted: while the third
	// accept waits, or just before it starts; either way it must end with
	// ErrStopped, so no sleep has to win a race with the goroutine.
	waitEvent(t, rec, "(second, peer")
	p.Stop()
	p.Stop() // idempotent
	waitfor.Recv(t, childWait, "the accept to end after Stop", acceptErr, func(err error, _ bool) bool {
		if !errors.Is(err, ErrStopped) {
			t.Errorf("accept after Stop = %v, want ErrStopped", err)
		}
		return true
	}, nil)
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			// The number may have been reused by another test: only fail
			// if it still points at our socket.
			if name, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); strings.HasPrefix(name, "socket:") && ownedSocketOnPort(t, fd, port) {
				t.Errorf("fd %d still open on port %d after Stop", fd, port)
			}
		}
	}
	if _, err := p.TCP("late"); !errors.Is(err, ErrStopped) {
		t.Errorf("socket after Stop = %v, want ErrStopped", err)
	}
	if !cli.Closed() || !ln.Closed() {
		t.Error("endpoints not marked closed")
	}
}

// ownedSocketOnPort reports whether fd is a socket bound to 127.0.0.1:port.
func ownedSocketOnPort(t *testing.T, fd int, port uint16) bool {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	s4, ok := sa.(*unix.SockaddrInet4)
	return ok && s4.Port == int(port)
}

func TestSendUntilEAGAINZeroWindow(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.SetRcvBuf(4096))
	must(t, ln.Bind(port))
	must(t, ln.Listen(1))
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.SetSndBuf(4096))
	must(t, cli.Connect(port, callWait))
	if _, err := ln.Accept("server", callWait); err != nil {
		t.Fatal(err)
	}
	n, err := cli.SendUntilEAGAIN()
	if err != nil || n == 0 {
		t.Fatalf("SendUntilEAGAIN = %d, %v", n, err)
	}
	got := rec.lines()
	if want := fmt.Sprintf("client: send() until EAGAIN = EAGAIN after %d bytes", n); got[len(got)-1] != want {
		t.Errorf("event %q, want %q", got[len(got)-1], want)
	}
}

func TestConnectRefused(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	port := freePort(t)
	cli, err := p.TCP("client")
	must(t, err)
	if err := cli.Connect(port, callWait); !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("connect to a closed port = %v, want ECONNREFUSED", err)
	}
}

func TestChildServerKill(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	port := freePort(t)
	child, err := p.StartServer(ServerSpec{Name: "server", AcceptName: "server", Port: port, ReuseAddr: true, Backlog: 4, Accept: 1})
	must(t, err)
	if _, err := child.WaitFor("listen(", childWait); err != nil {
		t.Fatal(err)
	}
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	if _, err := child.WaitFor("accept(", childWait); err != nil {
		t.Fatal(err)
	}
	pid := child.PID()
	if pid == os.Getpid() || pid <= 0 {
		t.Fatalf("child pid %d", pid)
	}
	must(t, child.Kill())
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d still exists after Kill: %v", pid, err)
	}
	// The kernel closed the child's connection actively: the client reads EOF.
	if n, err := cli.Recv(10, callWait); err != nil || n != 0 {
		t.Errorf("client recv after the crash = %d, %v; want EOF", n, err)
	}
	text := strings.Join(rec.lines(), "\n")
	for _, want := range []string{
		fmt.Sprintf("server: fork+exec(socktop probe child) = pid %d", pid),
		"server: setsockopt(SO_REUSEADDR, 1) = 0",
		fmt.Sprintf("server: bind(127.0.0.1:%d) = 0", port),
		"server: listen(backlog=4) = 0",
		"server: accept() = fd",
		fmt.Sprintf("server: kill(pid %d, SIGKILL) = 0", pid),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("narration lacks %q:\n%s", want, text)
		}
	}
}

func TestStopEndsChild(t *testing.T) {
	t.Parallel()
	p := New(nil)
	port := freePort(t)
	child, err := p.StartServer(ServerSpec{Name: "server", Port: port, Backlog: 1})
	if err != nil {
		p.Stop()
		t.Fatal(err)
	}
	if _, err := child.WaitFor("listen(", childWait); err != nil {
		p.Stop()
		t.Fatal(err)
	}
	p.Stop()
	select {
	case <-child.Exited():
	default:
		t.Fatal("Stop returned before the child was reaped")
	}
	if err := syscall.Kill(child.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d still exists after Stop: %v", child.PID(), err)
	}
	if busy, err := PortInUse(port); busy || err != nil {
		t.Errorf("port %d still taken after the child was stopped (%v)", port, err)
	}
}

func TestChildBadBind(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	must(t, ln.Bind(port))
	must(t, ln.Listen(1))
	child, err := p.StartServer(ServerSpec{Name: "server (new)", Port: port, Backlog: 1})
	must(t, err)
	ev, err := child.WaitFor("bind(", childWait)
	if !errors.Is(err, unix.EADDRINUSE) || ev.Result != "EADDRINUSE" {
		t.Errorf("child bind = %v (%q), want EADDRINUSE", err, ev.Result)
	}
}

// TestChildDiesWithParent kills a parent that started a probe child with
// SIGKILL, so it gets no chance to clean up, and checks that the child
// does not outlive it (Pdeathsig kills it; its stdin reaching end of file
// would also end it).
func TestChildDiesWithParent(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", orphanEnv, port))
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no pid from the parent: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	must(t, err)
	if !alive(pid) {
		t.Fatalf("child %d not running before the parent was killed", pid)
	}
	must(t, cmd.Process.Kill())
	cmd.Wait()
	waitfor.Until(t, 60*time.Second, fmt.Sprintf("child %d to end with its parent", pid), func() bool { return !alive(pid) })
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestSocketOptions sets every option the demos use, checks the
// narration and reads the values back from the kernel.
func TestSocketOptions(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	ep, err := p.TCP("client")
	must(t, err)
	must(t, ep.SetReuseAddr(true))
	must(t, ep.SetRcvBuf(4096))
	must(t, ep.SetSndBuf(4096))
	must(t, ep.SetLinger(true, 0))
	must(t, ep.SetDeferAccept(5))
	must(t, ep.SetSynCnt(2))
	must(t, ep.SetUserTimeout(8*time.Second))
	must(t, ep.SetLinger2(10))
	must(t, ep.SetQuickAck(false))
	want := []string{
		"client: setsockopt(SO_REUSEADDR, 1) = 0",
		"client: setsockopt(SO_RCVBUF, 4096) = 0",
		"client: setsockopt(SO_SNDBUF, 4096) = 0",
		"client: setsockopt(SO_LINGER, {on, 0}) = 0",
		"client: setsockopt(TCP_DEFER_ACCEPT, 5) = 0",
		"client: setsockopt(TCP_SYNCNT, 2) = 0",
		"client: setsockopt(TCP_USER_TIMEOUT, 8000) = 0",
		"client: setsockopt(TCP_LINGER2, 10) = 0",
		"client: setsockopt(TCP_QUICKACK, 0) = 0",
	}
	got := rec.lines()[1:]
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fd := ep.FD()
	for _, c := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{"SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, 8192}, // the kernel doubles it
		{"TCP_SYNCNT", unix.IPPROTO_TCP, unix.TCP_SYNCNT, 2},
		{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 8000},
		{"TCP_LINGER2", unix.IPPROTO_TCP, unix.TCP_LINGER2, 10},
	} {
		if v, err := unix.GetsockoptInt(fd, c.level, c.opt); err != nil || v != c.want {
			t.Errorf("%s = %d, %v; want %d", c.name, v, err, c.want)
		}
	}
	if l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER); err != nil || l.Onoff != 1 || l.Linger != 0 {
		t.Errorf("SO_LINGER = %+v, %v", l, err)
	}
	if err := ep.SetReuseAddr(false); err != nil {
		t.Fatal(err)
	}
	if v, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 0 {
		t.Errorf("SO_REUSEADDR = %d after turning it off", v)
	}
	if err := ep.Shutdown(7); !errors.Is(err, ErrBadArgument) {
		t.Errorf("Shutdown(7) = %v, want ErrBadArgument", err)
	}
	must(t, ep.Close())
	if err := ep.Close(); !errors.Is(err, unix.EBADF) {
		t.Errorf("second Close = %v, want EBADF", err)
	}
}
