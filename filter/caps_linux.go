//go:build linux

package filter

import (
	"sync"

	"golang.org/x/sys/unix"
)

// netAdmin reports whether socktop holds CAP_NET_ADMIN, which the kernel
// asks of a dump whose program reads marks. It is read once: a process
// that drops the capability later still gets a broader dump, as the
// collector retries a refused program without it.
var netAdmin = sync.OnceValue(func() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
})
