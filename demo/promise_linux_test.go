package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/waitfor"
	"socktop/probe"
)

// TestAbsentPromiseCanFail runs a polite close, which leaves a TIME_WAIT,
// under the abortive close's negative promise: the promise must be
// missed, with a note naming the TIME_WAIT, and the run must exit 1.
func TestAbsentPromiseCanFail(t *testing.T) {
	t.Parallel()
	polite := politeClose()
	sc := &Scenario{
		Name:     "test-absent",
		Promises: []Promise{{Role: Client, State: collect.StateTimeWait, Absent: true, Why: "test"}},
		steps:    polite.steps,
	}
	src := newCollector()
	t.Cleanup(func() { src.Close() })
	var out, errOut bytes.Buffer
	// The broken promise settles the run as soon as a snapshot shows the
	// TIME_WAIT; the timeout only guards against a hang.
	code := runHeadless(context.Background(), runOptions{sc: sc, cfg: Config{Fast: true}, timeout: 60 * time.Second}, src, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "[ ] missed  no TIME_WAIT") || !strings.Contains(out.String(), "TIME_WAIT seen on client") {
		t.Errorf("output does not show the broken promise:\n%s", out.String())
	}
}

// TestStatePromiseCanBeMissed gives a scenario a promise its steps cannot
// keep (a LISTEN on the client side) and checks that it stays missed while
// the others are kept. Watching ends when the server's LISTEN is kept and
// a few more snapshots have shown no client LISTEN, not after a fixed
// time, so a slow host cannot make the kept promise look missed.
func TestStatePromiseCanBeMissed(t *testing.T) {
	t.Parallel()
	sc := &Scenario{
		Name: "test-missed",
		Promises: []Promise{
			{Role: Server, State: collect.StateListen},
			{Role: Client, State: collect.StateListen},
		},
		steps: func(e *env) { e.connected(); e.hold() },
	}
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	nl := newCollector()
	t.Cleanup(func() { nl.Close() })
	src := &countingSource{src: nl}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src.after = func(n int) {
		// Once the client is connected, the run's every socket exists:
		// ten more snapshots give the impossible promise its chances.
		if src.connectedAt == 0 && hasEvent(r, "client: connect(") {
			src.connectedAt = n
		}
		if src.connectedAt != 0 && n >= src.connectedAt+10 {
			cancel()
		}
	}
	// The timeout is a hang guard, not a speed requirement.
	if err := watch(ctx, r, src, nil, 50*time.Millisecond, 60*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	if !st[0].Seen || st[1].Seen {
		t.Errorf("status %+v: want the server LISTEN kept and the client LISTEN missed", st)
	}
	if src.connectedAt == 0 {
		t.Errorf("watching ended before the client connected (%d snapshots)", src.n)
	}
	if r.Kept() {
		t.Error("Kept with a missed promise")
	}
}

// countingSource counts the snapshots it hands out and calls after with
// the count once each is taken.
type countingSource struct {
	src         snapshotter
	n           int
	connectedAt int
	after       func(n int)
}

func (c *countingSource) Snapshot(ctx context.Context) (collect.Snapshot, error) {
	snap, err := c.src.Snapshot(ctx)
	c.n++
	if c.after != nil {
		c.after(c.n)
	}
	return snap, err
}

func hasEvent(r *Run, prefix string) bool {
	for _, ev := range r.Log() {
		if strings.HasPrefix(ev.String(), prefix) {
			return true
		}
	}
	return false
}

// TestRoleMapping checks on a real connection that Observe gives each
// socket the right role: the listener and accepted end are the server's,
// the connecting end the client's, and a socket on another port nobody's.
// The run's three sockets are known by the inodes this process holds on
// the run's port (no other test here uses it), not by the port number
// alone: on a busy host another program may use the same number.
func TestRoleMapping(t *testing.T) {
	t.Parallel()
	sc := &Scenario{Name: "test-roles", Promises: []Promise{{Role: Server, State: collect.StateListen}},
		steps: func(e *env) {
			e.connected()
			e.pause(time.Hour)
		}}
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	src := newCollector()
	t.Cleanup(func() { src.Close() })
	port := r.Ports()[0]
	var roles []string
	waitfor.UntilShow(t, 60*time.Second, "the run's three sockets", func() bool {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mine := socketInodes(0)
		keys := r.endpointKeys()
		roles = roles[:0]
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			role := r.roleOf(s, keys)
			onPort := s.Local.Port() == port || s.Remote.Port() == port
			if !onPort || !mine[s.Inode] {
				// Not the run's: nothing of another port may get a role.
				if !onPort && role != "" {
					t.Fatalf("%s %s>%s on another port: role %q", s.State, s.Local, s.Remote, role)
				}
				continue
			}
			want := Client
			if s.Local.Port() == port {
				want = Server
			}
			if role != want {
				t.Errorf("%s %s>%s: role %q, want %q", s.State, s.Local, s.Remote, role, want)
			}
			roles = append(roles, string(role)+" "+s.State.String())
		}
		return len(roles) == 3
	}, func() string { return strings.Join(roles, "\n") })
}

// TestCancelStopsRun checks that cancelling Start's context stops the
// run: Done and Events close, and the steps end.
func TestCancelStopsRun(t *testing.T) {
	t.Parallel()
	sc, _ := Find("half-close")
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Start(ctx, sc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	first := <-r.Events()
	if first.Endpoint != "server" || !strings.HasPrefix(first.Call, "socket(") {
		t.Errorf("first event %v, want the server's socket()", first)
	}
	cancel()
	waitfor.Recv(t, 60*time.Second, "Events to close after the context was cancelled", r.Events(),
		func(_ probe.Event, open bool) bool { return !open }, nil)
	select {
	case <-r.Done():
	default:
		t.Error("Done not closed after Events")
	}
	if err := r.Err(); err != nil {
		t.Errorf("a cancelled run reports %v", err)
	}
}

// TestPanickingStepStopsRun checks that a step that panics with sockets
// open ends the run by itself: Err wraps ErrStep, Events closes, and no
// descriptor of this process is left on the run's port.
func TestPanickingStepStopsRun(t *testing.T) {
	t.Parallel()
	sc := &Scenario{Name: "test-panic", Promises: []Promise{{Role: Server, State: collect.StateListen}},
		steps: func(e *env) {
			e.connected()
			panic("boom")
		}}
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	var log []string
	waitfor.Recv(t, 60*time.Second, "Events to close after the panic", r.Events(), func(ev probe.Event, open bool) bool {
		if open {
			log = append(log, ev.String())
		}
		return !open
	}, func() string { return strings.Join(log, "\n") })
	if err := r.Err(); !errors.Is(err, ErrStep) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Err = %v, want ErrStep with the panic", err)
	}
	text := strings.Join(log, "\n")
	if !strings.Contains(text, "demo: step failed = ") || strings.Count(text, "close() [stop] = 0") != 3 {
		t.Errorf("narration does not show the failure and the three closes:\n%s", text)
	}
	if fds := ownFDsOnPorts(t, r.Ports()); len(fds) > 0 {
		t.Errorf("descriptors left after the panic: %v", fds)
	}
}

// A port named by the user that still holds an earlier run's sockets (here
// the TIME_WAIT of polite-close) is refused: those sockets would be taken
// for the new run's and keep its promises before it did anything.
func TestStartRefusesBusyPort(t *testing.T) {
	t.Parallel()
	port, err := probe.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := Find("polite-close")
	var out, errOut bytes.Buffer
	run := RunOptions{Config: Config{Fast: true, Port: port}}
	if !RunHeadless(context.Background(), sc, run, newCollector(), &out, &errOut) {
		t.Fatalf("first run failed\n%s%s", out.String(), errOut.String())
	}
	_, err = Start(context.Background(), sc, Config{Fast: true, Port: port})
	if !errors.Is(err, ErrPortBusy) {
		t.Fatalf("second run on port %d with its TIME_WAIT still there: err %v, want ErrPortBusy", port, err)
	}
	errOut.Reset()
	if ok := RunHeadless(context.Background(), sc, run, newCollector(), &out, &errOut); ok || !strings.Contains(errOut.String(), "still has") {
		t.Fatalf("headless run on a busy port: ok %v, stderr %q", ok, errOut.String())
	}
}

// A port held by a dual-stack listener on [::] (IPV6_V6ONLY off, as
// sshd and nginx listen) is refused before anything is made: the demo's
// bind on 127.0.0.1 would fail with EADDRINUSE, and an IPv4-only count of
// the port's sockets does not see it.
func TestStartRefusesDualStackPort(t *testing.T) {
	t.Parallel()
	port, err := probe.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6 on this host: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Port: int(port)}); err != nil {
		t.Fatalf("bind [::]:%d: %v", port, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sc, _ := Find("polite-close")
	r, err := Start(context.Background(), sc, Config{Fast: true, Port: port})
	if r != nil {
		r.Stop()
		t.Fatalf("Start on port %d under a [::] listener returned a run (err %v, log %v), want ErrPortBusy", port, err, r.Log())
	}
	if !errors.Is(err, ErrPortBusy) || !strings.Contains(err.Error(), fmt.Sprint(port)) {
		t.Fatalf("Start on port %d under a [::] listener: %v, want ErrPortBusy naming the port", port, err)
	}
}

// A promise the host cannot show (Blocked gives a reason) does not keep the
// run waiting: it settles once the rest is seen, and is reported missed
// with its reason.
func TestBlockedPromiseSettles(t *testing.T) {
	t.Parallel()
	sc := &Scenario{Name: "test-blocked", Promises: []Promise{
		{Role: Server, State: collect.StateListen},
		{Role: Server, State: collect.StateSynRecv, Blocked: func(Host) string { return "blocked on this host" }},
	}, steps: func(e *env) {
		e.connected()
		e.pause(time.Hour)
	}}
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	src := newCollector()
	t.Cleanup(func() { src.Close() })
	waitfor.UntilShow(t, 60*time.Second, "the run to settle", func() bool {
		if r.Settled() {
			return true
		}
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.Observe(&snap)
		return r.Settled()
	}, func() string { return fmt.Sprintf("%+v", r.Status()) })
	if r.Kept() {
		t.Fatal("a blocked promise counted as kept")
	}
	st := r.Status()
	if !st[0].Seen || st[1].Seen || st[1].Note != "blocked on this host" {
		t.Fatalf("status %+v: want LISTEN seen, SYN_RECV missed with its reason", st)
	}
}
