//go:build linux

package collect

import "encoding/binary"

// Attributes the kernel adds to a message unasked: INET_DIAG_SHUTDOWN
// to every full socket's, INET_DIAG_MARK to any socket's for a requester
// with CAP_NET_ADMIN.
const (
	inetDiagShutdown = 8
	inetDiagMark     = 15
)

// decodeMarkCgroup reads the mark and the cgroup id from a message's
// attributes, in one walk. A TIME_WAIT or request socket (a message
// without INET_DIAG_SHUTDOWN: a request socket says SYN_RECV, as a full
// one does) has no cgroup, which is what the kernel's filter compares it
// as; its mark comes only from kernels that report it (older ones leave it
// unknown).
func decodeMarkCgroup(s *Socket, b []byte) {
	s.Unknown |= FieldMark | FieldCgroup
	full := false
	defer func() {
		if !full {
			s.Unknown &^= FieldCgroup
		}
	}()
	ne := binary.NativeEndian
	for len(b) >= 4 {
		l := int(ne.Uint16(b[0:]))
		if l < 4 || l > len(b) {
			return
		}
		switch ne.Uint16(b[2:]) & 0x3fff {
		case inetDiagShutdown:
			full = true
		case inetDiagMark:
			if l >= 8 {
				s.Mark, s.Unknown = ne.Uint32(b[4:]), s.Unknown&^FieldMark
			}
		case inetDiagCgroupID:
			if l >= 12 {
				s.CgroupID, s.Unknown = ne.Uint64(b[4:]), s.Unknown&^FieldCgroup
			}
		}
		b = b[min(nlmsgAlign(l), len(b)):]
	}
}

// Notices for a kernel filter whose conditions the dump cannot decide.
const (
	noticeMarkNoAdmin = "fwmark conditions cannot be decided: the kernel reports socket marks only to CAP_NET_ADMIN, " +
		"so every socket's mark is unknown and those the rest of the filter keeps are shown (run as root, or setcap cap_net_admin+ep socktop)"
	noticeProgramRefused = "the kernel refused the filter's program (a mark condition needs CAP_NET_ADMIN): " +
		"the dump is not narrowed in the kernel"
	noticeNoCgroup = "cgroup conditions cannot be decided: this kernel does not report sockets' cgroups, " +
		"so those the rest of the filter keeps are shown"
)

// noteUndecided tells, once, that the filter reads a field the dump left
// unknown on a full socket; TIME_WAIT and SYN_RECV sockets are no
// evidence, since older kernels never report a request socket's or a
// TIME_WAIT socket's mark.
func (n *Netlink) noteUndecided(snap *Snapshot, socks []Socket) {
	b := n.kernel.Load()
	if b == nil {
		return
	}
	fn, ok := b.f.(FieldNeeder)
	if !ok {
		return
	}
	need := fn.Needs() & (FieldMark | FieldCgroup)
	for i := range socks {
		if need == 0 {
			return
		}
		s := &socks[i]
		if s.Proto == Unix || s.State == StateTimeWait || s.State == StateNewSynRecv || s.State == StateSynRecv {
			continue
		}
		if need&FieldMark != 0 && !s.Known(FieldMark) {
			n.told.add(snap, noticeMarkNoAdmin)
			need &^= FieldMark
		}
		if need&FieldCgroup != 0 && !s.Known(FieldCgroup) {
			n.told.add(snap, noticeNoCgroup)
			need &^= FieldCgroup
		}
	}
}
