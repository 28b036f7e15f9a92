package collect

import (
	"encoding/binary"
	"net/netip"
)

// The inet_diag bytecode operations a program may hold (INET_DIAG_BC_* in
// linux/inet_diag.h): filter.Filter.Bytecode assembles programs of them,
// RunBytecode runs them.
const (
	BCNop        = 0
	BCJmp        = 1
	BCSGE        = 2
	BCSLE        = 3
	BCDGE        = 4
	BCDLE        = 5
	BCAuto       = 6
	BCSCond      = 7
	BCDCond      = 8
	BCDevCond    = 9
	BCMarkCond   = 10
	BCSEQ        = 11
	BCDEQ        = 12
	BCCgroupCond = 13
)

// bcEndian is the byte order of the programs' words: the kernel reads
// them in its own order, which is the requester's on the same machine.
var bcEndian = binary.NativeEndian

// RunBytecode runs an inet_diag filter program (INET_DIAG_REQ_BYTECODE)
// on s with the kernel's rules (inet_diag_bc_run in
// net/ipv4/inet_diag.c): an operation that holds moves on by its "yes"
// length, one that fails by its "no", and the socket is accepted when
// the walk ends exactly at the program's end. An empty program accepts
// nothing, as a dump skipped for it would list nothing.
//
// ok is false for a program that does not parse or that tests the port
// lock (INET_DIAG_BC_AUTO), which no Socket field holds: what a dump
// would have listed is not known then. The interface, mark and cgroup
// tests read s's Ifindex, Mark and CgroupID as they are.
func RunBytecode(bc []byte, s *Socket) (accept, ok bool) {
	if len(bc) == 0 {
		return false, true
	}
	n := len(bc)
	for pc := 0; pc < n; {
		if pc+4 > n {
			return false, false
		}
		code, yesLen, noLen := bc[pc], int(bc[pc+1]), int(bcEndian.Uint16(bc[pc+2:]))
		yes := true
		switch code {
		case BCNop:
		case BCJmp:
			yes = false
		case BCSGE, BCSLE, BCDGE, BCDLE, BCSEQ, BCDEQ:
			if pc+8 > n {
				return false, false
			}
			want := int(bcEndian.Uint16(bc[pc+6:]))
			port := int(s.Remote.Port())
			if code == BCSGE || code == BCSLE || code == BCSEQ {
				port = int(s.Local.Port())
			}
			switch code {
			case BCSGE, BCDGE:
				yes = port >= want
			case BCSLE, BCDLE:
				yes = port <= want
			default:
				yes = port == want
			}
		case BCSCond, BCDCond:
			if pc+12 > n {
				return false, false
			}
			var ok bool
			if yes, ok = hostcondHolds(bc[pc+4:min(n, pc+yesLen)], s, code == BCSCond); !ok {
				return false, false
			}
		case BCDevCond:
			if pc+8 > n {
				return false, false
			}
			yes = s.Ifindex == bcEndian.Uint32(bc[pc+4:])
		case BCMarkCond:
			if pc+12 > n {
				return false, false
			}
			mark, mask := bcEndian.Uint32(bc[pc+4:]), bcEndian.Uint32(bc[pc+8:])
			yes = s.Mark&mask == mark
		case BCCgroupCond:
			if pc+12 > n {
				return false, false
			}
			yes = s.CgroupID == bcEndian.Uint64(bc[pc+4:])
		default:
			return false, false
		}
		step := noLen
		if yes {
			step = yesLen
		}
		if step < 4 {
			return false, false // the kernel's audit refuses a loop
		}
		pc += step
		if pc > n {
			// Past the end by the reject jump: not at the end exactly.
			return false, true
		}
	}
	return true, true
}

// BytecodeSilent reports whether a program tests what a socket can
// change without a state change, so without an event: its interface
// (SO_BINDTODEVICE), its mark (SO_MARK), its port lock; or whether it does
// not parse. The sockets such a program accepts can change unannounced.
// Its addresses, ports and cgroup are fixed from the moment it is in a
// table a dump lists, but for a UDP socket's connect.
func BytecodeSilent(bc []byte) bool {
	return bytecodeHas(bc, BCDevCond, BCMarkCond, BCAuto)
}

// BytecodeTupleOnly reports whether a program tests nothing but a
// socket's addresses and ports (and parses): what a state event or a
// destroy record says of the socket is then enough to run it.
func BytecodeTupleOnly(bc []byte) bool {
	return !bytecodeHas(bc, BCDevCond, BCMarkCond, BCCgroupCond, BCAuto)
}

// bytecodeHas reports whether bc holds one of the operations codes, or
// does not parse. It follows the chain of "yes" steps, which visits
// every operation: the kernel's audit (inet_diag_bc_audit) accepts a
// "no" jump only to an operation on that chain, or to the end.
func bytecodeHas(bc []byte, codes ...byte) bool {
	for pc := 0; pc < len(bc); {
		if pc+4 > len(bc) {
			return true
		}
		for _, c := range codes {
			if bc[pc] == c {
				return true
			}
		}
		yes := int(bc[pc+1])
		if yes < 4 {
			return true
		}
		pc += yes
	}
	return false
}

// hostcondHolds is the kernel's S_COND/D_COND test of c (struct
// inet_diag_hostcond: family, prefix length, port or -1, address) on
// one end of s. ok is false when c is too short for its family.
func hostcondHolds(c []byte, s *Socket, local bool) (yes, ok bool) {
	ap := s.Remote
	if local {
		ap = s.Local
	}
	if port := int32(bcEndian.Uint32(c[4:])); port != -1 && int(port) != int(ap.Port()) {
		return false, true
	}
	fam, bits := c[0], int(c[1])
	if fam == 0 {
		return true, true // no address to test (the port was)
	}
	a := ap.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
		if s.Family == 6 {
			a = netip.IPv6Unspecified()
		}
	}
	a = a.WithZone("")
	var want netip.Addr
	switch fam {
	case 2:
		if len(c) < 12 {
			return false, false
		}
		want = netip.AddrFrom4([4]byte(c[8:12]))
		if s.Family == 6 {
			// An IPv6 socket matches an IPv4 condition by its v4-mapped
			// address only.
			if !a.Is4In6() {
				return false, true
			}
			a = a.Unmap()
		}
	case 10:
		if len(c) < 24 {
			return false, false
		}
		want = netip.AddrFrom16([16]byte(c[8:24]))
		if s.Family != 6 {
			return false, true
		}
		if a.Is4() {
			a = netip.AddrFrom16(a.As16())
		}
	default:
		return false, true
	}
	if bits > want.BitLen() {
		return false, false
	}
	return netip.PrefixFrom(want, bits).Contains(a), true
}
