package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// commandsProgram does what the parent's command lines say, on its first
// inherited endpoint, so a test can drive the child step by step.
const commandsProgram = "probe-test-commands"

// acceptProgram accepts one connection on its inherited listener, named
// by its args, as a preforked server's child does.
const acceptProgram = "probe-test-accept"

func init() {
	RegisterProgram(commandsProgram, func(pc *ProgramContext) error {
		for line := range pc.Commands {
			ep := pc.Inherited[0]
			verb, arg, _ := strings.Cut(line, " ")
			switch verb {
			case "addr":
				pc.Probe.Emit(ep.Name(), "addr", ep.Local().String()+" "+ep.Remote().String()+" "+string(ep.Proto()), nil)
			case "send":
				ep.Send([]byte(arg))
			case "shutdown":
				ep.Shutdown(ShutWR)
			case "close":
				ep.Close()
			case "fail":
				return errors.New("told to fail: " + arg)
			case "return":
				pc.Probe.Emit("child", "returning", "0", nil)
				return nil
			}
		}
		return nil
	})
	RegisterProgram(acceptProgram, func(pc *ProgramContext) error {
		var name string
		if err := json.Unmarshal(pc.Args, &name); err != nil {
			return err
		}
		_, err := pc.Inherited[0].Accept(name, 0)
		return err
	})
}

// connectedPair makes a listener, a client connected to it and the
// accepted server side, all in p.
func connectedPair(t *testing.T, p *Probe) (ln, cli, srv *Endpoint) {
	t.Helper()
	port := freePort(t)
	ln, err := p.TCP("listener")
	must(t, err)
	must(t, ln.Bind(port))
	must(t, ln.Listen(1))
	cli, err = p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	srv, err = ln.Accept("server", callWait)
	must(t, err)
	return ln, cli, srv
}

func fdLink(t *testing.T, pid, fd int) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil {
		t.Fatalf("fd %d of pid %d: %v", fd, pid, err)
	}
	return link
}

// TestStartProgramSharesSocket checks what fork gives: the child holds
// the parent's socket under the same number, the parent keeps its own
// descriptor (still non-blocking), the inherited endpoint knows its
// addresses, commands reach the child, and the child's calls act on the
// shared connection.
func TestStartProgramSharesSocket(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	_, cli, srv := connectedPair(t, p)
	child, err := p.StartProgram("child", commandsProgram, nil, srv)
	must(t, err)
	fd := srv.FD()
	waitEvent(t, rec, fmt.Sprintf("child: fork() = pid %d (inherits fd %d)", child.PID(), fd))
	must(t, child.Command("addr"))
	ev, err := child.WaitFor("addr", childWait)
	must(t, err)
	if want := srv.Local().String() + " " + srv.Remote().String() + " tcp"; ev.Result != want || ev.Endpoint != fmt.Sprintf("server (pid %d)", child.PID()) {
		t.Errorf("child's inherited endpoint %s: %q, want server: %q", ev.Endpoint, ev.Result, want)
	}
	// Read after the child answered, so the child has adopted it.
	mine, theirs := fdLink(t, os.Getpid(), fd), fdLink(t, child.PID(), fd)
	if !strings.HasPrefix(mine, "socket:[") || mine != theirs {
		t.Errorf("parent fd %d is %q, child fd %d is %q: want one socket", fd, mine, fd, theirs)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	must(t, err)
	if flags&unix.O_NONBLOCK == 0 {
		t.Error("the parent's descriptor became blocking after the fork")
	}

	// The parent's close leaves the child's descriptor: the child still
	// sends on the connection, and the peer has seen no end of stream.
	must(t, srv.Close())
	must(t, child.Command("send hello"))
	if _, err := child.WaitFor("send(", childWait); err != nil {
		t.Fatal(err)
	}
	if n, err := cli.Recv(64, callWait); err != nil || n != len("hello") {
		t.Fatalf("client recv = %d, %v; want the child's 5 bytes", n, err)
	}
	must(t, child.Command("shutdown"))
	if n, err := cli.Recv(64, callWait); err != nil || n != 0 {
		t.Errorf("client recv after the child's shutdown = %d, %v; want EOF", n, err)
	}
}

// TestStopEndsProgram checks that Stop leaves neither the child nor a
// descriptor on the passed socket: the peer reads end of stream once the
// last holder is gone.
func TestStopEndsProgram(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p := New(rec.sink)
	t.Cleanup(p.Stop)
	_, cli, srv := connectedPair(t, p)
	// The client outlives the probe, to watch the socket go.
	peer := New(nil)
	t.Cleanup(peer.Stop)
	watch, err := peer.Adopt("peer", dupFD(t, cli.FD()))
	must(t, err)
	inode := fdLink(t, os.Getpid(), srv.FD())
	child, err := p.StartProgram("child", commandsProgram, nil, srv)
	must(t, err)
	must(t, child.Command("addr"))
	if _, err := child.WaitFor("addr", childWait); err != nil {
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
	entries, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	for _, e := range entries {
		if link, _ := os.Readlink("/proc/self/fd/" + e.Name()); link == inode {
			t.Errorf("fd %s still holds %s after Stop", e.Name(), inode)
		}
	}
	if n, err := watch.Recv(64, callWait); err != nil || n != 0 {
		t.Errorf("peer recv after Stop = %d, %v; want EOF (no holder left)", n, err)
	}
	if err := child.Command("addr"); !errors.Is(err, ErrChild) {
		t.Errorf("Command after Stop = %v, want ErrChild", err)
	}
}

func dupFD(t *testing.T, fd int) int {
	t.Helper()
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	must(t, err)
	return dup
}

// TestProgramAcceptsOnInheritedListener is a preforked server in small:
// the child accepts on the listener both processes hold.
func TestProgramAcceptsOnInheritedListener(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	port := freePort(t)
	ln, err := p.TCP("listener")
	must(t, err)
	must(t, ln.Bind(port))
	must(t, ln.Listen(4))
	child, err := p.StartProgram("worker", acceptProgram, "conn", ln)
	must(t, err)
	cli, err := p.TCP("client")
	must(t, err)
	must(t, cli.Connect(port, callWait))
	ev, err := child.WaitFor("accept(", childWait)
	must(t, err)
	if ev.Endpoint != fmt.Sprintf("listener (pid %d)", child.PID()) || !strings.Contains(ev.Result, "(conn, peer "+cli.Local().String()+")") {
		t.Errorf("child accept: %v", ev)
	}
}

// TestProgramErrors checks the clear errors: an unknown program, a closed
// endpoint, a command with a line break, and a program's own failure
// reported as an event.
func TestProgramErrors(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	if _, err := p.StartProgram("child", "no-such-program", nil); !errors.Is(err, ErrBadArgument) {
		t.Errorf("unknown program: %v, want ErrBadArgument", err)
	}
	closed, err := p.TCP("closed")
	must(t, err)
	must(t, closed.Close())
	if _, err := p.StartProgram("child", commandsProgram, nil, closed); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed endpoint: %v, want EBADF", err)
	}
	sock, err := p.TCP("sock")
	must(t, err)
	if _, err := p.StartProgram("child", commandsProgram, nil, sock, sock); !errors.Is(err, ErrBadArgument) {
		t.Errorf("endpoint passed twice: %v, want ErrBadArgument", err)
	}
	if _, err := p.StartProgram("child", commandsProgram, func() {}); !errors.Is(err, ErrBadArgument) {
		t.Errorf("args that do not marshal: %v, want ErrBadArgument", err)
	}
	child, err := p.StartProgram("child", commandsProgram, nil, sock)
	must(t, err)
	if err := child.Command("two\nlines"); !errors.Is(err, ErrBadArgument) {
		t.Errorf("command with a newline: %v, want ErrBadArgument", err)
	}
	must(t, child.Command("fail on purpose"))
	ev, err := child.WaitFor(commandsProgram+"()", childWait)
	if err == nil || ev.Result != "told to fail: on purpose" || ev.Endpoint != fmt.Sprintf("child (pid %d)", child.PID()) {
		t.Errorf("program failure event %v, %v", ev, err)
	}
}

// TestProgramReturnKeepsDescriptors checks that a child whose program
// has returned still holds what it inherited, until the parent lets go.
func TestProgramReturnKeepsDescriptors(t *testing.T) {
	t.Parallel()
	p, _ := newProbe(t)
	_, cli, srv := connectedPair(t, p)
	child, err := p.StartProgram("child", commandsProgram, nil, srv)
	must(t, err)
	fd := srv.FD()
	must(t, srv.Close())
	must(t, child.Command("return"))
	if _, err := child.WaitFor("returning", childWait); err != nil {
		t.Fatal(err)
	}
	// Were the child to exit now, the kernel would close the last
	// descriptor and the client would read end of stream at once.
	if n, err := cli.Recv(64, 300*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("client recv after the program returned = %d, %v; want nothing (the child still holds it)", n, err)
	}
	if err := syscall.Kill(child.PID(), 0); err != nil {
		t.Errorf("child gone after its program returned: %v", err)
	}
	if link := fdLink(t, child.PID(), fd); !strings.HasPrefix(link, "socket:[") {
		t.Errorf("child fd %d is %q, want the socket", fd, link)
	}
	peer := New(nil)
	t.Cleanup(peer.Stop)
	watch, err := peer.Adopt("peer", dupFD(t, cli.FD()))
	must(t, err)
	p.Stop()
	if n, err := watch.Recv(64, callWait); err != nil || n != 0 {
		t.Errorf("peer recv after Stop = %d, %v; want EOF", n, err)
	}
}

// TestStartProgramPassesLowDescriptor: a process started with stdin
// closed gives its first socket descriptor 0, which cannot keep its
// number in the child (whose 0 to 2 are the pipes to the parent): the
// child holds the same socket at another number. Not parallel: it closes
// this process's stdin for a moment, and only serial tests run then.
func TestStartProgramPassesLowDescriptor(t *testing.T) {
	saved, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	must(t, err)
	must(t, unix.Close(0))
	// Registered first, so it runs last: after the probe's Stop has
	// closed the socket at 0.
	t.Cleanup(func() {
		unix.Dup3(saved, 0, 0)
		unix.Close(saved)
	})
	p, rec := newProbe(t)
	u, err := p.UDP("low")
	must(t, err)
	if u.FD() != 0 {
		t.Fatalf("with stdin closed the socket got fd %d, want 0", u.FD())
	}
	child, err := p.StartProgram("child", commandsProgram, nil, u)
	must(t, err)
	ev := waitEventPrefix(t, rec, fmt.Sprintf("child: fork() = pid %d (inherits fd ", child.PID()))
	var childFD int
	if _, err := fmt.Sscanf(ev[strings.LastIndex(ev, "fd ")+3:], "%d)", &childFD); err != nil || childFD < 3 {
		t.Fatalf("fork event %q: want the child's descriptor number, above 2", ev)
	}
	must(t, child.Command("addr"))
	if _, err := child.WaitFor("addr", childWait); err != nil {
		t.Fatal(err)
	}
	if mine, theirs := fdLink(t, os.Getpid(), 0), fdLink(t, child.PID(), childFD); !strings.HasPrefix(mine, "socket:[") || mine != theirs {
		t.Errorf("parent fd 0 is %q, child fd %d is %q: want one socket", mine, childFD, theirs)
	}
}

// waitEventPrefix waits for an event line starting with prefix and
// returns it.
func waitEventPrefix(t *testing.T, rec *recorder, prefix string) string {
	t.Helper()
	waitEvent(t, rec, prefix)
	for _, l := range rec.lines() {
		if i := strings.Index(l, prefix); i >= 0 {
			return l[i:]
		}
	}
	t.Fatalf("no event %q", prefix)
	return ""
}
