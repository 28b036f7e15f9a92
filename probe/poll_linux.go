package probe

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollNames are the poll(2) event bits, in the order they are printed.
var pollNames = []struct {
	bit  int16
	name string
}{
	{unix.POLLIN, "POLLIN"}, {unix.POLLPRI, "POLLPRI"}, {unix.POLLOUT, "POLLOUT"},
	{unix.POLLRDHUP, "POLLRDHUP"}, {unix.POLLERR, "POLLERR"}, {unix.POLLHUP, "POLLHUP"},
	{unix.POLLNVAL, "POLLNVAL"},
}

// PollString names poll(2) event bits: "POLLOUT", "POLLERR|POLLHUP", "0";
// bits without a name are shown in hex.
func PollString(ev int16) string {
	if ev == 0 {
		return "0"
	}
	var names []string
	for _, n := range pollNames {
		if ev&n.bit != 0 {
			names = append(names, n.name)
			ev &^= n.bit
		}
	}
	if ev != 0 {
		names = append(names, fmt.Sprintf("%#x", uint16(ev)))
	}
	return strings.Join(names, "|")
}

// Poll calls poll(2) for events and waits at most timeout (0: returns at
// once, as poll(2) with a zero timeout does) for one of them, or for an
// error or hang-up, which poll(2) reports whatever events asks for (events
// 0 waits for those alone). It returns the revents; 0 means the timeout
// passed with nothing ready, which is not an error.
func (e *Endpoint) Poll(events int16, timeout time.Duration) (int16, error) {
	call := fmt.Sprintf("poll(%s, %d ms)", PollString(events), timeout.Milliseconds())
	deadline := time.Now().Add(timeout)
	for {
		if e.p.isStopped() {
			return 0, e.p.fail(e.name, call, ErrStopped)
		}
		slice := min(time.Until(deadline), pollSlice)
		if slice < 0 {
			slice = 0
		}
		e.mu.RLock()
		if e.closed {
			e.mu.RUnlock()
			return 0, e.p.fail(e.name, call, e.closedErr())
		}
		fds := []unix.PollFd{{Fd: int32(e.fd), Events: events}}
		n, err := unix.Poll(fds, int(slice.Milliseconds()))
		e.mu.RUnlock()
		switch {
		case err != nil && !errors.Is(err, unix.EINTR):
			return 0, e.p.fail(e.name, call, err)
		case n > 0:
			e.p.Emit(e.name, call, PollString(fds[0].Revents), nil)
			return fds[0].Revents, nil
		case !time.Now().Before(deadline):
			res := "0 (nothing ready)"
			if timeout > 0 {
				res = "0 (timed out)"
			}
			e.p.Emit(e.name, call, res, nil)
			return 0, nil
		}
	}
}

// SockError reads and clears the socket's pending error with
// getsockopt(SO_ERROR): how a non-blocking connect ended (0,
// ECONNREFUSED, ETIMEDOUT), or the error a RST left for the next call.
// The Result is the errno's name, "0" when none is pending.
func (e *Endpoint) SockError() (syscall.Errno, error) {
	var soErr syscall.Errno
	err := e.do("getsockopt(SO_ERROR)", func(fd int) (string, error) {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return "", err
		}
		soErr = syscall.Errno(v)
		if v == 0 {
			return "0", nil
		}
		return resultOf(soErr), nil
	})
	return soErr, err
}

// The exported poll bits must be the system's.
var _ = [1]struct{}{}[PollIn^unix.POLLIN|PollOut^unix.POLLOUT]
