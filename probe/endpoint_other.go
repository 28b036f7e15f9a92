//go:build !linux

package probe

import (
	"net/netip"
	"syscall"
	"time"
)

// The demos need Linux socket options (TCP_LINGER2, TCP_DEFER_ACCEPT...)
// and the Linux state machine; elsewhere every call fails with
// ErrUnsupported so callers can say so.

func errnoName(e syscall.Errno) string { return "" }

// TCP fails with ErrUnsupported outside Linux.
func (p *Probe) TCP(name string) (*Endpoint, error) {
	return nil, p.fail(name, "socket(AF_INET, SOCK_STREAM)", ErrUnsupported)
}

// UDP fails with ErrUnsupported outside Linux.
func (p *Probe) UDP(name string) (*Endpoint, error) {
	return nil, p.fail(name, "socket(AF_INET, SOCK_DGRAM)", ErrUnsupported)
}

func (p *Probe) fail(name, call string, err error) error {
	werr := &callError{endpoint: name, call: call, err: err}
	p.emit(Event{Endpoint: name, Call: call, Result: resultOf(err), Err: werr})
	return werr
}

// SetReuseAddr fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetReuseAddr(on bool) error { return ErrUnsupported }

// SetRcvBuf fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetRcvBuf(n int) error { return ErrUnsupported }

// SetSndBuf fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetSndBuf(n int) error { return ErrUnsupported }

// SetLinger fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetLinger(on bool, seconds int) error { return ErrUnsupported }

// SetDeferAccept fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetDeferAccept(seconds int) error { return ErrUnsupported }

// SetSynCnt fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetSynCnt(n int) error { return ErrUnsupported }

// SetUserTimeout fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetUserTimeout(d time.Duration) error { return ErrUnsupported }

// SetLinger2 fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetLinger2(seconds int) error { return ErrUnsupported }

// SetQuickAck fails with ErrUnsupported outside Linux.
func (e *Endpoint) SetQuickAck(on bool) error { return ErrUnsupported }

// Bind fails with ErrUnsupported outside Linux.
func (e *Endpoint) Bind(port uint16) error { return ErrUnsupported }

// Listen fails with ErrUnsupported outside Linux.
func (e *Endpoint) Listen(backlog int) error { return ErrUnsupported }

// Accept fails with ErrUnsupported outside Linux.
func (e *Endpoint) Accept(name string, timeout time.Duration) (*Endpoint, error) {
	return nil, ErrUnsupported
}

// ConnectNonBlocking fails with ErrUnsupported outside Linux.
func (e *Endpoint) ConnectNonBlocking(port uint16) error { return ErrUnsupported }

// Connect fails with ErrUnsupported outside Linux.
func (e *Endpoint) Connect(port uint16, timeout time.Duration) error { return ErrUnsupported }

// WaitConnected fails with ErrUnsupported outside Linux.
func (e *Endpoint) WaitConnected(timeout time.Duration) error { return ErrUnsupported }

// Send fails with ErrUnsupported outside Linux.
func (e *Endpoint) Send(b []byte) (int, error) { return 0, ErrUnsupported }

// SendUntilEAGAIN fails with ErrUnsupported outside Linux.
func (e *Endpoint) SendUntilEAGAIN() (int, error) { return 0, ErrUnsupported }

// Recv fails with ErrUnsupported outside Linux.
func (e *Endpoint) Recv(max int, timeout time.Duration) (int, error) { return 0, ErrUnsupported }

// Drain fails with ErrUnsupported outside Linux.
func (e *Endpoint) Drain(timeout time.Duration) (int, error) { return 0, ErrUnsupported }

// Shutdown fails with ErrUnsupported outside Linux.
func (e *Endpoint) Shutdown(how int) error { return ErrUnsupported }

// Close fails with ErrUnsupported outside Linux.
func (e *Endpoint) Close() error { return ErrUnsupported }

func (e *Endpoint) closeOnStop() {}

// TCPIn fails with ErrUnsupported outside Linux.
func (p *Probe) TCPIn(name, nsPath string) (*Endpoint, error) {
	return nil, p.fail(name, "socket(AF_INET, SOCK_STREAM)", ErrUnsupported)
}

// UDPIn fails with ErrUnsupported outside Linux.
func (p *Probe) UDPIn(name, nsPath string) (*Endpoint, error) {
	return nil, p.fail(name, "socket(AF_INET, SOCK_DGRAM)", ErrUnsupported)
}

// BindAddr fails with ErrUnsupported outside Linux.
func (e *Endpoint) BindAddr(ap netip.AddrPort) error { return ErrUnsupported }

// ConnectAddr fails with ErrUnsupported outside Linux.
func (e *Endpoint) ConnectAddr(ap netip.AddrPort, timeout time.Duration) error {
	return ErrUnsupported
}

// ConnectNonBlockingAddr fails with ErrUnsupported outside Linux.
func (e *Endpoint) ConnectNonBlockingAddr(ap netip.AddrPort) error { return ErrUnsupported }
