// Package probe is the socket building block of the demos: endpoints made
// with raw socket calls (golang.org/x/sys/unix, never package net, which
// silently sets SO_REUSEADDR and keepalive), every option set explicitly,
// and every call reported as an Event so a person can follow it. A Probe
// owns everything it opens, descriptors, goroutines and child processes,
// and closes all of it on Stop. It knows nothing about terminals.
package probe

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Event is one socket call and its result, in the words a person would
// use in a narration: "server: bind(127.0.0.1:5194) = EADDRINUSE".
type Event struct {
	At time.Time
	// Endpoint names the socket the call was made on: "server",
	// "client", "client 2", "server (new)"...
	Endpoint string
	// Call is the call as a person would write it: "listen(backlog=1)",
	// "setsockopt(SO_REUSEADDR, 1)", "shutdown(SHUT_WR)".
	Call string
	// Result is "0", "fd 7", "EADDRINUSE", "EAGAIN after 8192 bytes"...
	Result string
	// Err is nil when the call succeeded.
	Err error
}

// String returns the event as one narration line, endpoint first.
func (e Event) String() string {
	return fmt.Sprintf("%s: %s = %s", e.Endpoint, e.Call, e.Result)
}

// Sink receives the events of a probe. The probe calls it from one
// goroutine at a time, in the order the calls were made.
type Sink func(Event)

// Sentinel errors; concrete errors wrap them with %w.
var (
	// ErrStopped means the probe was stopped while the call waited or
	// before it was made.
	ErrStopped = errors.New("probe stopped")
	// ErrUnsupported means raw sockets are not available on this platform.
	ErrUnsupported = errors.New("probe: raw sockets are only supported on Linux")
	// ErrTimeout means a call that waits (accept, recv, connect) gave up.
	ErrTimeout = errors.New("probe: timed out waiting")
	// ErrChild means the child process failed or reported an error.
	ErrChild = errors.New("probe child")
	// ErrBadArgument means a call was given an argument it cannot use.
	ErrBadArgument = errors.New("probe: bad argument")
)

// callError wraps a failed call so that errors.Is finds both the errno
// (unix.EADDRINUSE...) and the call that failed in its message.
type callError struct {
	endpoint, call string
	err            error
}

func (e *callError) Error() string { return e.endpoint + ": " + e.call + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// resultOf returns the Result text for an error: the errno's symbolic
// name (EADDRINUSE) when there is one, else the error text.
func resultOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := errnoName(errno); name != "" {
			return name
		}
	}
	if errors.Is(err, ErrStopped) {
		return "stopped"
	}
	if errors.Is(err, ErrTimeout) {
		return "timed out"
	}
	return err.Error()
}

// errnoFromName turns a symbolic name back into the errno, for events a
// child process sends over its pipe; ok is false for other texts.
func errnoFromName(name string) (syscall.Errno, bool) {
	for e := syscall.Errno(1); e < 200; e++ {
		if errnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}
