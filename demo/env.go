package demo

import (
	"context"
	"fmt"
	"time"

	"socktop/probe"
)

// waitLimit bounds a wait the steps expect to end quickly (a handshake on
// loopback, the child's accept): if it does not, something is wrong and
// the run should say so rather than hang.
const waitLimit = 10 * time.Second

// env is what the steps of a scenario work with. Its helpers make one
// probe call each and end the steps (through a panic the runner
// recovers) when a call fails unexpectedly, so a scenario reads as the
// list of calls it is.
type env struct {
	ctx   context.Context
	p     *probe.Probe
	cfg   Config
	host  Host
	port  uint16
	ports []uint16
	run   *Run
}

// ok ends the steps if err is not nil.
func (e *env) ok(err error) {
	if err != nil {
		panic(stepFailure{fmt.Errorf("%w: %w", ErrStep, err)})
	}
}

// pause waits d, or until the run is stopped.
func (e *env) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.ctx.Done():
		panic(stepFailure{e.ctx.Err()})
	case <-e.p.Stopping():
		panic(stepFailure{probe.ErrStopped})
	}
}

// hold leaves the current picture in place long enough to be seen: at
// least a minimum time, and until two snapshots taken after the hold
// began have been observed, so whoever feeds Observe (the terminal view
// at its refresh rate, the headless poll) sees every intermediate state
// however slow its snapshots are. A run nobody observes waits holdCap.
func (e *env) hold() {
	start := time.Now()
	minimum, limit := 4*time.Second, 20*time.Second
	if e.cfg.Fast {
		minimum, limit = 300*time.Millisecond, 10*time.Second
	}
	e.pause(minimum)
	deadline := start.Add(limit)
	for {
		n, wake := e.run.observedSince(start)
		if n >= 2 {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
			panic(stepFailure{e.ctx.Err()})
		case <-e.p.Stopping():
			t.Stop()
			panic(stepFailure{probe.ErrStopped})
		}
		t.Stop()
	}
}

// each makes the calls in turn, ending the steps on an error, and holds
// the picture after every one, so each state a call leads to is seen.
func (e *env) each(calls ...func() error) {
	for _, call := range calls {
		e.ok(call())
		e.hold()
	}
}

// shutWR is ep's shutdown(SHUT_WR), as a call for each.
func shutWR(ep *probe.Endpoint) func() error {
	return func() error { return ep.Shutdown(probe.ShutWR) }
}

// fastOr gives the notes of a scenario whose Fast runs end a state early
// with a socket option: fast in those, slow otherwise.
func fastOr(fast, slow string) func(Host, Config) []string {
	return func(_ Host, cfg Config) []string {
		if cfg.Fast {
			return []string{fast}
		}
		return []string{slow}
	}
}

// say adds a narration line that is not a socket call.
func (e *env) say(who, what, result string) { e.p.Emit(who, what, result, nil) }

// tcp makes a TCP socket.
func (e *env) tcp(name string) *probe.Endpoint {
	ep, err := e.p.TCP(name)
	e.ok(err)
	return ep
}

// listener makes socket, SO_REUSEADDR (explicitly on or off), bind on
// the server port, listen; before runs between socket and bind.
func (e *env) listener(name string, reuse bool, backlog int, before func(*probe.Endpoint)) *probe.Endpoint {
	ln := e.tcp(name)
	e.ok(ln.SetReuseAddr(reuse))
	if before != nil {
		before(ln)
	}
	e.ok(ln.Bind(e.port))
	e.ok(ln.Listen(backlog))
	return ln
}

// client makes a socket, runs before, and connects it to the server port.
func (e *env) client(name string, before func(*probe.Endpoint)) *probe.Endpoint {
	c := e.tcp(name)
	if before != nil {
		before(c)
	}
	e.ok(c.Connect(e.port, waitLimit))
	return c
}

// accept takes the next connection from a listener.
func (e *env) accept(ln *probe.Endpoint, name string) *probe.Endpoint {
	a, err := ln.Accept(name, waitLimit)
	e.ok(err)
	return a
}

// send writes a message and fails the steps if it did not all go.
func (e *env) send(ep *probe.Endpoint, msg string) {
	n, err := ep.Send([]byte(msg))
	e.ok(err)
	if n != len(msg) {
		e.ok(fmt.Errorf("short send: %d of %d bytes", n, len(msg)))
	}
}

// recv reads what is there (waiting for it) and returns the byte count.
func (e *env) recv(ep *probe.Endpoint) int {
	n, err := ep.Recv(4096, waitLimit)
	e.ok(err)
	return n
}

// connected makes the usual pair: a listener, a client connected to it
// and the server's accepted end, with a short exchange.
func (e *env) connected() (ln, c, a *probe.Endpoint) {
	ln = e.listener("server", true, 4, nil)
	c = e.client("client", nil)
	a = e.accept(ln, "server")
	e.send(c, "hello")
	e.recv(a)
	return ln, c, a
}
