package probe

import (
	"net/netip"
	"sync"
	"time"
)

// Proto is the transport of an endpoint.
type Proto string

// The transports an endpoint can use.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Probe owns a set of endpoints and child processes and reports every
// call made on them to its sink. The zero value is not usable: call New.
type Probe struct {
	sink Sink

	sinkMu sync.Mutex // serialises sink calls so events keep their order

	mu       sync.Mutex
	eps      []*Endpoint
	children []*Child
	stopped  bool
	stopCh   chan struct{}
	wg       sync.WaitGroup // goroutines the probe owns (child readers)
	stopOnce sync.Once
	now      func() time.Time
}

// New returns a probe that reports to sink; a nil sink drops the events.
func New(sink Sink) *Probe {
	if sink == nil {
		sink = func(Event) {}
	}
	p := &Probe{sink: sink, stopCh: make(chan struct{}), now: time.Now}
	return p
}

// Emit reports an event that is not a socket call made through an
// endpoint: a narration step such as "kill(pid 812, SIGKILL)".
func (p *Probe) Emit(endpoint, call, result string, err error) {
	p.emit(Event{At: p.now(), Endpoint: endpoint, Call: call, Result: result, Err: err})
}

func (p *Probe) emit(ev Event) {
	if ev.At.IsZero() {
		ev.At = p.now()
	}
	p.sinkMu.Lock()
	defer p.sinkMu.Unlock()
	p.sink(ev)
}

// Stopping returns a channel closed when Stop has been called, so steps
// that sleep can end early.
func (p *Probe) Stopping() <-chan struct{} { return p.stopCh }

// Stop closes every descriptor the probe still holds, ends every child
// process and waits for the goroutines the probe started. It is
// idempotent and safe to call from any goroutine; waiting calls on the
// probe's endpoints return ErrStopped.
func (p *Probe) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		close(p.stopCh)
		eps := append([]*Endpoint(nil), p.eps...)
		kids := append([]*Child(nil), p.children...)
		p.mu.Unlock()
		for _, c := range kids {
			c.stop()
		}
		for _, ep := range eps {
			ep.closeOnStop()
		}
		p.wg.Wait()
	})
}

func (p *Probe) isStopped() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

// Endpoints returns the endpoints made so far, open or closed, in order
// of creation.
func (p *Probe) Endpoints() []*Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Endpoint(nil), p.eps...)
}

// Children returns the child processes started so far.
func (p *Probe) Children() []*Child {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Child(nil), p.children...)
}

func (p *Probe) add(ep *Endpoint) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.eps = append(p.eps, ep)
	return true
}

// Endpoint is one socket made by a probe. Its methods make one system
// call each (or wait for one to complete) and report it as an Event.
// They are safe for use from one goroutine at a time.
type Endpoint struct {
	p     *Probe
	name  string
	proto Proto

	// mu is a read-write lock so that the poll slices of a blocking call
	// (read-held for up to 50 ms) do not stall Local, Remote, Closed and FD,
	// which demo.Run.Observe reads from the view's event loop every refresh.
	mu     sync.RWMutex
	fd     int // -1 once closed
	local  netip.AddrPort
	remote netip.AddrPort
	closed bool
	// blocking counts the calls blocked in the kernel on a thread of
	// their own (AcceptBlocking): closing the descriptor would not wake
	// them, so Stop shuts the socket down first.
	blocking int
}

// Name returns the endpoint's name as it appears in events.
func (e *Endpoint) Name() string { return e.name }

// Proto returns the endpoint's transport.
func (e *Endpoint) Proto() Proto { return e.proto }

// Local returns the local address after bind, connect or accept; it
// keeps its last value after Close, because TIME_WAIT and orphan
// sockets live on with the same 4-tuple.
func (e *Endpoint) Local() netip.AddrPort {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.local
}

// Remote returns the peer address given to connect, or of an accepted
// connection; the zero AddrPort when there is none.
func (e *Endpoint) Remote() netip.AddrPort {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.remote
}

// Closed reports whether the descriptor has been closed.
func (e *Endpoint) Closed() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.closed
}

// FD returns the descriptor, or -1 once closed.
func (e *Endpoint) FD() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.fd
}

// Loopback is the address every endpoint binds and connects to: demos
// never leave the machine.
var Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// How a connection is half-closed, for Shutdown; the values are the
// system's SHUT_RD, SHUT_WR and SHUT_RDWR.
const (
	ShutRD   = 0
	ShutWR   = 1
	ShutRDWR = 2
)

// Poll events, for Endpoint.Poll; the values are Linux's POLLIN and
// POLLOUT.
const (
	PollIn  int16 = 0x1
	PollOut int16 = 0x4
)
