//go:build linux

package collect

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lookupBatch is how many requests one sendmsg carries. The kernel
// answers them all within the sendmsg, into the socket's receive queue;
// a batch's replies (a few hundred bytes each, about a kilobyte of
// buffer) stay well inside the default receive buffer, so none is
// dropped for room.
const lookupBatch = 32

// lookupState is what Lookup and Sockstat keep between calls.
type lookupState struct {
	reqs []byte
	// asked maps a batch's requests to rows: asked[j] is the index in
	// rows of the request with sequence number first+j.
	asked []int32

	// conn is the Netlink the lookups run on (looker), made on first use.
	connMu sync.Mutex
	conn   *Netlink

	statMu   sync.Mutex
	statFD   [2]int // sockstat, sockstat6 of n's own namespace; -1 until open
	statOpen bool
	statBuf  []byte
}

// PeekNetNS reports the namespace Lookup and Sockstat ask about, the one
// the source collects in, and whether they can: only for a source that
// reads its own namespace alone (no AllNetNS, no NetNS) and no Unix
// sockets, whose table no event announces.
func (n *Netlink) PeekNetNS() (inode uint32, ok bool) {
	return n.self.Inode, n.others == nil && n.nsPath == "" && !n.opts.Unix
}

// Lookup asks the kernel for each of rows again, by its 4-tuple,
// interface and cookie, as the detail view's Info does for one: no dump,
// so the kernel looks each up in its hash tables. The requests go in
// batches of lookupBatch, each in one sendmsg with its own sequence
// numbers, and the replies are read until each is answered: the row, or
// NLMSG_ERROR ENOENT (no such socket; the kernel checks the cookie, so a
// reused 4-tuple is not taken for the socket). out, emptied, receives
// one Peeked per row, in order; a caller that passes the last call's out
// allocates nothing. Rows of another namespace than the source's are not
// asked (see PeekStatus).
//
// The lookups run on a netlink socket of their own, opened by the first
// call, so that they need not wait for a dump in flight: a view peeks at
// the rows it shows while a walk of a large table runs.
func (n *Netlink) Lookup(ctx context.Context, rows []Socket, out []Peeked) ([]Peeked, error) {
	return n.looker().lookup(ctx, rows, out)
}

// looker is the Netlink that Lookup uses: n's options and namespace, no
// owners, its own socket, buffer, sequence numbers and lock.
func (n *Netlink) looker() *Netlink {
	st := &n.look
	st.connMu.Lock()
	defer st.connMu.Unlock()
	if st.conn == nil {
		o := n.opts
		o.Owners, o.Kernel = false, nil
		c := NewNetlink(o)
		c.protocol = n.protocol
		st.conn = c
	}
	return st.conn
}

// lookup is Lookup on the looker.
func (n *Netlink) lookup(ctx context.Context, rows []Socket, out []Peeked) ([]Peeked, error) {
	out = out[:0]
	for range rows {
		out = append(out, Peeked{})
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.openLocked(); err != nil {
		return out, err
	}
	for start := 0; start < len(rows); {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		next, err := n.lookupBatchLocked(rows, out, start)
		if err != nil {
			n.closeLocked()
			return out, fmt.Errorf("collect: lookup: %w", err)
		}
		start = next
	}
	return out, nil
}

// askable reports whether the kernel can look s up by its key.
func (n *Netlink) askable(s *Socket) bool {
	if s.Cookie == 0 || s.Unknown&FieldCookie != 0 || !s.Local.Addr().IsValid() || (s.Family != 4 && s.Family != 6) {
		return false
	}
	if s.NetNS.Inode != 0 && s.NetNS.Inode != n.self.Inode {
		return false
	}
	switch s.Proto {
	case TCP:
		// Closed and bound-only sockets are in no lookup table.
		return s.State != StateClosed && s.State != StateBoundInactive
	case UDP:
		return true
	}
	return false
}

// lookupBatchLocked asks for the askable rows from start on, at most
// lookupBatch of them, and returns where the next batch starts.
func (n *Netlink) lookupBatchLocked(rows []Socket, out []Peeked, start int) (int, error) {
	st := &n.look
	st.reqs, st.asked = st.reqs[:0], st.asked[:0]
	first := n.seq + 1
	i := start
	for ; i < len(rows) && len(st.asked) < lookupBatch; i++ {
		s := &rows[i]
		if !n.askable(s) {
			continue
		}
		st.reqs = append(st.reqs, n.lookupReq(s)...)
		st.asked = append(st.asked, int32(i))
	}
	if len(st.asked) == 0 {
		return i, nil
	}
	if _, err := unix.Write(n.fd, st.reqs); err != nil {
		return i, err
	}
	// The kernel ran every request within the write: each answer is in
	// the receive queue now, so reads that would block mean one is
	// missing.
	left := len(st.asked)
	for left > 0 {
		nr, from, err := n.recvNow()
		if err == unix.EAGAIN {
			return i, fmt.Errorf("%d of %d requests unanswered", left, len(st.asked))
		}
		if err != nil {
			return i, err
		}
		if from != 0 {
			continue
		}
		answered, err := n.lookupReplies(n.buf[:nr], rows, out, first)
		if err != nil {
			return i, err
		}
		left -= answered
	}
	return i, nil
}

// lookupReq returns the request for s, built in n.req.
func (n *Netlink) lookupReq(s *Socket) []byte {
	fam, proto := uint8(unix.AF_INET), uint8(unix.IPPROTO_TCP)
	if s.Family == 6 {
		fam = unix.AF_INET6
	}
	k := Key{Local: s.Local, Remote: s.Remote}
	if s.Proto == UDP {
		proto = unix.IPPROTO_UDP
		// udp_diag's dump_one looks the socket up as a packet from
		// idiag_src to idiag_dst would be delivered: the request names
		// the remote end as the source.
		k.Local, k.Remote = s.Remote, s.Local
	}
	r := n.buildReq(fam, proto, uint32(AllStates), 0, unix.NLM_F_REQUEST, &k)
	p := r[nlmsgHdrLen:]
	ne := binary.NativeEndian
	ne.PutUint32(p[44:], s.Ifindex)
	ne.PutUint32(p[48:], uint32(s.Cookie))
	ne.PutUint32(p[52:], uint32(s.Cookie>>32))
	return r
}

// lookupReplies decodes the messages of one datagram into out and
// returns how many requests of the batch that began at sequence number
// first they answered.
func (n *Netlink) lookupReplies(b []byte, rows []Socket, out []Peeked, first uint32) (int, error) {
	st := &n.look
	ne := binary.NativeEndian
	answered := 0
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return answered, fmt.Errorf("netlink message length %d out of %d bytes", l, len(b))
		}
		typ, seq, port := ne.Uint16(b[4:]), ne.Uint32(b[8:]), ne.Uint32(b[12:])
		msg := b[nlmsgHdrLen:l]
		b = b[min(nlmsgAlign(l), len(b)):]
		j := seq - first
		if port != n.port || j >= uint32(len(st.asked)) {
			continue // an earlier reply's rest
		}
		idx := st.asked[j]
		p := &out[idx]
		if p.Status != PeekNotAsked {
			continue // answered already
		}
		switch typ {
		case unix.NLMSG_ERROR:
			if len(msg) < 4 {
				return answered, fmt.Errorf("short netlink error message")
			}
			switch e := unix.Errno(-int32(ne.Uint32(msg))); e {
			case unix.ENOENT, unix.ESTALE:
				p.Status = PeekMissing
			case 0:
				continue // an acknowledgement: not asked for
			default:
				return answered, e
			}
		case sockDiagByFam:
			if len(msg) < inetDiagMsgLen {
				return answered, fmt.Errorf("inet_diag_msg of %d bytes", len(msg))
			}
			s := &p.Socket
			*s = Socket{}
			proto := uint8(unix.IPPROTO_TCP)
			if rows[idx].Proto == UDP {
				proto = unix.IPPROTO_UDP
			}
			decodeDiagMsg(s, msg, proto)
			s.NetNS = n.self
			s.Unknown = FieldOwners
			decodeMarkCgroup(s, msg[inetDiagMsgLen:])
			p.Status = PeekFound
		default:
			continue
		}
		answered++
	}
	return answered, nil
}

// recvNow is recv without waiting: MSG_DONTWAIT.
func (n *Netlink) recvNow() (int, uint32, error) {
	for {
		n.fromLen = unix.SizeofSockaddrNetlink
		nr, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(n.fd),
			uintptr(unsafe.Pointer(&n.buf[0])), uintptr(len(n.buf)), unix.MSG_DONTWAIT,
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

// Sockstat reads the counters of the namespace n collects in (see
// SockCounters), through files it keeps open: a read is one pread of
// each. It allocates nothing after the first call.
func (n *Netlink) Sockstat() (SockCounters, error) {
	st := &n.look
	st.statMu.Lock()
	defer st.statMu.Unlock()
	if _, ok := n.PeekNetNS(); !ok {
		return SockCounters{}, fmt.Errorf("collect: sockstat of a source that reads other namespaces: %w", ErrUnsupported)
	}
	if !st.statOpen {
		for i, p := range []string{"/proc/self/net/sockstat", "/proc/self/net/sockstat6"} {
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				if i == 1 {
					st.statFD[1] = -1 // no IPv6: no IPv6 socket either
					break
				}
				return SockCounters{}, fmt.Errorf("collect: open %s: %w", p, err)
			}
			st.statFD[i] = fd
		}
		st.statOpen = true
		st.statBuf = make([]byte, 4096)
	}
	var c SockCounters
	for i, fd := range st.statFD {
		if fd < 0 {
			continue
		}
		text, ok := preadAll(fd, st.statBuf)
		if !ok || !parseSockCounters(text, i == 0, &c) {
			return SockCounters{}, fmt.Errorf("collect: sockstat unreadable")
		}
	}
	return c, nil
}

// closeStat closes the sockstat files.
func (st *lookupState) closeStat() {
	st.statMu.Lock()
	defer st.statMu.Unlock()
	if !st.statOpen {
		return
	}
	for _, fd := range st.statFD {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	st.statOpen = false
}
