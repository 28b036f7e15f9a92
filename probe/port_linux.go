package probe

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// reserved holds the ports FreePort handed out in this process, so two
// runs started side by side never get the same one.
var (
	reservedMu sync.Mutex
	reserved   = map[uint16]bool{}
)

// FreePort returns a port that is free on loopback for TCP and UDP, in
// both families (see PortInUse), with no TIME_WAIT or other leftover on
// it. It is chosen below the ephemeral range
// (net.ipv4.ip_local_port_range), so that no client's connect() can take
// it between the choice and the demo's bind, and it is never handed out
// twice by one process.
func FreePort() (uint16, error) {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := bytes.Fields(b); len(f) == 2 {
			if v, err := strconv.Atoi(string(f[0])); err == nil {
				lo = v
			}
		}
	}
	first := 10000
	if lo-first < 2000 {
		first = 1024
	}
	if lo-first < 100 {
		return 0, fmt.Errorf("%w: ip_local_port_range starts at %d, no room below it", ErrBadArgument, lo)
	}
	reservedMu.Lock()
	defer reservedMu.Unlock()
	for range 500 {
		port := uint16(first + rand.IntN(lo-first))
		if reserved[port] {
			continue
		}
		busy, err := PortInUse(port)
		if err != nil {
			return 0, err
		}
		if busy {
			continue
		}
		reserved[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("%w: no free port found below %d", ErrBadArgument, lo)
}

// PortInUse reports whether a demo could not have port to itself: a TCP
// or UDP socket without SO_REUSEADDR fails to bind it on 127.0.0.1 or on
// ::1. That is the case while any socket, even a TIME_WAIT, is bound to
// the port on 0.0.0.0, 127.0.0.1, ::, ::1 or a v4-mapped address,
// including a dual-stack listener on [::] (IPV6_V6ONLY off), which is how
// sshd and nginx listen and which takes 127.0.0.1:port as well. A family
// the host does not have (no IPv6) counts as free; an error means the test
// sockets could not be made (out of descriptors, say), so nothing is known.
func PortInUse(port uint16) (bool, error) {
	six := &unix.SockaddrInet6{Port: int(port), Addr: netip.IPv6Loopback().As16()}
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
		for _, sa := range []unix.Sockaddr{sockaddr(port), six} {
			if busy, err := bindFails(typ, sa); busy || err != nil {
				return busy, err
			}
		}
	}
	return false, nil
}

// bindFails reports whether binding sa without SO_REUSEADDR fails with
// EADDRINUSE. Other bind failures (::1 missing, a privileged port) say
// nothing about other sockets on the port. An IPv6 socket is made
// v6-only, so that it tests ::1 alone; IPv4 is tested on its own.
func bindFails(typ int, sa unix.Sockaddr) (bool, error) {
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if family == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("probe: test socket for the port check: %w", err)
	}
	defer unix.Close(fd)
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return false, fmt.Errorf("probe: IPV6_V6ONLY for the port check: %w", err)
		}
	}
	return errors.Is(unix.Bind(fd, sa), unix.EADDRINUSE), nil
}
