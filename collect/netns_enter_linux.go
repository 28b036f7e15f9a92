//go:build linux

package collect

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ownNetNS is the inode of the network namespace socktop runs in, read
// once: socktop never moves a thread it does not put back.
var ownNetNS = sync.OnceValue(func() uint32 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return 0
	}
	return uint32(st.Ino)
})

// socketIn opens a socket of the given netlink protocol inside the
// network namespace at path, whose inode must be want (0: any), and
// returns it; the socket stays in that namespace for its life. The
// namespace is entered on a locked thread of a goroutine of its own, and
// the thread is put back before it is unlocked; if it cannot be put back,
// the goroutine ends locked, and Go retires the thread with it, so no
// other goroutine ever runs in a foreign namespace.
func socketIn(path string, want uint32, protocol int) (int, error) {
	return socketInWith(path, want, protocol, nil)
}

// socketInWith is socketIn that also calls inside, when not nil, on the
// thread while it is in the namespace, after the socket is opened: files
// under /proc/thread-self/net opened there stay bound to that namespace.
func socketInWith(path string, want uint32, protocol int, inside func()) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err, back := socketInLocked(path, want, protocol, inside)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// socketInLocked is socketIn on the calling, locked thread; back reports
// whether the thread is in its own namespace again.
func socketInLocked(path string, want uint32, protocol int, inside func()) (fd int, err error, back bool) {
	orig, err := netns.Get()
	if err != nil {
		return -1, fmt.Errorf("collect: this thread's network namespace: %w", err), true
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		return -1, fmt.Errorf("collect: open network namespace %s: %w", path, err), true
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target), &st); err != nil {
		return -1, fmt.Errorf("collect: network namespace %s: %w", path, err), true
	}
	if want != 0 && uint32(st.Ino) != want {
		// A pid reused since the namespace was found.
		return -1, fmt.Errorf("collect: %s is namespace %d now, not %d: %w", path, st.Ino, want, ErrNotFound), true
	}
	if err := netns.Set(target); err != nil {
		return -1, fmt.Errorf("collect: enter network namespace %s: %w", path, err), true
	}
	fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, protocol)
	if serr == nil && inside != nil {
		inside()
	}
	if err := netns.Set(orig); err != nil {
		if serr == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("collect: back from network namespace %s: %w", path, err), false
	}
	if serr != nil {
		return -1, fmt.Errorf("collect: open NETLINK_SOCK_DIAG in %s: %w", path, serr), true
	}
	return fd, nil, true
}

// nsInode returns the inode of the network namespace at path.
func nsInode(path string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	if st.Dev != nsfsDev() {
		// The nsfs device is the same for every namespace file; a plain
		// file under /run/netns whose mount went away is not one.
		return 0, fmt.Errorf("%s is not a namespace file", path)
	}
	return uint32(st.Ino), nil
}

// nsfsDev is the device number of nsfs, read from socktop's own
// namespace file.
var nsfsDev = sync.OnceValue(func() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return 0
	}
	return st.Dev
})

// ResolveNetNS turns what -N was given into a namespace path: an ip netns
// NAME (/run/netns/NAME), a PID (/proc/PID/ns/net), or a PATH to a
// namespace file (anything with a slash). It checks that the path names
// a network namespace now.
func ResolveNetNS(arg string) (string, error) {
	if arg == "" {
		return "", errors.New("collect: empty network namespace name")
	}
	var path string
	switch {
	case strings.Contains(arg, "/"):
		path = arg
	case isDigits(arg):
		path = "/proc/" + arg + "/ns/net"
	default:
		path = netnsRunDir + "/" + arg
	}
	if _, err := os.Stat(path); err != nil {
		switch {
		case isDigits(arg):
			return "", fmt.Errorf("collect: no process %s: %w", arg, err)
		case !strings.Contains(arg, "/"):
			return "", fmt.Errorf("collect: no network namespace named %q (ip netns list): %w", arg, err)
		}
		return "", fmt.Errorf("collect: network namespace %s: %w", path, err)
	}
	if _, err := nsInode(path); err != nil {
		return "", fmt.Errorf("collect: network namespace %s: %w", path, err)
	}
	if kind, err := nsType(path); err == nil && kind != unix.CLONE_NEWNET {
		return "", fmt.Errorf("collect: %s is a namespace, but not a network namespace", path)
	}
	return path, nil
}

// nsType returns the CLONE_NEW* kind of the namespace file at path.
func nsType(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 31)
	return err == nil
}
