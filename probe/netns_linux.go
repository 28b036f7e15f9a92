package probe

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// socketInNetNS opens a socket inside the network namespace at nsPath. A
// socket keeps the namespace it was made in, so only its creation needs
// the namespace: a goroutine of its own locks its thread, enters the
// namespace, makes the socket and goes back before it unlocks. If it
// cannot go back, it ends locked, and Go retires the thread with it, so no
// other goroutine ever runs in the demo's namespace.
func socketInNetNS(nsPath string, domain, typ, proto int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err, back := socketInNetNSLocked(nsPath, domain, typ, proto)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// socketInNetNSLocked is socketInNetNS on the calling, locked thread; back
// reports whether the thread is in its own namespace again.
func socketInNetNSLocked(nsPath string, domain, typ, proto int) (fd int, err error, back bool) {
	orig, err := netns.Get()
	if err != nil {
		return -1, fmt.Errorf("this thread's network namespace: %w", err), true
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return -1, fmt.Errorf("open network namespace %s: %w", nsPath, err), true
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return -1, fmt.Errorf("enter network namespace %s: %w", nsPath, err), true
	}
	fd, serr := unix.Socket(domain, typ, proto)
	if err := netns.Set(orig); err != nil {
		if serr == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("back from network namespace %s: %w", nsPath, err), false
	}
	if serr != nil {
		return -1, serr, true
	}
	return fd, nil, true
}
