package probe

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ChildEnv is the environment variable that turns the socktop binary (or
// a test binary) into a probe child; its value is the JSON ServerSpec.
const ChildEnv = "SOCKTOP_PROBE_CHILD"

// ServerSpec says what a child process does: socket, setsockopt
// SO_REUSEADDR, bind 127.0.0.1:Port, listen, accept Accept connections,
// then hold everything open until it is killed or its parent goes away.
type ServerSpec struct {
	Name       string `json:"name"`        // endpoint name of the listener, "server"
	AcceptName string `json:"accept_name"` // endpoint name of accepted connections
	Port       uint16 `json:"port"`
	ReuseAddr  bool   `json:"reuse_addr"`
	Backlog    int    `json:"backlog"`
	Accept     int    `json:"accept"`
}

// wireEvent is an Event on the pipe from a child to its parent.
type wireEvent struct {
	At       time.Time `json:"at"`
	Endpoint string    `json:"endpoint"`
	Call     string    `json:"call"`
	Result   string    `json:"result"`
	Err      string    `json:"err,omitempty"`
}

func toWire(ev Event) wireEvent {
	w := wireEvent{At: ev.At, Endpoint: ev.Endpoint, Call: ev.Call, Result: ev.Result}
	if ev.Err != nil {
		w.Err = ev.Err.Error()
	}
	return w
}

func fromWire(w wireEvent) Event {
	ev := Event{At: w.At, Endpoint: w.Endpoint, Call: w.Call, Result: w.Result}
	if w.Err != "" {
		if errno, ok := errnoFromName(w.Result); ok {
			ev.Err = &callError{endpoint: w.Endpoint, call: w.Call, err: errno}
		} else {
			ev.Err = fmt.Errorf("%w: %s", ErrChild, w.Err)
		}
	}
	return ev
}

// Child is a server running in a separate process: a re-exec of the
// current binary in the hidden child mode. Its events reach the parent's
// sink as if it were a local endpoint, and its sockets belong to another
// pid, which is what the owner column shows.
type Child struct {
	p     *Probe
	name  string
	cmd   *exec.Cmd
	pid   int
	stdin io.WriteCloser

	mu       sync.Mutex
	events   []Event
	notify   chan struct{} // closed and replaced on every new event
	exited   chan struct{}
	exitErr  error
	stderr   strings.Builder
	stopOnce sync.Once
	cmdMu    sync.Mutex // one Command line at a time on stdin
}

// PID returns the child's process id.
func (c *Child) PID() int { return c.pid }

// Exited returns a channel closed once the child process has been reaped.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Events returns the events the child has reported so far.
func (c *Child) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitFor waits until the child reports an event whose Call starts with
// prefix (timeout 0: until the child exits or the probe stops) and
// returns it; a failed call is returned with its error.
func (c *Child) WaitFor(prefix string, timeout time.Duration) (Event, error) {
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.events); seen++ {
			if ev := c.events[seen]; strings.HasPrefix(ev.Call, prefix) {
				c.mu.Unlock()
				return ev, ev.Err
			}
		}
		wake := c.notify
		c.mu.Unlock()
		select {
		case <-wake:
		case <-c.exited:
			// Events read before the exit are already recorded: look once more.
			c.mu.Lock()
			n, exitErr, stderr := len(c.events), c.exitErr, strings.TrimSpace(c.stderr.String())
			c.mu.Unlock()
			if seen == n {
				return Event{}, fmt.Errorf("%w: exited before %q: %v %s", ErrChild, prefix, exitErr, stderr)
			}
		case <-c.p.stopCh:
			return Event{}, ErrStopped
		case <-timer:
			return Event{}, fmt.Errorf("%w: no %q from the child", ErrTimeout, prefix)
		}
	}
}

func (c *Child) record(ev Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

// errChildGone is reported when Kill finds the process already reaped.
var errChildGone = errors.New("child already exited")
