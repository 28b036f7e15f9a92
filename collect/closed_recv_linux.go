//go:build linux

package collect

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// closedSlots is how many datagrams one recvmmsg reads: a destroy
	// record is one datagram of a few hundred bytes, so a burst costs a
	// system call per closedSlots records, not one each.
	closedSlots = 64
	// closedSlotSize holds a destroy datagram (an inet_diag_msg, the
	// protocol and the tcp_info) with room to spare; a larger one would
	// arrive truncated and be counted as malformed.
	closedSlotSize = 4 << 10
)

// mmsghdr is struct mmsghdr: the Go struct pads to the pointer's
// alignment as the C one does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgBuf is the reader's reusable recvmmsg state: a buffer and a sender
// address per datagram.
type mmsgBuf struct {
	msgs  [closedSlots]mmsghdr
	iovs  [closedSlots]unix.Iovec
	froms [closedSlots]unix.RawSockaddrNetlink
	data  []byte
}

func newMmsgBuf() *mmsgBuf {
	b := &mmsgBuf{data: make([]byte, closedSlots*closedSlotSize)}
	for i := range b.msgs {
		b.iovs[i].Base = &b.data[i*closedSlotSize]
		b.iovs[i].SetLen(closedSlotSize)
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.froms[i]))
	}
	return b
}

// recv reads the datagrams waiting on fd, up to closedSlots, with one
// recvmmsg, and returns how many it read; an error (EAGAIN when nothing
// waits, ENOBUFS after a loss) comes only when none was read, as the
// kernel keeps an error met after the first datagram for the next call.
func (b *mmsgBuf) recv(fd int) (int, error) {
	for i := range b.msgs {
		b.msgs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
		b.msgs[i].hdr.Flags = 0
		b.msgs[i].n = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&b.msgs[0])), closedSlots, 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// datagram returns the i-th datagram of the last recv; ok is false for a
// truncated one. A datagram from a sender other than the kernel reads as
// empty, since only the kernel sends the destroy groups.
func (b *mmsgBuf) datagram(i int) (_ []byte, ok bool) {
	if b.froms[i].Pid != 0 {
		return nil, true
	}
	if b.msgs[i].hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, false
	}
	return b.data[i*closedSlotSize : i*closedSlotSize+int(min(b.msgs[i].n, closedSlotSize))], true
}
