package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"socktop/collect"
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
	code := runHeadless(context.Background(), runOptions{sc: sc, cfg: Config{Fast: true}, timeout: 8 * time.Second}, src, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "[ ] missed  no TIME_WAIT") || !strings.Contains(out.String(), "TIME_WAIT seen on client") {
		t.Errorf("output does not show the broken promise:\n%s", out.String())
	}
}

// TestStatePromiseCanBeMissed gives a scenario a promise its steps cannot
// keep (a LISTEN on the client side) and checks that it is reported
// missed after the timeout while the others are kept.
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
	src := newCollector()
	t.Cleanup(func() { src.Close() })
	if err := watch(context.Background(), r, src, 50*time.Millisecond, 3*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	if !st[0].Seen || st[1].Seen {
		t.Errorf("status %+v: want the server LISTEN kept and the client LISTEN missed", st)
	}
	if r.Kept() {
		t.Error("Kept with a missed promise")
	}
}

// TestRoleMapping checks on a real connection that Observe gives each
// socket the right role: the listener and accepted end are the server's,
// the connecting end the client's, and a socket on another port nobody's.
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		keys := r.endpointKeys()
		var roles []string
		port := r.Ports()[0]
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			role := r.roleOf(s, keys)
			onPort := s.Local.Port() == port || s.Remote.Port() == port
			if onPort != (role != "") {
				t.Fatalf("%s %s>%s: role %q", s.State, s.Local, s.Remote, role)
			}
			if role != "" {
				want := Client
				if s.Local.Port() == port {
					want = Server
				}
				if role != want {
					t.Errorf("%s %s>%s: role %q, want %q", s.State, s.Local, s.Remote, role, want)
				}
				roles = append(roles, string(role)+" "+s.State.String())
			}
		}
		if len(roles) == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw the three sockets, last %v", roles)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	timeout := time.After(20 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-r.Events():
		case <-timeout:
			t.Fatal("Events not closed after the context was cancelled")
		}
	}
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
	timeout := time.After(20 * time.Second)
	for open := true; open; {
		select {
		case ev, ok := <-r.Events():
			if open = ok; ok {
				log = append(log, ev.String())
			}
		case <-timeout:
			t.Fatalf("Events not closed after the panic; got %v", log)
		}
	}
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
	// The deadline is a hang guard, not a speed requirement.
	for deadline := time.Now().Add(20 * time.Second); !r.Settled(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run never settled: %+v", r.Status())
		}
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.Observe(&snap)
	}
	if r.Kept() {
		t.Fatal("a blocked promise counted as kept")
	}
	st := r.Status()
	if !st[0].Seen || st[1].Seen || st[1].Note != "blocked on this host" {
		t.Fatalf("status %+v: want LISTEN seen, SYN_RECV missed with its reason", st)
	}
}
