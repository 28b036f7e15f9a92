package waitfor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeTB records a failure instead of ending the test; poll returns after
// Fatalf, so no Goexit is needed.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

// fakeClock advances only when the poller sleeps, and records the sleeps.
type fakeClock struct {
	at     time.Time
	sleeps []time.Duration
}

func (c *fakeClock) clock() clock {
	return clock{
		now:   func() time.Time { return c.at },
		sleep: func(d time.Duration) { c.sleeps = append(c.sleeps, d); c.at = c.at.Add(d) },
	}
}

// A condition that already holds is not waited for.
func TestHoldsAtOnce(t *testing.T) {
	var ft fakeTB
	var fc fakeClock
	calls := 0
	poll(&ft, fc.clock(), time.Second, "nothing", func() bool { calls++; return true }, nil)
	if ft.failed != "" || calls != 1 || len(fc.sleeps) != 0 {
		t.Errorf("failed %q, %d calls, sleeps %v; want no failure, 1 call, no sleep", ft.failed, calls, fc.sleeps)
	}
}

// The polls back off from 5 ms, doubling, to 100 ms, and stop as soon as
// the condition holds.
func TestBacksOff(t *testing.T) {
	var ft fakeTB
	var fc fakeClock
	calls := 0
	poll(&ft, fc.clock(), time.Minute, "the ninth call", func() bool { calls++; return calls == 9 }, nil)
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms, 100 * ms}
	if ft.failed != "" || !slices.Equal(fc.sleeps, want) {
		t.Errorf("failed %q, sleeps %v; want no failure and sleeps %v", ft.failed, fc.sleeps, want)
	}
}

// Past the timeout the test fails, and the message names what it waited
// for and, with UntilShow's show, what it saw last.
func TestTimeoutNamesWhat(t *testing.T) {
	for _, show := range []func() string{nil, func() string { return "3 sockets" }} {
		var ft fakeTB
		var fc fakeClock
		poll(&ft, fc.clock(), time.Second, "the listener to appear", func() bool { return false }, show)
		if !strings.Contains(ft.failed, "timed out after 1s waiting for the listener to appear") {
			t.Errorf("failure %q does not name what was awaited", ft.failed)
		}
		if show != nil && !strings.HasSuffix(ft.failed, "last seen:\n3 sockets") {
			t.Errorf("failure %q does not show the last state", ft.failed)
		}
		var slept time.Duration
		for _, d := range fc.sleeps {
			slept += d
		}
		if slept < time.Second || slept > time.Second+maxPoll {
			t.Errorf("gave up after %v of fake time, want the 1s timeout (within one poll)", slept)
		}
	}
}

// Until and UntilShow, on the wall clock, return once the condition holds.
func TestUntilOnWallClock(t *testing.T) {
	done := make(chan struct{})
	go close(done)
	closed := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	Until(t, time.Minute, "a goroutine to close a channel", closed)
	UntilShow(t, time.Minute, "the same channel", closed, func() string { return "open" })
}

// Recv hands over every value in order and stops when got accepts one.
func TestRecvStopsWhenAccepted(t *testing.T) {
	ch := make(chan int, 4)
	for i := range 4 {
		ch <- i
	}
	var vals []int
	Recv(t, time.Minute, "the value 2", ch, func(v int, open bool) bool {
		vals = append(vals, v)
		return v == 2
	}, nil)
	if !slices.Equal(vals, []int{0, 1, 2}) || len(ch) != 1 {
		t.Errorf("handed %v, %d left; want 0 1 2 and the 3 left in the channel", vals, len(ch))
	}
}

// A channel that closes without got accepting it, or one that never
// sends, fails the test, naming what was awaited and what was seen.
func TestRecvFails(t *testing.T) {
	closed := make(chan int)
	close(closed)
	var ft fakeTB
	Recv(&ft, time.Minute, "a value", closed, func(int, bool) bool { return false }, func() string { return "nothing" })
	if ft.failed != "the channel closed while waiting for a value; last seen:\nnothing" {
		t.Errorf("on close: %q", ft.failed)
	}
	ft = fakeTB{}
	Recv(&ft, time.Millisecond, "a value", make(chan int), func(int, bool) bool { return true }, nil)
	if ft.failed != "timed out after 1ms waiting for a value" {
		t.Errorf("on timeout: %q", ft.failed)
	}
	// Waiting for the close itself is how a drain ends.
	ft = fakeTB{}
	Recv(&ft, time.Minute, "the close", closed, func(_ int, open bool) bool { return !open }, nil)
	if ft.failed != "" {
		t.Errorf("waiting for the close: %q", ft.failed)
	}
}
