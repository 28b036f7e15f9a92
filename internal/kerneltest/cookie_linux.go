package kerneltest

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Cookie reads a socket's cookie (SO_COOKIE), by which a test finds its
// own socket among everything the host holds.
func Cookie(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cookie uint64
	var gerr error
	if err := raw.Control(func(fd uintptr) { cookie, gerr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil || cookie == 0 {
		t.Fatalf("SO_COOKIE: %d, %v", cookie, gerr)
	}
	return cookie
}
