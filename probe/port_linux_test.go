package probe

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// holdSocket binds (and for TCP listens on) addr with a raw socket, so
// that every option is the test's choice: no SO_REUSEADDR, and for IPv6
// the given IPV6_V6ONLY. It returns the function that closes it (also
// run at cleanup, once), and skips when the host has no IPv6.
func holdSocket(t *testing.T, typ int, addr netip.AddrPort, v6only bool) (closeIt func()) {
	t.Helper()
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	if addr.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if family == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
		t.Skipf("no IPv6 on this host: %v", err)
	}
	must(t, err)
	var once sync.Once
	closeIt = func() { once.Do(func() { unix.Close(fd) }) }
	t.Cleanup(closeIt)
	if family == unix.AF_INET6 {
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(v6only)))
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) && family == unix.AF_INET6 {
			t.Skipf("no IPv6 loopback here: bind %v: %v", addr, err)
		}
		t.Fatalf("bind %v: %v", addr, err)
	}
	if typ == unix.SOCK_STREAM {
		must(t, unix.Listen(fd, 1))
	}
	return closeIt
}

// othersOn reports whether ss lists a socket bound to port: another
// program (a test binary of another package, running beside this one)
// may take a port once this test has let it go.
func othersOn(t *testing.T, port uint16) bool {
	t.Helper()
	out, err := exec.Command("ss", "-tuanH", fmt.Sprintf("sport = :%d", port)).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return false
	}
	t.Logf("port %d was taken by another socket once the test let it go:\n%s", port, out)
	return true
}

// TestPortInUseSeesEveryFamily holds one socket of another kind on a
// fresh port per case and checks that the port counts as taken: a demo
// bound to 127.0.0.1 would fail at bind, or would share the port number
// with a stranger's socket. The same port is free before, and again once
// the socket is closed.
func TestPortInUseSeesEveryFamily(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		typ    int
		addr   string
		v6only bool
	}{
		{"dual-stack [::] listener", unix.SOCK_STREAM, "::", false},
		{"v6-only [::] listener", unix.SOCK_STREAM, "::", true},
		{"[::1] listener", unix.SOCK_STREAM, "::1", true},
		{"v4-mapped 127.0.0.1 listener", unix.SOCK_STREAM, "::ffff:127.0.0.1", false},
		{"0.0.0.0 listener", unix.SOCK_STREAM, "0.0.0.0", false},
		{"127.0.0.1 listener", unix.SOCK_STREAM, "127.0.0.1", false},
		{"dual-stack [::] UDP", unix.SOCK_DGRAM, "::", false},
		{"[::1] UDP", unix.SOCK_DGRAM, "::1", true},
		{"127.0.0.1 UDP", unix.SOCK_DGRAM, "127.0.0.1", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// FreePort's ports lie below the ephemeral range, so no other
			// program's connect() takes one while the test runs.
			port := freePort(t)
			if busy, err := PortInUse(port); busy || err != nil {
				t.Fatalf("fresh port %d: in use %v, %v", port, busy, err)
			}
			closeIt := holdSocket(t, c.typ, netip.AddrPortFrom(netip.MustParseAddr(c.addr), port), c.v6only)
			if busy, err := PortInUse(port); !busy || err != nil {
				t.Errorf("port %d with a %s on it: in use %v, %v; want in use", port, c.name, busy, err)
			}
			closeIt()
			if busy, err := PortInUse(port); err != nil || busy && !othersOn(t, port) {
				t.Errorf("port %d after the %s closed: in use %v, %v, and ss lists no socket on it", port, c.name, busy, err)
			}
		})
	}
}
