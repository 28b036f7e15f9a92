package probe

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RecvMsgResult is what one recvmsg(2) gave.
type RecvMsgResult struct {
	// N is the call's return value: the bytes copied, or with MSG_TRUNC
	// among the flags on a datagram socket, the datagram's real length.
	N int
	// Copied is how many bytes landed in the buffer.
	Copied int
	// Truncated is true when the kernel set MSG_TRUNC in msg_flags: the
	// datagram was longer than the buffer and the rest was discarded.
	Truncated bool
}

// recvLoop makes the receiving call once data (or an error) is there:
// it calls try until it gives something other than EAGAIN, waiting for
// POLLIN in between (timeout 0: until Stop). try runs under the
// endpoint's lock.
func (e *Endpoint) recvLoop(timeout time.Duration, try func(fd int) error) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return e.closedErr()
		}
		err := try(e.fd)
		e.mu.Unlock()
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return err
		}
		left := time.Duration(0)
		if !deadline.IsZero() {
			if left = time.Until(deadline); left <= 0 {
				return ErrTimeout
			}
		}
		if _, err := e.wait(unix.POLLIN, left); err != nil {
			return err
		}
	}
}

// RecvMsg waits for a datagram (timeout 0: until Stop) and reads it with
// recvmsg(2) into a buffer of size bytes; with trunc, MSG_TRUNC is passed
// in the flags, so the call returns the datagram's real length however
// small the buffer. The result says how many bytes were copied and
// whether the kernel set MSG_TRUNC in msg_flags: a datagram is read
// whole or cut, never in pieces.
func (e *Endpoint) RecvMsg(size int, trunc bool, timeout time.Duration) (RecvMsgResult, error) {
	call := fmt.Sprintf("recvmsg(%d-byte buffer)", size)
	flags := 0
	if trunc {
		call = fmt.Sprintf("recvmsg(%d-byte buffer, MSG_TRUNC)", size)
		flags = unix.MSG_TRUNC
	}
	if size < 0 {
		return RecvMsgResult{}, e.p.fail(e.name, call, ErrBadArgument)
	}
	buf := make([]byte, size)
	var res RecvMsgResult
	var from unix.Sockaddr
	err := e.recvLoop(timeout, func(fd int) error {
		n, _, rflags, sa, err := unix.Recvmsg(fd, buf, nil, flags)
		if err != nil {
			return err
		}
		res = RecvMsgResult{N: n, Copied: min(n, size), Truncated: rflags&unix.MSG_TRUNC != 0}
		from = sa
		return nil
	})
	if err != nil {
		return RecvMsgResult{}, e.p.fail(e.name, call, err)
	}
	text := fmt.Sprintf("%d bytes", res.N)
	if res.N != res.Copied {
		text = fmt.Sprintf("%d (%d copied)", res.N, res.Copied)
	}
	if res.Truncated {
		text += ", msg_flags MSG_TRUNC"
	}
	if from != nil {
		text += " from " + addrOf(from).String()
	}
	e.p.Emit(e.name, call, text, nil)
	return res, nil
}

// SendTo sends b as one datagram to 127.0.0.1:port with sendto(2), on a
// socket that need not be connected; the kernel binds an unbound socket
// to an ephemeral port on the way, which Local then reports.
func (e *Endpoint) SendTo(b []byte, port uint16) (int, error) {
	var n int
	err := e.do(fmt.Sprintf("sendto(127.0.0.1:%d, %d bytes)", port, len(b)), func(fd int) (string, error) {
		if err := unix.Sendto(fd, b, 0, sockaddr(port)); err != nil {
			return "", err
		}
		n = len(b)
		e.learnLocal(fd)
		return strconv.Itoa(n), nil
	})
	return n, err
}

// SetRecvErr sets IP_RECVERR: the socket is told of ICMP errors even
// when it is not connected.
func (e *Endpoint) SetRecvErr(on bool) error {
	return e.setInt(unix.IPPROTO_IP, unix.IP_RECVERR, "IP_RECVERR", boolInt(on))
}

// Pending reports the bytes a read would find with ioctl(FIONREAD): on a
// TCP socket everything queued, on a UDP socket the size of the next
// datagram only (0 when none is queued).
func (e *Endpoint) Pending() (int, error) {
	var n int
	err := e.do("ioctl(FIONREAD)", func(fd int) (string, error) {
		var err error
		n, err = unix.IoctlGetInt(fd, unix.SIOCINQ)
		return fmt.Sprintf("%d bytes", n), err
	})
	return n, err
}

// WaitPending polls ioctl(FIONREAD) until at least n bytes are queued
// (timeout 0: until Stop), so a reader can be sure everything sent has
// arrived before it reads; it is one event, with the bytes found.
func (e *Endpoint) WaitPending(n int, timeout time.Duration) (int, error) {
	call := fmt.Sprintf("ioctl(FIONREAD) until %d bytes", n)
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var got int
		err := e.do1(func(fd int) error {
			var err error
			got, err = unix.IoctlGetInt(fd, unix.SIOCINQ)
			return err
		})
		if err != nil {
			return got, e.p.fail(e.name, call, err)
		}
		if got >= n {
			e.p.Emit(e.name, call, fmt.Sprintf("%d bytes", got), nil)
			return got, nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return got, e.p.fail(e.name, call, fmt.Errorf("%w with %d bytes queued", ErrTimeout, got))
		}
		select {
		case <-e.p.Stopping():
			return got, e.p.fail(e.name, call, ErrStopped)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// do1 runs f on the descriptor under the endpoint's lock without
// reporting it, for calls a caller reports as one event.
func (e *Endpoint) do1(f func(fd int) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.closedErr()
	}
	return f(e.fd)
}

// RecvBuffer waits for data (timeout 0: until Stop) and reads once into
// a buffer of size bytes, and reports how many bytes that one read got;
// 0 and no error is the end of a TCP stream.
func (e *Endpoint) RecvBuffer(size int, timeout time.Duration) (int, error) {
	call := fmt.Sprintf("recv(%d-byte buffer)", size)
	if size <= 0 {
		return 0, e.p.fail(e.name, call, ErrBadArgument)
	}
	return e.recvInto(call, make([]byte, size), timeout)
}

func (e *Endpoint) recvInto(call string, buf []byte, timeout time.Duration) (int, error) {
	var n int
	err := e.recvLoop(timeout, func(fd int) error {
		var err error
		n, _, err = unix.Recvfrom(fd, buf, 0)
		return err
	})
	if err != nil {
		return 0, e.p.fail(e.name, call, err)
	}
	res := fmt.Sprintf("%d bytes", n)
	if n == 0 && e.proto == TCP && len(buf) > 0 {
		res = "0 (EOF: the peer sent FIN)"
	}
	e.p.Emit(e.name, call, res, nil)
	return n, nil
}

// ReadN is the course material's readn: it reads into a buffer of size
// bytes until n bytes have come, each recv(2) its own event, and returns
// what each read got. A stream keeps no write boundaries, so it may take
// one read or many. The end of the stream before n bytes is an error
// wrapping io.ErrUnexpectedEOF.
func (e *Endpoint) ReadN(n, size int, timeout time.Duration) ([]int, error) {
	call := fmt.Sprintf("readn(%d bytes, %d-byte buffer)", n, size)
	if n < 0 || size <= 0 {
		return nil, e.p.fail(e.name, call, ErrBadArgument)
	}
	buf := make([]byte, size)
	var reads []int
	total := 0
	for total < n {
		k, err := e.recvInto(fmt.Sprintf("recv(%d-byte buffer)", min(size, n-total)), buf[:min(size, n-total)], timeout)
		if err != nil {
			return reads, e.p.fail(e.name, call, fmt.Errorf("%w after %d bytes", err, total))
		}
		if k == 0 {
			return reads, e.p.fail(e.name, call, fmt.Errorf("%w: end of stream after %d bytes", io.ErrUnexpectedEOF, total))
		}
		reads = append(reads, k)
		total += k
	}
	e.p.Emit(e.name, call, fmt.Sprintf("%d bytes in %s", total, countReads(reads)), nil)
	return reads, nil
}

// countReads describes the reads of a readn: "1 read", "5 reads".
func countReads(reads []int) string {
	if len(reads) == 1 {
		return "1 read"
	}
	return strconv.Itoa(len(reads)) + " reads"
}

// WriteN is the course material's writen: it writes b, calling send(2)
// again for what a short write left (waiting for room in the send buffer
// in between, timeout 0: until Stop), each send its own event, and
// returns what each send took.
func (e *Endpoint) WriteN(b []byte, timeout time.Duration) ([]int, error) {
	call := fmt.Sprintf("writen(%d bytes)", len(b))
	var sends []int
	total := 0
	for total < len(b) {
		rest := b[total:]
		var k int
		err := e.do(fmt.Sprintf("send(%d bytes)", len(rest)), func(fd int) (string, error) {
			var err error
			k, err = unix.Write(fd, rest)
			if errors.Is(err, unix.EAGAIN) {
				return "EAGAIN", nil
			}
			if err != nil {
				return "", err
			}
			return strconv.Itoa(k), nil
		})
		if err != nil {
			return sends, e.p.fail(e.name, call, fmt.Errorf("%w after %d bytes", err, total))
		}
		if k <= 0 {
			if _, err := e.wait(unix.POLLOUT, timeout); err != nil {
				return sends, e.p.fail(e.name, call, fmt.Errorf("%w after %d bytes", err, total))
			}
			continue
		}
		sends = append(sends, k)
		total += k
	}
	parts := make([]string, len(sends))
	for i, k := range sends {
		parts[i] = strconv.Itoa(k)
	}
	word := "sends"
	if len(sends) == 1 {
		word = "send"
	}
	e.p.Emit(e.name, call, fmt.Sprintf("%d bytes in %d %s (%s)", total, len(sends), word, strings.Join(parts, ", ")), nil)
	return sends, nil
}
