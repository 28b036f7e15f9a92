package probe

import "time"

// Blocked is a call made on an OS thread of its own that blocks inside
// the kernel, as a thread of a C server does: accept(2) on a blocking
// descriptor (see Endpoint.AcceptBlocking). Another goroutine releases
// it, with shutdown(2) on the socket; Stop releases it too.
type Blocked struct {
	ep   *Endpoint
	call string
	tid  int
	done chan struct{}

	// Set before done is closed.
	child *Endpoint
	err   error
}

// TID returns the id of the thread blocked in the call (as in
// /proc/PID/task/TID).
func (b *Blocked) TID() int { return b.tid }

// Call returns the call as it appears in events: "accept() [blocking,
// thread 2586]".
func (b *Blocked) Call() string { return b.call }

// Done returns a channel closed when the call has returned.
func (b *Blocked) Done() <-chan struct{} { return b.done }

// Wait waits for the call to return (timeout 0: until it does, which Stop
// ensures) and gives its outcome: the accepted endpoint, or the error the
// kernel returned (EINVAL once the listener was shut down). It gives
// ErrTimeout, and leaves the call blocked, when the timeout passes first.
func (b *Blocked) Wait(timeout time.Duration) (*Endpoint, error) {
	if timeout <= 0 {
		<-b.done
		return b.child, b.err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
		return b.child, b.err
	case <-t.C:
		return nil, ErrTimeout
	}
}
