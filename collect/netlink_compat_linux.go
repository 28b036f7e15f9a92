package collect

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// The compat request of sock_diag (include/uapi/linux/inet_diag.h).
const (
	// tcpDiagGetSock is TCPDIAG_GETSOCK, the message type of the original
	// inet_diag interface; replies to it carry the same type.
	tcpDiagGetSock = 18
	// inetDiagReqV1Len is sizeof(struct inet_diag_req): family, src_len,
	// dst_len, ext, the 48-byte inet_diag_sockid, states and dbs.
	inetDiagReqV1Len = 60
)

// buildCompatReq fills n.compat with a TCPDIAG_GETSOCK dump request. The
// kernel turns it into a dump with sdiag_family AF_UNSPEC
// (inet_diag_dump_compat), which walks the TCP hash tables once for IPv4
// and IPv6 together; two inet_diag_req_v2 dumps each walk all of them and
// skip the other family's sockets (docs/performance.md has what the one
// walk saves).
func (n *Netlink) buildCompatReq(states uint32, ext uint8) []byte {
	typ := uint16(tcpDiagGetSock)
	if n.compatType != 0 {
		typ = n.compatType
	}
	r := n.header(n.compat[:], typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	p := r[nlmsgHdrLen:]
	p[0] = unix.AF_UNSPEC
	p[3] = ext
	binary.NativeEndian.PutUint32(p[4+48:], states)
	return r
}

// header clears r and writes a netlink header for a request of r's length
// with the next sequence number.
func (n *Netlink) header(r []byte, typ, flags uint16) []byte {
	n.seq++
	clear(r)
	ne := binary.NativeEndian
	ne.PutUint32(r[0:], uint32(len(r)))
	ne.PutUint16(r[4:], typ)
	ne.PutUint16(r[6:], flags)
	ne.PutUint32(r[8:], n.seq)
	return r
}

// compatRefused reports whether a compat dump failed because the kernel
// does not offer the interface (as opposed to a transient or real error,
// which must not switch it off for the life of the source).
func compatRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)
}
