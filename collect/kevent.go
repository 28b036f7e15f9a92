package collect

import (
	"net/netip"
	"time"
)

// StateEvent is one TCP state change as the kernel reported it, from the
// sock:inet_sock_set_state tracepoint. It is exact: no state is skipped,
// and Time is when the kernel made the change.
type StateEvent struct {
	// Time is the kernel's timestamp, taken from its monotonic clock and
	// put on the wall clock. It carries a monotonic reading, so it orders
	// exactly against other events and against Snapshot.Taken.
	Time time.Time
	// Cookie is the socket's cookie, the join key with a dump row and a
	// destroy record; 0 when the reader cannot know it (tracefs).
	Cookie uint64
	// NetNS is the inode of the socket's network namespace; 0 when the
	// reader cannot know it.
	NetNS  uint32
	Proto  Proto
	Family uint8 // 4 or 6
	// Local and Remote are the socket's addresses at the change. A
	// connecting socket's CLOSED -> SYN_SENT has local port 0: the port
	// is chosen after the event.
	Local, Remote netip.AddrPort
	// From and To are canonical states; the kernel's TCP_CLOSE is
	// StateClosed. The kernel reports the active closer's FIN_WAIT_2 (or
	// CLOSING, or FIN_WAIT_1) -> CLOSED when its TIME_WAIT mini-socket
	// takes over; the tracker joins that to the mini-socket.
	From, To State
	// PID and Comm are the task the kernel ran the change in: its
	// process id (the thread group id) and its command name; 0 and ""
	// when the reader could not know them. They are the socket's owner
	// only for changes made in a system call: CLOSED -> SYN_SENT
	// (connect), CLOSED -> LISTEN (listen), ESTABLISHED -> FIN_WAIT_1 and
	// CLOSE_WAIT -> LAST_ACK (close or shutdown); other changes run in
	// softirq, where the task is whoever was interrupted.
	PID  uint32
	Comm string
}

// InSyscall reports whether the kernel makes e's change in a system call
// of the process that holds the socket, so that PID and Comm name its
// owner: connect, listen, and a close or shutdown of an established or
// half-closed connection.
func (e *StateEvent) InSyscall() bool {
	if e.Proto != TCP {
		return false
	}
	switch {
	case e.From == StateClosed:
		return e.To == StateSynSent || e.To == StateListen
	case e.From == StateEstablished:
		return e.To == StateFinWait1
	case e.From == StateCloseWait:
		return e.To == StateLastAck
	}
	return false
}

// Key returns the connection the event is about.
func (e *StateEvent) Key() Key {
	return Key{Proto: e.Proto, Local: e.Local, Remote: e.Remote, NetNS: keyNetNS(e.NetNS)}
}

// Step is one state of a connection's path and when it was entered.
type Step struct {
	State State
	At    time.Time
	// Source says how the step was learnt: Kernel steps are exact, a
	// Sampled step was first seen in a snapshot and may have been
	// entered up to a refresh earlier, after states no snapshot caught.
	Source Origin
}

// ClosedConn is a connection the kernel destroyed, as the closed log and
// `socktop trace` show it: the kernel's final record and what the tracker
// remembered of the socket while it was alive.
type ClosedConn struct {
	Closed
	// Opened is when the connection was first known: its first kernel
	// event, or else the first snapshot that listed it. Zero when the
	// tracker never saw it alive.
	Opened time.Time
	// Owners are the processes that held the socket when it was last
	// seen alive. OwnersKnown is false when the snapshots never knew them.
	Owners      []Owner
	OwnersKnown bool
	// OwnersFromEvents says Owners came from the kernel's events, not
	// from a snapshot: the process that made a system-call change of the
	// socket (StateEvent.InSyscall), for a connection no snapshot gave
	// owners for (one that lived less than a refresh). Its Name is the
	// command of the thread that made the call.
	OwnersFromEvents bool
	// Path is the connection's states from the first known one to the
	// last; empty when the tracker never saw it.
	Path []Step
}

// Lifetime returns how long the connection lived, and false when its
// opening was not seen.
func (c *ClosedConn) Lifetime() (time.Duration, bool) {
	if c.Opened.IsZero() {
		return 0, false
	}
	return c.Received.Sub(c.Opened), true
}
