//go:build linux

package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// execute sends the request req, a netlink message built by n.header,
// and calls each with the payload of every data message of the reply, in
// order. Data messages are the ones of the request's own type: sock_diag
// answers SOCK_DIAG_BY_FAMILY with SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK
// with TCPDIAG_GETSOCK.
//
// A dump request (NLM_F_DUMP) ends at NLMSG_DONE; any other request ends
// after its one data message. NLMSG_ERROR ends either: an errno in it, or
// in the error field of NLMSG_DONE (a dump that failed after it started),
// is returned as a unix.Errno, so callers wrap it with %w and test it with
// errors.Is. intr reports that a message carried NLM_F_DUMP_INTR: the dump
// ran to its end, but the table changed under it, so it may hold
// duplicates or miss sockets, and the caller decides whether to run it
// again. An error from each stops the walk and is returned as it is.
//
// After an error other than an errno from the kernel the socket may still
// hold the rest of the reply; callers close it.
func (n *Netlink) execute(req []byte, each func(msg []byte) error) (intr bool, err error) {
	r := newReply(req, n.port)
	if _, err := unix.Write(n.fd, req); err != nil {
		return false, err
	}
	for {
		nr, from, err := n.recv()
		if err != nil {
			return r.intr, err
		}
		if from != 0 {
			// Only the kernel answers a request; a datagram another
			// process sent to this port is not part of the reply.
			continue
		}
		done, err := r.walk(n.buf[:nr], each)
		if err != nil || done {
			return r.intr, err
		}
	}
}

// recv reads one datagram into n.buf and returns its length and the port
// of its sender, 0 for the kernel. It calls recvfrom itself, with n's own
// address buffer, because unix.Recvfrom allocates the sender's address on
// every call.
func (n *Netlink) recv() (int, uint32, error) {
	for {
		n.fromLen = unix.SizeofSockaddrNetlink
		nr, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(n.fd),
			uintptr(unsafe.Pointer(&n.buf[0])), uintptr(len(n.buf)), 0,
			uintptr(unsafe.Pointer(&n.from)), uintptr(unsafe.Pointer(&n.fromLen)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, e
		}
		return int(nr), n.from.Pid, nil
	}
}

// reply is what a walk over the datagrams of one reply knows of its
// request, and what it has seen so far.
type reply struct {
	seq  uint32 // the request's sequence number
	port uint32 // this socket's netlink port, the messages' nlmsg_pid
	typ  uint16 // the type of the data messages
	dump bool   // the request asked for a dump
	intr bool   // a message carried NLM_F_DUMP_INTR
}

func newReply(req []byte, port uint32) reply {
	ne := binary.NativeEndian
	return reply{
		seq:  ne.Uint32(req[8:]),
		port: port,
		typ:  ne.Uint16(req[4:]),
		dump: ne.Uint16(req[6:])&unix.NLM_F_DUMP == unix.NLM_F_DUMP,
	}
}

// walk goes through the netlink messages of one datagram and reports
// whether the reply ended in it. Messages of another sequence number or
// port (the rest of an earlier reply) are skipped. It does not allocate
// unless it returns an error.
func (r *reply) walk(b []byte, each func(msg []byte) error) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return false, fmt.Errorf("netlink message length %d out of %d bytes", l, len(b))
		}
		typ, flags := ne.Uint16(b[4:]), ne.Uint16(b[6:])
		seq, port := ne.Uint32(b[8:]), ne.Uint32(b[12:])
		msg := b[nlmsgHdrLen:l]
		b = b[min(nlmsgAlign(l), len(b)):]
		if seq != r.seq || port != r.port {
			continue
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			r.intr = true
		}
		switch typ {
		case unix.NLMSG_ERROR:
			// struct nlmsgerr: the error, then the request it answers.
			if len(msg) < 4 {
				return false, errors.New("short netlink error message")
			}
			if e := int32(ne.Uint32(msg)); e != 0 {
				return false, unix.Errno(-e)
			}
			return true, nil // an acknowledgement
		case unix.NLMSG_DONE:
			// The kernel puts the dump's final status in NLMSG_DONE: a
			// negative errno when the dump could not go on (inet_diag
			// has no handler for the protocol). An old kernel may send
			// it without one.
			if len(msg) >= 4 {
				if e := int32(ne.Uint32(msg)); e < 0 {
					return false, unix.Errno(-e)
				}
			}
			return true, nil
		case r.typ:
			if err := each(msg); err != nil {
				return false, err
			}
			if !r.dump && flags&unix.NLM_F_MULTI == 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

func nlmsgAlign(l int) int { return (l + 3) &^ 3 }
