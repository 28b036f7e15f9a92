// Package waitfor is the one way tests wait for something the kernel, a
// child process or a goroutine does in its own time: poll a condition with
// backoff (Until), or receive from a channel (Recv), and fail naming what
// was awaited if it never comes. The timeout is a hang guard for a loaded
// host, never a measure of speed.
package waitfor

import (
	"testing"
	"time"
)

// The polls start fast, so a condition that holds almost at once costs
// little, and back off to a rate a full socket dump on a busy host can
// bear.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// clock is the time the poller sees; tests of the poller replace it.
type clock struct {
	now   func() time.Time
	sleep func(time.Duration)
}

var wall = clock{now: time.Now, sleep: time.Sleep}

// Until calls cond until it returns true. If timeout passes first, it
// fails t with "timed out after <timeout> waiting for <what>"; what should
// read as the end of that sentence.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	poll(t, wall, timeout, what, cond, nil)
}

// UntilShow is Until with the state of things on failure: show's text is
// added to the message, so a timeout says what was seen instead.
func UntilShow(t testing.TB, timeout time.Duration, what string, cond func() bool, show func() string) {
	t.Helper()
	poll(t, wall, timeout, what, cond, show)
}

func poll(t testing.TB, c clock, timeout time.Duration, what string, cond func() bool, show func() string) {
	t.Helper()
	deadline := c.now().Add(timeout)
	for wait := firstPoll; !cond(); wait = min(2*wait, maxPoll) {
		if !c.now().Before(deadline) {
			if show != nil {
				t.Fatalf("timed out after %v waiting for %s; last seen:\n%s", timeout, what, show())
			} else {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			return
		}
		c.sleep(wait)
	}
}

// Recv receives from ch, handing got each value and whether ch is still
// open, until got returns true: the way to wait on a stream of events
// without polling it. If ch closes without got accepting it, or timeout
// passes first, t fails naming what; show, if not nil, adds what was seen.
func Recv[T any](t testing.TB, timeout time.Duration, what string, ch <-chan T, got func(v T, open bool) bool, show func() string) {
	t.Helper()
	guard := time.NewTimer(timeout)
	defer guard.Stop()
	seen := func() string {
		if show == nil {
			return ""
		}
		return "; last seen:\n" + show()
	}
	for {
		select {
		case v, open := <-ch:
			if got(v, open) {
				return
			}
			if !open {
				t.Fatalf("the channel closed while waiting for %s%s", what, seen())
				return
			}
		case <-guard.C:
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, seen())
			return
		}
	}
}
