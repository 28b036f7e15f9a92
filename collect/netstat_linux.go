//go:build linux

package collect

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// ReadListenCounters reads the listen queue counters of the network
// namespace at nsPath (as ResolveNetNS gives it), or of socktop's own
// when nsPath is "". The counters are per namespace: under --all-netns
// they are socktop's own namespace's, and a caller says so.
func ReadListenCounters(nsPath string) (ListenCounters, error) {
	if nsPath == "" {
		return readNetstatFile("/proc/self/net/netstat")
	}
	type result struct {
		c   ListenCounters
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Entered on a locked thread that is put back before it is
		// unlocked (or, if it cannot be, retired with its goroutine), as
		// socketIn does; /proc/self would name the thread group's
		// leader, which stays in socktop's namespace.
		runtime.LockOSThread()
		c, err, back := readNetstatInLocked(nsPath)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

func readNetstatInLocked(nsPath string) (c ListenCounters, err error, back bool) {
	orig, err := netns.Get()
	if err != nil {
		return c, fmt.Errorf("collect: this thread's network namespace: %w", err), true
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return c, fmt.Errorf("collect: open network namespace %s: %w", nsPath, err), true
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return c, fmt.Errorf("collect: enter network namespace %s: %w", nsPath, err), true
	}
	f, oerr := os.Open("/proc/thread-self/net/netstat")
	if err := netns.Set(orig); err != nil {
		if oerr == nil {
			f.Close()
		}
		return c, fmt.Errorf("collect: back from network namespace %s: %w", nsPath, err), false
	}
	if oerr != nil {
		return c, fmt.Errorf("collect: netstat of %s: %w", nsPath, oerr), true
	}
	// The file keeps the namespace it was opened in, so it is read back
	// here, in socktop's own.
	defer f.Close()
	c, err = ParseNetstat(f)
	if err != nil {
		return c, fmt.Errorf("collect: %s of %s: %w", f.Name(), nsPath, err), true
	}
	return c, nil, true
}

func readNetstatFile(path string) (ListenCounters, error) {
	f, err := os.Open(path)
	if err != nil {
		return ListenCounters{}, fmt.Errorf("collect: %w", err)
	}
	defer f.Close()
	c, err := ParseNetstat(f)
	if err != nil {
		return c, fmt.Errorf("collect: %s: %w", path, err)
	}
	return c, nil
}
