package demo

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"socktop/probe"
)

// pollSlice bounds every wait of a transfer, so that a stopped run is
// noticed within it.
const pollSlice = 20 * time.Millisecond

// transfer says how one timed run moves bytes from w to r.
type transfer struct {
	// size is the buffer passed to every write and read.
	size int
	// dur is how long the writer keeps writing at least, when bytes is
	// 0.
	dur time.Duration
	// bytes, when not 0, is how much the writer writes at least instead:
	// on a slow path the bytes a timed writer left queued would take
	// longer to arrive than the run itself.
	bytes int64
	// more, when set, keeps the writer going after dur while it returns
	// true (checked every few milliseconds), so that a run lasts until
	// someone has looked at it.
	more func() bool
	// stopped reports that the run was stopped.
	stopped func() bool
}

// timedTransfer writes size-byte buffers into w for the transfer's
// duration while a goroutine reads r with a buffer of the same size,
// and returns the bytes moved and the time from the first write to the
// read of the last byte. Both descriptors are non-blocking.
func timedTransfer(w, r int, t transfer) (int64, time.Duration, error) {
	if t.size <= 0 {
		return 0, 0, fmt.Errorf("%w: buffer size %d", probe.ErrBadArgument, t.size)
	}
	target := make(chan int64, 1)
	quit := make(chan struct{})
	type result struct {
		last time.Time
		err  error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, t.size)
		var got int64
		want := int64(-1)
		var last time.Time
		for {
			if want >= 0 && got >= want {
				done <- result{last: last}
				return
			}
			n, err := unix.Read(r, buf)
			switch {
			case n > 0:
				got += int64(n)
				last = time.Now()
				continue
			case err == nil:
				done <- result{err: fmt.Errorf("read: end of stream after %d bytes", got)}
				return
			case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR):
				done <- result{err: fmt.Errorf("read: %w after %d bytes", err, got)}
				return
			}
			if want < 0 {
				select {
				case want = <-target:
					continue
				case <-quit:
					done <- result{err: errWriterGone}
					return
				default:
				}
			}
			if t.stopped() {
				done <- result{err: probe.ErrStopped}
				return
			}
			waitFD(r, unix.POLLIN)
		}
	}()
	buf := make([]byte, t.size)
	for i := range buf {
		buf[i] = 'x'
	}
	var sent int64
	off := 0
	start := time.Now()
	deadline := start.Add(t.dur)
	var nextLook time.Time
	var werr error
	for {
		// The writer stops only between whole buffers, as a program
		// calling write(fd, buf, size) in a loop would.
		if off == 0 {
			now := time.Now()
			enough := t.bytes > 0 && sent >= t.bytes || t.bytes <= 0 && now.After(deadline)
			if enough && t.more == nil {
				break
			}
			if enough && !now.Before(nextLook) {
				if !t.more() {
					break
				}
				nextLook = now.Add(5 * time.Millisecond)
			}
		}
		n, err := unix.Write(w, buf[off:])
		if n > 0 {
			sent += int64(n)
			off = (off + n) % t.size
			continue
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			werr = fmt.Errorf("write: %w after %d bytes", err, sent)
			break
		}
		if t.stopped() {
			werr = probe.ErrStopped
			break
		}
		select {
		case res := <-done:
			// The reader failed and will read no more.
			return sent, 0, res.err
		default:
		}
		waitFD(w, unix.POLLOUT)
	}
	if werr != nil {
		close(quit)
		<-done
		return sent, 0, werr
	}
	target <- sent
	res := <-done
	if res.err != nil {
		return sent, 0, res.err
	}
	return sent, res.last.Sub(start), nil
}

// errWriterGone ends a reader whose writer failed.
var errWriterGone = errors.New("the writer stopped")

// waitFD waits until fd is ready for events or pollSlice passes.
func waitFD(fd int, events int16) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	_, _ = unix.Poll(fds, int(pollSlice/time.Millisecond))
}

// dupFD gives the measurement a descriptor of its own for a probe
// endpoint's socket: a Stop closes the endpoint's descriptor at any
// moment, and a number the loop still held could by then name another
// file. The socket lives until both are closed.
func dupFD(ep *probe.Endpoint) (int, error) {
	fd := ep.FD()
	if fd < 0 {
		return -1, fmt.Errorf("%w: %s is closed", probe.ErrStopped, ep.Name())
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dup %s: %w", ep.Name(), err)
	}
	return nfd, nil
}

// pipeRun measures one timed run through a fresh pipe: the baseline of a
// kernel copy with no protocol at all.
func pipeRun(t transfer) (int64, time.Duration, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return 0, 0, fmt.Errorf("pipe2: %w", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	return timedTransfer(p[1], p[0], t)
}

// closeFD closes a descriptor dupFD made.
func closeFD(fd int) { _ = unix.Close(fd) }
