//go:build linux

package collect

import "golang.org/x/sys/unix"

// readDir calls f with the name of every entry of the open directory dir
// but "." and "..", read with getdents64 into buf, which every batch
// reuses: nothing is allocated per entry. The name lives in buf, followed
// by its NUL, until f returns. batch counts the getdents calls from 0, so
// that a caller can tell a directory that fits in buf from a bigger one.
// An error ends the walk after the entries read before it were passed on.
func readDir(dir int, buf []byte, f func(batch int, name []byte)) error {
	for batch := 0; ; batch++ {
		nr, err := unix.Getdents(dir, buf)
		for err == unix.EINTR {
			nr, err = unix.Getdents(dir, buf)
		}
		if err != nil {
			return err
		}
		if nr <= 0 {
			return nil
		}
		forEachDirent(buf[:nr], func(name []byte) { f(batch, name) })
	}
}
