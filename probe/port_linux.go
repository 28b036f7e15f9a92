package probe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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

// FreePort returns a port of 127.0.0.1 that is free for TCP and UDP,
// with no TIME_WAIT or other leftover on it. It is chosen below the
// ephemeral range (net.ipv4.ip_local_port_range), so that no client's
// connect() can take it between the choice and the demo's bind, and it
// is never handed out twice by one process.
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
		if reserved[port] || !bindable(port, unix.SOCK_STREAM) || !bindable(port, unix.SOCK_DGRAM) {
			continue
		}
		reserved[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("%w: no free port found below %d", ErrBadArgument, lo)
}

// bindable reports whether a socket without SO_REUSEADDR can bind
// 127.0.0.1:port: that fails while anything, even a TIME_WAIT, sits on it.
func bindable(port uint16, typ int) bool {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Bind(fd, sockaddr(port)) == nil
}
