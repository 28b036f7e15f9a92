package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollSlice bounds each wait inside a call so that Stop, which needs the
// endpoint's lock to close the descriptor, is never kept waiting long and
// a descriptor is never closed while a poll uses it.
const pollSlice = 50 * time.Millisecond

func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }

// TCP makes a TCP socket over IPv4: socket(AF_INET, SOCK_STREAM). The
// descriptor is non-blocking underneath; the calls that wait (Accept,
// Connect, Recv) poll it, so Stop can always end them.
func (p *Probe) TCP(name string) (*Endpoint, error) {
	return p.socket(name, TCP, unix.SOCK_STREAM, "socket(AF_INET, SOCK_STREAM)")
}

// UDP makes a UDP socket over IPv4: socket(AF_INET, SOCK_DGRAM).
func (p *Probe) UDP(name string) (*Endpoint, error) {
	return p.socket(name, UDP, unix.SOCK_DGRAM, "socket(AF_INET, SOCK_DGRAM)")
}

// TCPIn makes a TCP socket over IPv4 inside the network namespace at
// nsPath (a /run/netns/NAME file or /proc/PID/ns/net). The socket stays
// in that namespace for its life: it binds, connects and accepts there,
// while the probe and its goroutines stay in their own.
func (p *Probe) TCPIn(name, nsPath string) (*Endpoint, error) {
	return p.socketIn(name, TCP, unix.SOCK_STREAM, "socket(AF_INET, SOCK_STREAM)", nsPath)
}

// UDPIn makes a UDP socket over IPv4 inside the network namespace at
// nsPath, as TCPIn does.
func (p *Probe) UDPIn(name, nsPath string) (*Endpoint, error) {
	return p.socketIn(name, UDP, unix.SOCK_DGRAM, "socket(AF_INET, SOCK_DGRAM)", nsPath)
}

func (p *Probe) socket(name string, proto Proto, typ int, call string) (*Endpoint, error) {
	return p.socketIn(name, proto, typ, call, "")
}

func (p *Probe) socketIn(name string, proto Proto, typ int, call, nsPath string) (*Endpoint, error) {
	if nsPath != "" {
		call += " [netns " + filepath.Base(nsPath) + "]"
	}
	if p.isStopped() {
		return nil, p.fail(name, call, ErrStopped)
	}
	var fd int
	var err error
	if nsPath == "" {
		fd, err = unix.Socket(unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	} else {
		fd, err = socketInNetNS(nsPath, unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return nil, p.fail(name, call, err)
	}
	ep := &Endpoint{p: p, name: name, proto: proto, fd: fd}
	if !p.add(ep) {
		unix.Close(fd)
		return nil, p.fail(name, call, ErrStopped)
	}
	p.Emit(name, call, fmt.Sprintf("fd %d", fd), nil)
	return ep, nil
}

// fail reports a failed call and returns the wrapped error.
func (p *Probe) fail(name, call string, err error) error {
	werr := &callError{endpoint: name, call: call, err: err}
	p.emit(Event{Endpoint: name, Call: call, Result: resultOf(err), Err: werr})
	return werr
}

// closedErr is the error of a call on a closed descriptor: ErrStopped when
// Stop closed it, as Stop's documentation promises, EBADF otherwise.
func (e *Endpoint) closedErr() error {
	if e.p.isStopped() {
		return ErrStopped
	}
	return fmt.Errorf("%w: descriptor already closed", unix.EBADF)
}

// do runs one call under the endpoint's lock and reports it; ok is the
// Result text on success.
func (e *Endpoint) do(call string, f func(fd int) (string, error)) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.p.fail(e.name, call, e.closedErr())
	}
	res, err := f(e.fd)
	e.mu.Unlock()
	if err != nil {
		return e.p.fail(e.name, call, err)
	}
	e.p.Emit(e.name, call, res, nil)
	return nil
}

func (e *Endpoint) setInt(level, opt int, optName string, v int) error {
	return e.do(fmt.Sprintf("setsockopt(%s, %d)", optName, v), func(fd int) (string, error) {
		return "0", unix.SetsockoptInt(fd, level, opt, v)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetReuseAddr sets SO_REUSEADDR to on or off, explicitly either way.
func (e *Endpoint) SetReuseAddr(on bool) error {
	return e.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, "SO_REUSEADDR", boolInt(on))
}

// SetRcvBuf sets SO_RCVBUF (the kernel doubles the value for its own
// bookkeeping). Set it before listen or connect so the window is small
// from the handshake on.
func (e *Endpoint) SetRcvBuf(n int) error {
	return e.setInt(unix.SOL_SOCKET, unix.SO_RCVBUF, "SO_RCVBUF", n)
}

// SetSndBuf sets SO_SNDBUF.
func (e *Endpoint) SetSndBuf(n int) error {
	return e.setInt(unix.SOL_SOCKET, unix.SO_SNDBUF, "SO_SNDBUF", n)
}

// SetLinger sets SO_LINGER; on with zero seconds makes close() send RST.
func (e *Endpoint) SetLinger(on bool, seconds int) error {
	onWord := "off"
	if on {
		onWord = "on"
	}
	call := fmt.Sprintf("setsockopt(SO_LINGER, {%s, %d})", onWord, seconds)
	return e.do(call, func(fd int) (string, error) {
		return "0", unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER,
			&unix.Linger{Onoff: int32(boolInt(on)), Linger: int32(seconds)})
	})
}

// SetDeferAccept sets TCP_DEFER_ACCEPT on a listener: a connection stays
// in SYN_RECV until the client sends data or the seconds run out.
func (e *Endpoint) SetDeferAccept(seconds int) error {
	return e.setInt(unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", seconds)
}

// SetSynCnt sets TCP_SYNCNT: how many SYN (or, on a listener, SYN-ACK)
// retransmissions before giving up.
func (e *Endpoint) SetSynCnt(n int) error {
	return e.setInt(unix.IPPROTO_TCP, unix.TCP_SYNCNT, "TCP_SYNCNT", n)
}

// SetUserTimeout sets TCP_USER_TIMEOUT: how long sent data may stay
// unacknowledged before the connection is dropped.
func (e *Endpoint) SetUserTimeout(d time.Duration) error {
	return e.setInt(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", int(d.Milliseconds()))
}

// SetLinger2 sets TCP_LINGER2: the lifetime of an orphan FIN_WAIT_2,
// which otherwise is net.ipv4.tcp_fin_timeout.
func (e *Endpoint) SetLinger2(seconds int) error {
	return e.setInt(unix.IPPROTO_TCP, unix.TCP_LINGER2, "TCP_LINGER2", seconds)
}

// SetQuickAck sets TCP_QUICKACK; off before connect delays the final ACK
// of the handshake.
func (e *Endpoint) SetQuickAck(on bool) error {
	return e.setInt(unix.IPPROTO_TCP, unix.TCP_QUICKACK, "TCP_QUICKACK", boolInt(on))
}

func sockaddr(port uint16) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: int(port), Addr: Loopback.As4()}
}

// sockaddrOf converts an IPv4 address and port; the endpoints are
// AF_INET sockets, so anything else is a bad argument.
func sockaddrOf(ap netip.AddrPort) (*unix.SockaddrInet4, error) {
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return nil, fmt.Errorf("%w: %s is not an IPv4 address", ErrBadArgument, ap)
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
}

func addrOf(sa unix.Sockaddr) netip.AddrPort {
	if s4, ok := sa.(*unix.SockaddrInet4); ok {
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port))
	}
	return netip.AddrPort{}
}

// learnLocal records the local address the kernel chose; called with
// e.mu held.
func (e *Endpoint) learnLocal(fd int) {
	if sa, err := unix.Getsockname(fd); err == nil {
		e.local = addrOf(sa)
	}
}

// Bind binds the endpoint to 127.0.0.1:port (port 0: the kernel picks).
func (e *Endpoint) Bind(port uint16) error {
	return e.BindAddr(netip.AddrPortFrom(Loopback, port))
}

// BindAddr binds the endpoint to an IPv4 address of its namespace
// (port 0: the kernel picks).
func (e *Endpoint) BindAddr(ap netip.AddrPort) error {
	return e.do(fmt.Sprintf("bind(%s)", ap), func(fd int) (string, error) {
		sa, err := sockaddrOf(ap)
		if err != nil {
			return "", err
		}
		if err := unix.Bind(fd, sa); err != nil {
			return "", err
		}
		e.learnLocal(fd)
		return "0", nil
	})
}

// Listen makes the endpoint a listener with the given backlog.
func (e *Endpoint) Listen(backlog int) error {
	return e.do(fmt.Sprintf("listen(backlog=%d)", backlog), func(fd int) (string, error) {
		return "0", unix.Listen(fd, backlog)
	})
}

// wait polls the descriptor for events until one is ready, the timeout
// passes (0: no timeout) or the probe stops. It holds e.mu only during
// each slice, and reports the revents.
func (e *Endpoint) wait(events int16, timeout time.Duration) (int16, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if e.p.isStopped() {
			return 0, ErrStopped
		}
		e.mu.RLock()
		if e.closed {
			e.mu.RUnlock()
			return 0, e.closedErr()
		}
		fds := []unix.PollFd{{Fd: int32(e.fd), Events: events}}
		n, err := unix.Poll(fds, int(pollSlice/time.Millisecond))
		e.mu.RUnlock()
		if err != nil && !errors.Is(err, unix.EINTR) {
			return 0, err
		}
		if n > 0 {
			return fds[0].Revents, nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return 0, ErrTimeout
		}
	}
}

// Accept waits for a connection on a listener (timeout 0: until Stop) and
// returns it as a new endpoint called name.
func (e *Endpoint) Accept(name string, timeout time.Duration) (*Endpoint, error) {
	const call = "accept()"
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, e.p.fail(e.name, call, e.closedErr())
		}
		if e.blocking > 0 {
			// The descriptor is blocking while AcceptBlocking waits: an
			// accept here would hold the lock inside the kernel.
			e.mu.Unlock()
			return nil, e.p.fail(e.name, call, fmt.Errorf("%w: a blocking accept() is under way on this socket", ErrBadArgument))
		}
		nfd, sa, err := unix.Accept4(e.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		e.mu.Unlock()
		if err == nil {
			child := &Endpoint{p: e.p, name: name, proto: e.proto, fd: nfd, remote: addrOf(sa)}
			child.learnLocal(nfd)
			if !e.p.add(child) {
				unix.Close(nfd)
				return nil, e.p.fail(e.name, call, ErrStopped)
			}
			e.p.Emit(e.name, call, fmt.Sprintf("fd %d (%s, peer %s)", nfd, name, child.remote), nil)
			return child, nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return nil, e.p.fail(e.name, call, err)
		}
		if _, err := e.wait(unix.POLLIN, timeout); err != nil {
			return nil, e.p.fail(e.name, call, err)
		}
	}
}

// startConnect issues connect(2) to ap on the (always non-blocking)
// socket and returns its raw result: the callers decide what EINPROGRESS
// means. A closed endpoint gives EBADF, as the kernel would.
func (e *Endpoint) startConnect(ap netip.AddrPort) error {
	sa, err := sockaddrOf(ap)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return unix.EBADF
	}
	e.remote = ap
	err = unix.Connect(e.fd, sa)
	e.learnLocal(e.fd)
	return err
}

// ConnectNonBlocking starts a connection to 127.0.0.1:port and returns at
// once; the usual result is EINPROGRESS, which is not an error here.
func (e *Endpoint) ConnectNonBlocking(port uint16) error {
	return e.ConnectNonBlockingAddr(netip.AddrPortFrom(Loopback, port))
}

// ConnectNonBlockingAddr is ConnectNonBlocking to any IPv4 address.
func (e *Endpoint) ConnectNonBlockingAddr(ap netip.AddrPort) error {
	call := fmt.Sprintf("connect(%s) [non-blocking]", ap)
	err := e.startConnect(ap)
	switch {
	case err == nil:
		e.p.Emit(e.name, call, "0", nil)
		return nil
	case errors.Is(err, unix.EINPROGRESS):
		e.p.Emit(e.name, call, "EINPROGRESS", nil)
		return nil
	}
	return e.p.fail(e.name, call, err)
}

// Connect connects to 127.0.0.1:port and waits for the handshake to end
// (timeout 0: until Stop), as a blocking connect(2) would.
func (e *Endpoint) Connect(port uint16, timeout time.Duration) error {
	return e.ConnectAddr(netip.AddrPortFrom(Loopback, port), timeout)
}

// ConnectAddr is Connect to any IPv4 address: a peer across a veth pair,
// in another network namespace.
func (e *Endpoint) ConnectAddr(ap netip.AddrPort, timeout time.Duration) error {
	call := fmt.Sprintf("connect(%s)", ap)
	err := e.startConnect(ap)
	if err == nil {
		e.p.Emit(e.name, call, "0", nil)
		return nil
	}
	if !errors.Is(err, unix.EINPROGRESS) {
		return e.p.fail(e.name, call, err)
	}
	if err := e.finishConnect(timeout); err != nil {
		return e.p.fail(e.name, call, err)
	}
	e.p.Emit(e.name, call, "0", nil)
	return nil
}

// finishConnect waits for a pending connect and returns its outcome.
func (e *Endpoint) finishConnect(timeout time.Duration) error {
	if _, err := e.wait(unix.POLLOUT, timeout); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return unix.EBADF
	}
	soErr, err := unix.GetsockoptInt(e.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if soErr != 0 {
		return syscall.Errno(soErr)
	}
	e.learnLocal(e.fd)
	return nil
}

// WaitConnected waits for a connect started by ConnectNonBlocking to end
// (timeout 0: until Stop) and reports how it ended: 0, ECONNREFUSED,
// ETIMEDOUT...
func (e *Endpoint) WaitConnected(timeout time.Duration) error {
	const call = "poll(POLLOUT), getsockopt(SO_ERROR)"
	if err := e.finishConnect(timeout); err != nil {
		return e.p.fail(e.name, call, err)
	}
	e.p.Emit(e.name, call, "0", nil)
	return nil
}

// Send writes b once and reports how many bytes the kernel took.
func (e *Endpoint) Send(b []byte) (int, error) {
	var n int
	err := e.do(fmt.Sprintf("send(%d bytes)", len(b)), func(fd int) (string, error) {
		var err error
		n, err = unix.Write(fd, b)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d", n), nil
	})
	return n, err
}

// SendUntilEAGAIN writes until the send buffer is full and the kernel
// answers EAGAIN, and reports the bytes queued. EAGAIN is the expected
// end here, not an error.
func (e *Endpoint) SendUntilEAGAIN() (int, error) {
	total := 0
	buf := make([]byte, 1024)
	for i := range buf {
		buf[i] = 'x'
	}
	err := e.do("send() until EAGAIN", func(fd int) (string, error) {
		for total < 64<<20 {
			n, err := unix.Write(fd, buf)
			if errors.Is(err, unix.EAGAIN) {
				return fmt.Sprintf("EAGAIN after %d bytes", total), nil
			}
			if err != nil {
				return "", fmt.Errorf("%w after %d bytes", err, total)
			}
			total += n
		}
		return "", fmt.Errorf("%w: no EAGAIN after %d bytes: the peer reads", ErrBadArgument, total)
	})
	return total, err
}

// Recv waits for data (timeout 0: until Stop) and reads at most max
// bytes; it returns 0 and no error at end of stream (the peer's FIN).
func (e *Endpoint) Recv(max int, timeout time.Duration) (int, error) {
	const call = "recv()"
	buf := make([]byte, max)
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return 0, e.p.fail(e.name, call, e.closedErr())
		}
		n, from, err := unix.Recvfrom(e.fd, buf, 0)
		e.mu.Unlock()
		if err == nil {
			res := fmt.Sprintf("%d bytes", n)
			if n == 0 && e.proto == TCP {
				res = "0 (EOF: the peer sent FIN)"
			}
			if e.proto == UDP && from != nil {
				res += " from " + addrOf(from).String()
			}
			e.p.Emit(e.name, call, res, nil)
			return n, nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return 0, e.p.fail(e.name, call, err)
		}
		if _, err := e.wait(unix.POLLIN, timeout); err != nil {
			return 0, e.p.fail(e.name, call, err)
		}
	}
}

// Drain reads until end of stream (timeout 0: until Stop) and reports the
// bytes read; reading opens the window, which lets the peer's queued data
// and FIN through.
func (e *Endpoint) Drain(timeout time.Duration) (int, error) {
	const call = "recv() until EOF"
	buf := make([]byte, 64<<10)
	total := 0
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return total, e.p.fail(e.name, call, e.closedErr())
		}
		n, _, err := unix.Recvfrom(e.fd, buf, 0)
		e.mu.Unlock()
		switch {
		case err == nil && n == 0:
			e.p.Emit(e.name, call, fmt.Sprintf("EOF after %d bytes", total), nil)
			return total, nil
		case err == nil:
			total += n
			continue
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		default:
			return total, e.p.fail(e.name, call, fmt.Errorf("%w after %d bytes", err, total))
		}
		if _, err := e.wait(unix.POLLIN, timeout); err != nil {
			return total, e.p.fail(e.name, call, fmt.Errorf("%w after %d bytes", err, total))
		}
	}
}

// Shutdown half-closes the connection: how is unix.SHUT_WR, SHUT_RD or
// SHUT_RDWR.
func (e *Endpoint) Shutdown(how int) error {
	names := map[int]string{unix.SHUT_RD: "SHUT_RD", unix.SHUT_WR: "SHUT_WR", unix.SHUT_RDWR: "SHUT_RDWR"}
	name, ok := names[how]
	if !ok {
		return e.p.fail(e.name, fmt.Sprintf("shutdown(%d)", how), ErrBadArgument)
	}
	return e.do(fmt.Sprintf("shutdown(%s)", name), func(fd int) (string, error) {
		return "0", unix.Shutdown(fd, how)
	})
}

// Close closes the descriptor. The socket may live on in the kernel
// (TIME_WAIT, an orphan FIN_WAIT), which is the point of most demos.
func (e *Endpoint) Close() error {
	return e.do("close()", func(fd int) (string, error) {
		e.closed = true
		e.fd = -1
		return "0", unix.Close(fd)
	})
}

// closeOnStop closes the descriptor if the steps left it open.
func (e *Endpoint) closeOnStop() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	fd := e.fd
	shut := e.blocking > 0
	var shutErr error
	if shut {
		// close(2) does not wake a thread blocked in accept(2) on this
		// socket; shutdown does, and the thread returns EINVAL.
		shutErr = unix.Shutdown(fd, unix.SHUT_RDWR)
	}
	e.closed = true
	e.fd = -1
	err := unix.Close(fd)
	e.mu.Unlock()
	if shut {
		e.report("shutdown(SHUT_RDWR) [stop]", "0", shutErr)
	}
	if err != nil {
		e.p.fail(e.name, "close() [stop]", err)
		return
	}
	e.p.Emit(e.name, "close() [stop]", "0", nil)
}
