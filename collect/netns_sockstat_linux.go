//go:build linux

package collect

import (
	"bytes"
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
)

// Bits of Netlink.skip: the protocols whose dumps the current namespace
// is known not to need.
const (
	skipTCP uint8 = 1 << iota
	skipUDP
)

// skips reports whether n may leave out the dump of proto in the
// namespace its socket is in now.
func (n *Netlink) skips(proto uint8) bool {
	switch proto {
	case unix.IPPROTO_TCP:
		return n.skip&skipTCP != 0
	case unix.IPPROTO_UDP:
		return n.skip&skipUDP != 0
	}
	return false
}

// nsStat holds /proc/net/sockstat and sockstat6 of one other namespace,
// opened on a thread inside it: a proc net file keeps the namespace of
// the task it was opened through, and a read at offset 0 shows its
// counters now. A dump of a namespace walks the kernel's hash tables,
// which are host-wide unless the namespace has tables of its own, so an
// empty namespace's dump costs a walk of every host socket; its counters
// cost one read.
type nsStat struct {
	v4, v6 int // -1 when not open
	// v6Absent is set when the kernel has no sockstat6 (no IPv6): the
	// namespace has no IPv6 socket then.
	v6Absent bool
}

func newNSStat() nsStat { return nsStat{v4: -1, v6: -1} }

// openInside opens the files; it runs on a thread inside the namespace.
// /proc/self would name the thread group's leader, which is elsewhere.
func (st *nsStat) openInside() {
	fd, err := unix.Open("/proc/thread-self/net/sockstat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	fd6, err := unix.Open("/proc/thread-self/net/sockstat6", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	switch {
	case err == nil:
		st.v6 = fd6
	case errors.Is(err, unix.ENOENT):
		st.v6Absent = true
	default:
		unix.Close(fd)
		return
	}
	st.v4 = fd
}

func (st *nsStat) close() {
	for _, fd := range []*int{&st.v4, &st.v6} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	st.v6Absent = false
}

// skip returns the Netlink.skip bits for the namespace's counters now,
// with buf to read into; 0 (dump everything) when they cannot be read.
// A TCP dump that asks for bound-inactive sockets is never skipped:
// sockstat counts only hashed sockets, and a socket that is only bound
// is not.
func (st *nsStat) skip(buf []byte, tcpStates uint32) uint8 {
	if st.v4 < 0 || (st.v6 < 0 && !st.v6Absent) {
		return 0
	}
	v4, ok := preadAll(st.v4, buf)
	if !ok {
		return 0
	}
	tcp, udp, ok := sockstatProtos(v4, true)
	if !ok {
		return 0
	}
	if tcp > 0 && udp > 0 {
		return 0 // nothing to skip, whatever sockstat6 says
	}
	if st.v6 >= 0 {
		v6, ok := preadAll(st.v6, buf)
		if !ok {
			return 0
		}
		tcp6, udp6, ok := sockstatProtos(v6, false)
		if !ok {
			return 0
		}
		tcp, udp = tcp+tcp6, udp+udp6
	}
	var bits uint8
	if tcp == 0 && tcpStates&tcpfBoundInactive == 0 {
		bits |= skipTCP
	}
	if udp == 0 {
		bits |= skipUDP
	}
	return bits
}

// preadAll reads the file at fd from offset 0 into buf; ok is false when
// it fails or fills buf (the text may go on).
func preadAll(fd int, buf []byte) ([]byte, bool) {
	m, err := unix.Pread(fd, buf, 0)
	if err != nil || m <= 0 || m == len(buf) {
		return nil, false
	}
	return buf[:m], true
}

// sockstatProtos sums the counters of one sockstat file that tell
// whether a namespace holds any TCP or UDP socket a dump would return:
// TCP inuse and tw (a TIME_WAIT socket is not in inuse) and UDP inuse of
// sockstat (v4), TCP6 and UDP6 inuse of sockstat6. TCP orphan is left
// out: it counts the whole host's orphans in every namespace, and an
// orphan is still hashed, so its namespace's inuse counts it. ok is false
// when a line it needs is missing or a value is not a number, so that
// text it does not know never reads as "none".
func sockstatProtos(text []byte, v4 bool) (tcp, udp int, ok bool) {
	tcpName, udpName := "TCP:", "UDP:"
	tcpFields := []string{"inuse", "tw"}
	if !v4 {
		tcpName, udpName = "TCP6:", "UDP6:"
		tcpFields = tcpFields[:1]
	}
	sawTCP, sawUDP := false, false
	for line := range bytes.Lines(text) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		var want []string
		var sum *int
		switch string(f[0]) {
		case tcpName:
			want, sum, sawTCP = tcpFields, &tcp, true
		case udpName:
			want, sum, sawUDP = tcpFields[:1], &udp, true
		default:
			continue
		}
		found := 0
		for i := 1; i+1 < len(f); i += 2 {
			for _, w := range want {
				if string(f[i]) != w {
					continue
				}
				v, err := strconv.Atoi(string(f[i+1]))
				if err != nil {
					return 0, 0, false
				}
				// tw is a reference count less one; never read a
				// negative as fewer sockets.
				*sum += max(v, 0)
				found++
			}
		}
		if found != len(want) {
			return 0, 0, false
		}
	}
	return tcp, udp, sawTCP && sawUDP
}
