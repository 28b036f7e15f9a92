//go:build linux

package events

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf/btf"

	"socktop/internal/btfmember"
)

// field is where one kernel struct member lies, found in the kernel's
// BTF: the program reads it with a direct load at off, size bytes wide.
// A bitfield (bits != 0) is read as the size-byte word at off, shifted
// right by shift and masked to bits.
type field struct {
	off   int16
	size  uint8
	shift uint8
	bits  uint8
}

// sockLayout is where the tracepoint program finds what it reports in a
// struct sock. The offsets come from the running kernel's BTF, so the
// program fits whatever kernel it is loaded on.
type sockLayout struct {
	// sport is inet_sock.inet_sport, beyond struct sock, so the program
	// reads it with bpf_probe_read_kernel. It is the port a dump row
	// shows: skc_num is cleared when a closing socket gives its port
	// back, before its last state change.
	sport           field
	family, dport   field
	rcvSaddr, daddr field
	protocol        field
	// v6Saddr and v6Daddr are absent on a kernel without IPv6
	// (CONFIG_IPV6=n): it has no AF_INET6 sockets either.
	v6Saddr, v6Daddr field
	hasV6            bool
	// netPtr is sk->__sk_common.skc_net.net and inum is net->ns.inum;
	// absent without network namespaces (CONFIG_NET_NS=n), where every
	// event's NetNS stays 0.
	netPtr, inum field
	hasNetNS     bool
}

// errNoMember says a member path is not in the kernel's type.
var errNoMember = errors.New("no such member")

// loadSockLayout reads the layout of struct sock and struct net from the
// kernel's BTF.
func loadSockLayout(spec *btf.Spec) (sockLayout, error) {
	var sk, inet, nt *btf.Struct
	if err := spec.TypeByName("sock", &sk); err != nil {
		return sockLayout{}, fmt.Errorf("struct sock in the kernel's BTF: %w", err)
	}
	if err := spec.TypeByName("inet_sock", &inet); err != nil {
		return sockLayout{}, fmt.Errorf("struct inet_sock in the kernel's BTF: %w", err)
	}
	var l sockLayout
	var err error
	need := func(f *field, size int, path ...string) {
		if err == nil {
			*f, err = memberField(sk, size, path...)
		}
	}
	need(&l.family, 2, "__sk_common", "skc_family")
	need(&l.dport, 2, "__sk_common", "skc_dport")
	need(&l.rcvSaddr, 4, "__sk_common", "skc_rcv_saddr")
	need(&l.daddr, 4, "__sk_common", "skc_daddr")
	need(&l.protocol, 0, "sk_protocol")
	if err == nil {
		l.sport, err = memberField(inet, 2, "inet_sport")
	}
	if err != nil {
		return sockLayout{}, err
	}
	if l.protocol.bits == 0 && l.protocol.size != 1 && l.protocol.size != 2 {
		return sockLayout{}, fmt.Errorf("struct sock: sk_protocol is %d bytes, want 1 or 2", l.protocol.size)
	}
	if l.v6Saddr, err = memberField(sk, 16, "__sk_common", "skc_v6_rcv_saddr"); err == nil {
		if l.v6Daddr, err = memberField(sk, 16, "__sk_common", "skc_v6_daddr"); err != nil {
			return sockLayout{}, err
		}
		l.hasV6 = true
	} else if !errors.Is(err, errNoMember) {
		return sockLayout{}, err
	}
	if l.netPtr, err = memberField(sk, 8, "__sk_common", "skc_net", "net"); err == nil {
		if err := spec.TypeByName("net", &nt); err != nil {
			return sockLayout{}, fmt.Errorf("struct net in the kernel's BTF: %w", err)
		}
		if l.inum, err = memberField(nt, 4, "ns", "inum"); err != nil {
			return sockLayout{}, err
		}
		l.hasNetNS = true
	} else if !errors.Is(err, errNoMember) {
		return sockLayout{}, err
	}
	return l, nil
}

// memberField finds the member at path in t, looking through anonymous
// structs and unions on the way, and checks it is size bytes wide (any
// size when size is 0).
func memberField(t btf.Type, size int, path ...string) (field, error) {
	name := t.TypeName()
	var bitOff btf.Bits
	var m *btf.Member
	for _, p := range path {
		var off btf.Bits
		var ok bool
		m, off, ok = btfmember.Find(t, p)
		if !ok {
			return field{}, fmt.Errorf("struct %s: %s: %w", name, joinPath(path), errNoMember)
		}
		bitOff += off
		t = m.Type
	}
	if m.BitfieldSize != 0 {
		return bitfield(name, path, bitOff, m.BitfieldSize)
	}
	if bitOff%8 != 0 {
		return field{}, fmt.Errorf("struct %s: %s is not byte aligned", name, joinPath(path))
	}
	sz, err := btf.Sizeof(m.Type)
	if err != nil {
		return field{}, fmt.Errorf("struct %s: size of %s: %w", name, joinPath(path), err)
	}
	if size != 0 && sz != size {
		return field{}, fmt.Errorf("struct %s: %s is %d bytes, want %d", name, joinPath(path), sz, size)
	}
	if sz > 8 && size != 16 {
		return field{}, fmt.Errorf("struct %s: %s is %d bytes, too wide for one load", name, joinPath(path), sz)
	}
	off := bitOff / 8
	if off+btf.Bits(sz) > math.MaxInt16 {
		return field{}, fmt.Errorf("struct %s: %s at byte %d is beyond a load's reach", name, joinPath(path), off)
	}
	return field{off: int16(off), size: uint8(sz)}, nil
}

// bitfield places a bitfield of bits bits at bit bitOff: the narrowest
// aligned word that holds it. The shift assumes the little-endian layout,
// where a bitfield's first bit is its lowest.
func bitfield(name string, path []string, bitOff, bits btf.Bits) (field, error) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return field{}, fmt.Errorf("struct %s: %s is a bitfield, read only on little-endian machines", name, joinPath(path))
	}
	end := bitOff + bits
	for _, sz := range []btf.Bits{1, 2, 4, 8} {
		start := (bitOff / 8) &^ (sz - 1)
		if (start+sz)*8 >= end {
			if start+sz > math.MaxInt16 {
				break
			}
			return field{off: int16(start), size: uint8(sz), shift: uint8(bitOff - start*8), bits: uint8(bits)}, nil
		}
	}
	return field{}, fmt.Errorf("struct %s: bitfield %s at bit %d (%d bits) fits no load", name, joinPath(path), bitOff, bits)
}

func joinPath(path []string) string {
	out := ""
	for i, p := range path {
		if i > 0 {
			out += "."
		}
		out += p
	}
	return out
}
