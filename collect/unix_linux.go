//go:build linux

package collect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Layout of the unix_diag messages (include/uapi/linux/unix_diag.h).
const (
	unixDiagReqLen = 24 // struct unix_diag_req
	unixDiagMsgLen = 16 // struct unix_diag_msg

	// The attributes of a unix_diag_msg.
	unixDiagName  = 0 // UNIX_DIAG_NAME: sun_path as bound
	unixDiagPeer  = 2 // UNIX_DIAG_PEER: the peer's inode
	unixDiagRQLen = 4 // UNIX_DIAG_RQLEN: struct unix_diag_rqlen
	unixDiagUID   = 7 // UNIX_DIAG_UID (kernel 5.3+)

	// The udiag_show bits (UDIAG_SHOW_*). They follow the attribute
	// numbers up to RQLEN, but UNIX_DIAG_SHUTDOWN, always sent, has none,
	// so the uid's bit is 0x40 for attribute 7.
	udiagShowName  = 0x01
	udiagShowPeer  = 0x04
	udiagShowRQLen = 0x10
	udiagShowUID   = 0x40

	// unixDiagShow is udiag_show: the name, the peer, the queues and the
	// uid. UDIAG_SHOW_VFS (the bound file's device and inode) is not asked
	// for, since no Socket field holds it. A kernel older than the uid
	// attribute ignores its bit and sends no UNIX_DIAG_UID, which leaves
	// the UID unknown.
	unixDiagShow = udiagShowName | udiagShowPeer | udiagShowRQLen | udiagShowUID
)

// unixDump is the Unix socket part of a Netlink source: its request
// buffer, and the path strings of the last two snapshots, so that a path
// seen before costs no allocation (an accepted socket carries its
// listener's path, so a busy server's path repeats on every connection).
type unixDump struct {
	req   [nlmsgHdrLen + unixDiagReqLen]byte
	paths map[string]string // this snapshot's paths
	prev  map[string]string // the previous snapshot's
}

// unixStates returns the udiag_states of a Unix dump for the mask m. A
// Unix socket is LISTEN, ESTABLISHED or TCP_CLOSE, which socktop calls
// UNCONN as ss does.
func unixStates(m StateMask) uint32 {
	if m == 0 {
		return ^uint32(0)
	}
	k := uint32(m) & (1<<(StateBoundInactive+1) - 1)
	if m.Has(StateUnconn) || m.Has(StateClosed) {
		k |= tcpfClose
	}
	return k
}

// dumpUnixLocked appends the Unix sockets in states to socks, retrying a
// dump the kernel interrupted. It returns what Snapshot's other dumps
// return: the sockets, whether every try was interrupted, and the error.
func (n *Netlink) dumpUnixLocked(socks []Socket, states uint32) ([]Socket, bool, error) {
	u := &n.ux
	u.prev, u.paths = u.paths, u.prev
	if u.paths == nil {
		u.paths = make(map[string]string, len(u.prev))
	}
	clear(u.paths)
	before := len(socks)
	var intr bool
	var err error
	for try := 0; try < dumpRetries; try++ {
		socks = socks[:before]
		req := n.header(u.req[:], sockDiagByFam, unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
		p := req[nlmsgHdrLen:]
		p[0] = unix.AF_UNIX
		ne := binary.NativeEndian
		ne.PutUint32(p[4:], states)
		ne.PutUint32(p[12:], unixDiagShow)
		ne.PutUint32(p[16:], inetDiagNoCookie)
		ne.PutUint32(p[20:], inetDiagNoCookie)
		intr, err = n.execute(req, func(msg []byte) error {
			var err error
			socks, err = u.appendUnix(socks, msg)
			return err
		})
		if err != nil || !intr {
			break
		}
	}
	return socks, intr, err
}

// appendUnix appends the socket of one unix_diag_msg.
func (u *unixDump) appendUnix(socks []Socket, m []byte) ([]Socket, error) {
	if len(m) < unixDiagMsgLen {
		return socks, fmt.Errorf("unix_diag_msg of %d bytes", len(m))
	}
	if m[0] != unix.AF_UNIX {
		return socks, nil
	}
	socks = append(socks, Socket{})
	s := &socks[len(socks)-1]
	ne := binary.NativeEndian
	s.Proto = Unix
	s.Type = SockType(m[1])
	s.State = State(m[2])
	if s.State == StateClosed {
		s.State = StateUnconn
	}
	s.Inode = ne.Uint32(m[4:])
	s.Cookie = uint64(ne.Uint32(m[8:])) | uint64(ne.Uint32(m[12:]))<<32
	// A Unix socket has no timer and never retransmits: Timer off and
	// Retrans 0 are the truth. The rest is unknown until its attribute
	// comes.
	s.Unknown = FieldUID | FieldRecvQ | FieldSendQ
	for b := m[unixDiagMsgLen:]; len(b) >= 4; {
		l := int(ne.Uint16(b[0:]))
		if l < 4 || l > len(b) {
			return socks, fmt.Errorf("unix_diag attribute length %d out of %d bytes", l, len(b))
		}
		v := b[4:l]
		switch ne.Uint16(b[2:]) & 0x3fff {
		case unixDiagName:
			s.Path = u.path(v)
		case unixDiagPeer:
			if len(v) >= 4 {
				s.PeerInode = ne.Uint32(v)
			}
		case unixDiagRQLen:
			if len(v) >= 8 {
				s.RecvQ, s.SendQ = ne.Uint32(v), ne.Uint32(v[4:])
				s.Unknown &^= FieldRecvQ | FieldSendQ
			}
		case unixDiagUID:
			if len(v) >= 4 {
				s.UID = ne.Uint32(v)
				s.Unknown &^= FieldUID
			}
		}
		b = b[min(nlmsgAlign(l), len(b)):]
	}
	return socks, nil
}

// path returns the text of a sun_path as ss prints it: a file path up to
// its NUL, or an abstract name with each NUL (the leading one included)
// shown as '@'. The string is shared with the previous snapshot's when the
// path was in it.
func (u *unixDump) path(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var shown [108]byte // sizeof sun_path, the longest name the kernel sends
	key := b
	if b[0] == 0 {
		if len(b) > len(shown) {
			return string(abstractText(make([]byte, len(b)), b))
		}
		key = abstractText(shown[:len(b)], b)
	} else if i := bytes.IndexByte(b, 0); i >= 0 {
		key = b[:i]
	}
	if p, ok := u.paths[string(key)]; ok {
		return p
	}
	p, ok := u.prev[string(key)]
	if !ok {
		p = string(key)
	}
	u.paths[p] = p
	return p
}

// abstractText writes the abstract name b into dst, of b's length, with
// its NULs shown as '@', and returns dst.
func abstractText(dst, b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			c = '@'
		}
		dst[i] = c
	}
	return dst
}

// unixRefused reports whether err from a Unix dump means the kernel has no
// unix_diag (the module is not loaded).
func unixRefused(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)
}

// snapshotUnixLocked appends the Unix sockets in the states of mask to
// socks. A kernel without unix_diag leaves them out, with the snapshot
// marked Partial and a Notice; any other error is returned, and the
// caller closes the socket.
func (n *Netlink) snapshotUnixLocked(socks []Socket, mask StateMask, snap *Snapshot) ([]Socket, error) {
	states := unixStates(mask)
	if states == 0 {
		return socks, nil
	}
	before := len(socks)
	socks, intr, err := n.dumpUnixLocked(socks, states)
	switch {
	case err != nil && unixRefused(err):
		clear(socks[before:])
		socks = socks[:before]
		snap.Partial = true
		n.told.add(snap, "sock_diag has no unix support here (unix_diag not loaded): Unix sockets are not shown")
	case err != nil:
		return socks, fmt.Errorf("collect: unix dump: %w", err)
	case intr:
		snap.Partial = true
		n.told.add(snap, "the kernel interrupted the unix dump repeatedly: the table may be incomplete")
	}
	return socks, nil
}
