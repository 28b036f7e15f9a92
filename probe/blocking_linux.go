package probe

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// report emits a call that succeeded with ok, or failed with err.
func (e *Endpoint) report(call, ok string, err error) {
	if err != nil {
		e.p.fail(e.name, call, err)
		return
	}
	e.p.Emit(e.name, call, ok, nil)
}

// errNotAsleep is why WaitInKernel fails when the call it waits for
// returned at once with a connection.
var errNotAsleep = errors.New("a connection was already queued")

// AcceptBlocking calls accept(2) on a blocking descriptor, on an OS
// thread of its own, and returns at once: the thread stays asleep in the
// kernel until a connection comes or the listener is shut down
// (shutdown(2) from another goroutine; close(2) would not wake it). The
// listener's descriptor is blocking until the call returns, so the
// endpoint's other waiting calls must not be used meanwhile (Accept
// refuses). The accepted endpoint, if any, is called name.
func (e *Endpoint) AcceptBlocking(name string) (*Blocked, error) {
	const call = "accept() [blocking]"
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, e.p.fail(e.name, call, e.closedErr())
	}
	// The thread accepts on a duplicate, so that it holds no lock while it
	// sleeps and a Close of the endpoint never closes a descriptor in use.
	// The duplicate shares the open file, and with it O_NONBLOCK.
	dup, err := unix.FcntlInt(uintptr(e.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		err = setNonblock(dup, false)
		if err != nil {
			unix.Close(dup)
		}
	}
	if err != nil {
		e.mu.Unlock()
		return nil, e.p.fail(e.name, call, err)
	}
	e.blocking++
	e.mu.Unlock()
	undo := func() {
		setNonblock(dup, true)
		unix.Close(dup)
		e.mu.Lock()
		e.blocking--
		e.mu.Unlock()
	}

	p := e.p
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		undo()
		return nil, p.fail(e.name, call, ErrStopped)
	}
	p.wg.Add(1)
	p.mu.Unlock()

	b := &Blocked{ep: e, done: make(chan struct{})}
	started := make(chan struct{}, 1)
	go func() {
		defer p.wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.tid = unix.Gettid()
		b.call = fmt.Sprintf("accept() [blocking, thread %d]", b.tid)
		started <- struct{}{}
		var nfd int
		var sa unix.Sockaddr
		var err error
		for {
			nfd, sa, err = unix.Accept4(dup, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		undo()
		if err != nil {
			b.err = p.fail(e.name, b.call, err)
			close(b.done)
			return
		}
		child := &Endpoint{p: p, name: name, proto: e.proto, fd: nfd, remote: addrOf(sa)}
		child.learnLocal(nfd)
		if !p.add(child) {
			unix.Close(nfd)
			b.err = p.fail(e.name, b.call, ErrStopped)
			close(b.done)
			return
		}
		p.Emit(e.name, b.call, fmt.Sprintf("fd %d (%s, peer %s)", nfd, name, child.remote), nil)
		b.child = child
		close(b.done)
	}()
	<-started
	return b, nil
}

func setNonblock(fd int, on bool) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		flags |= unix.O_NONBLOCK
	} else {
		flags &^= unix.O_NONBLOCK
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return err
}

// WaitInKernel waits until the blocked thread sleeps inside its system
// call (timeout 0: until Stop), as /proc/self/task/TID shows it, and
// reports that: "asleep in accept4 (wchan inet_csk_accept)". Until then a
// shutdown from another goroutine would come before the call and prove
// nothing.
func (b *Blocked) WaitInKernel(timeout time.Duration) error {
	e := b.ep
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		asleep, wchan, err := threadAsleepIn(b.tid, unix.SYS_ACCEPT4)
		switch {
		case err != nil:
			return e.p.fail(e.name, b.call, fmt.Errorf("reading the state of thread %d: %w", b.tid, err))
		case asleep:
			res := "asleep in accept4"
			if wchan != "" {
				res += " (wchan " + wchan + ")"
			}
			e.p.Emit(e.name, b.call, res, nil)
			return nil
		}
		select {
		case <-b.done:
			cause := b.err
			if cause == nil {
				cause = errNotAsleep
			}
			return e.p.fail(e.name, b.call, fmt.Errorf("the call returned before it slept in the kernel: %w", cause))
		case <-e.p.Stopping():
			return e.p.fail(e.name, b.call, ErrStopped)
		case <-time.After(time.Millisecond):
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return e.p.fail(e.name, b.call, ErrTimeout)
		}
	}
}

// threadAsleepIn reports whether thread tid of this process sleeps in
// system call nr, from /proc/self/task/TID/syscall (the call's number
// first, "running" while it runs) and stat (state S); wchan is the kernel
// function it sleeps in, when the kernel shows it.
func threadAsleepIn(tid int, nr uintptr) (asleep bool, wchan string, err error) {
	dir := "/proc/self/task/" + strconv.Itoa(tid)
	sc, err := os.ReadFile(dir + "/syscall")
	if err != nil {
		return false, "", err
	}
	f := strings.Fields(string(sc))
	if len(f) == 0 || f[0] != strconv.FormatUint(uint64(nr), 10) {
		return false, "", nil
	}
	st, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return false, "", err
	}
	// The state follows the command, which is in parentheses and may
	// hold spaces.
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false, "", fmt.Errorf("%w: %s/stat: %q", ErrBadArgument, dir, s)
	}
	if s[i+2] != 'S' {
		return false, "", nil
	}
	if w, err := os.ReadFile(dir + "/wchan"); err == nil && len(w) > 0 && string(w) != "0" {
		wchan = strings.TrimSpace(string(w))
	}
	return true, wchan, nil
}
