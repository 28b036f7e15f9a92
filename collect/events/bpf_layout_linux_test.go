//go:build linux

package events

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"socktop/collect"
)

var (
	u8  = &btf.Int{Name: "u8", Size: 1}
	u16 = &btf.Int{Name: "u16", Size: 2}
	u32 = &btf.Int{Name: "u32", Size: 4}
)

// oldSock is struct sock as kernels before 5.6 lay out sk_protocol: an
// 8-bit bitfield in a word of flags, behind an anonymous union.
var oldSock = &btf.Struct{Name: "sock", Size: 64, Members: []btf.Member{
	{Name: "", Offset: 0, Type: &btf.Union{Size: 4, Members: []btf.Member{
		{Name: "skc_hash", Type: u32},
		{Name: "", Type: &btf.Struct{Size: 4, Members: []btf.Member{
			{Name: "skc_dport", Offset: 0, Type: u16},
			{Name: "skc_num", Offset: 16, Type: u16},
		}}},
	}}},
	{Name: "sk_padding", Offset: 32 * 8, BitfieldSize: 1, Type: u32},
	{Name: "sk_userlocks", Offset: 32*8 + 4, BitfieldSize: 4, Type: u32},
	{Name: "sk_protocol", Offset: 32*8 + 8, BitfieldSize: 8, Type: u32},
	{Name: "sk_type", Offset: 32*8 + 16, BitfieldSize: 16, Type: u32},
	{Name: "sk_wide", Offset: 40*8 + 30, BitfieldSize: 4, Type: u32},
}}

func TestMemberField(t *testing.T) {
	for _, tc := range []struct {
		path []string
		size int
		want field
	}{
		// Through the anonymous union and the anonymous struct in it.
		{[]string{"skc_num"}, 2, field{off: 2, size: 2}},
		{[]string{"skc_dport"}, 2, field{off: 0, size: 2}},
		// A bitfield in the byte it fills, one starting mid-byte, and
		// one across a word boundary that an 8-byte load covers.
		{[]string{"sk_protocol"}, 0, field{off: 33, size: 1, shift: 0, bits: 8}},
		{[]string{"sk_userlocks"}, 0, field{off: 32, size: 1, shift: 4, bits: 4}},
		{[]string{"sk_type"}, 0, field{off: 34, size: 2, shift: 0, bits: 16}},
		{[]string{"sk_wide"}, 0, field{off: 40, size: 8, shift: 30, bits: 4}},
	} {
		got, err := memberField(oldSock, tc.size, tc.path...)
		if err != nil || got != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
	if _, err := memberField(oldSock, 0, "skc_v6_daddr"); !errors.Is(err, errNoMember) {
		t.Errorf("a missing member: %v, want errNoMember", err)
	}
	if _, err := memberField(oldSock, 4, "skc_num"); err == nil || !strings.Contains(err.Error(), "2 bytes, want 4") {
		t.Errorf("a member of the wrong size: %v", err)
	}
}

// TestLoadFieldBitfield runs the instructions loadField emits for each
// bitfield of oldSock on a word of known bits, by hand: the value read
// must be the bitfield's.
func TestLoadFieldBitfield(t *testing.T) {
	mem := make([]byte, 64)
	// sk_userlocks=0xa, sk_protocol=6, sk_type=0xbeef, sk_wide=0x9.
	binary.LittleEndian.PutUint32(mem[32:], 1|0xa<<4|6<<8|0xbeef<<16)
	binary.LittleEndian.PutUint64(mem[40:], 0x9<<30|1<<29|1<<34)
	for name, want := range map[string]uint64{"sk_userlocks": 0xa, "sk_protocol": 6, "sk_type": 0xbeef, "sk_wide": 0x9} {
		f, err := memberField(oldSock, 0, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := emulate(t, loadField(asm.R1, asm.R7, f), mem); got != want {
			t.Errorf("%s: read %#x, want %#x", name, got, want)
		}
	}
}

// emulate runs the loads, shifts and masks loadField emits, with R7
// pointing at mem, and returns R1.
func emulate(t *testing.T, p asm.Instructions, mem []byte) uint64 {
	t.Helper()
	var r1 uint64
	for _, ins := range p {
		switch {
		case ins.OpCode.Class().IsLoad():
			off := int(ins.Offset)
			switch ins.OpCode.Size() {
			case asm.Byte:
				r1 = uint64(mem[off])
			case asm.Half:
				r1 = uint64(binary.LittleEndian.Uint16(mem[off:]))
			case asm.Word:
				r1 = uint64(binary.LittleEndian.Uint32(mem[off:]))
			case asm.DWord:
				r1 = binary.LittleEndian.Uint64(mem[off:])
			}
		case ins.OpCode.ALUOp() == asm.RSh:
			r1 >>= uint64(ins.Constant)
		case ins.OpCode.ALUOp() == asm.LSh:
			r1 <<= uint64(ins.Constant)
		case ins.OpCode.ALUOp() == asm.And:
			r1 &= uint64(ins.Constant)
		default:
			t.Fatalf("unexpected instruction %v", ins)
		}
	}
	return r1
}

// TestKernelLayout: this kernel's struct sock has every member the
// program reads, at sizes it can load.
func TestKernelLayout(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	l, err := loadSockLayout(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !l.hasV6 || !l.hasNetNS {
		t.Errorf("layout without IPv6 (%v) or network namespaces (%v) on a kernel that has both", l.hasV6, l.hasNetNS)
	}
	if l.family.off == l.protocol.off || l.sport.off == 0 {
		t.Errorf("implausible layout %+v", l)
	}
}

func record(family uint16, saddr, daddr []byte, sport, dport uint16, from, to uint8) []byte {
	b := make([]byte, recordSize)
	ne := binary.NativeEndian
	ne.PutUint64(b[recTime:], 5_000_000_000)
	ne.PutUint64(b[recCookie:], 42)
	ne.PutUint32(b[recNetNS:], 4026531840)
	ne.PutUint16(b[recFamily:], family)
	binary.BigEndian.PutUint16(b[recSport:], sport)
	binary.BigEndian.PutUint16(b[recDport:], dport)
	b[recOld], b[recNew] = from, to
	copy(b[recSaddr:], saddr)
	copy(b[recDaddr:], daddr)
	ne.PutUint32(b[recPID:], 4321)
	copy(b[recComm:], "curl")
	return b
}

func TestDecodeRecord(t *testing.T) {
	clk := clock{wall: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), mono: 4_000_000_000}
	mapped := netip.MustParseAddr("::ffff:127.1.2.3").As16()
	for _, tc := range []struct {
		name       string
		rec        []byte
		ok         bool
		fam        uint8
		local, rem string
		from, to   collect.State
	}{
		{"v4", record(unix.AF_INET, []byte{127, 1, 2, 3}, []byte{127, 4, 5, 6}, 40000, 80, 1, 4), true, 4,
			"127.1.2.3:40000", "127.4.5.6:80", collect.StateEstablished, collect.StateFinWait1},
		{"v6 mapped stays mapped", record(unix.AF_INET6, mapped[:], net6("::1"), 1, 2, 10, 12), true, 6,
			"[::ffff:127.1.2.3]:1", "[::1]:2", collect.StateListen, collect.StateSynRecv},
		{"close and unknown states", record(unix.AF_INET, []byte{127, 1, 2, 3}, []byte{0, 0, 0, 0}, 0, 0, 7, 99), true, 4,
			"127.1.2.3:0", "0.0.0.0:0", collect.StateClosed, collect.StateUnknown},
		{"unknown family", record(unix.AF_UNIX, nil, nil, 0, 0, 1, 2), false, 0, "", "", 0, 0},
		{"short", record(unix.AF_INET, nil, nil, 0, 0, 1, 2)[:recordSize-1], false, 0, "", "", 0, 0},
	} {
		e, ok := decodeRecord(clk, nil, tc.rec)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if e.Family != tc.fam || e.Local.String() != tc.local || e.Remote.String() != tc.rem || e.From != tc.from || e.To != tc.to {
			t.Errorf("%s: %+v; want family %d %s -> %s, %s -> %s", tc.name, e, tc.fam, tc.local, tc.rem, tc.from, tc.to)
		}
		if e.PID != 4321 || e.Comm != "curl" {
			t.Errorf("%s: pid %d comm %q, want 4321 curl", tc.name, e.PID, e.Comm)
		}
		if e.Cookie != 42 || e.NetNS != 4026531840 || e.Proto != collect.TCP {
			t.Errorf("%s: cookie %d netns %d proto %v", tc.name, e.Cookie, e.NetNS, e.Proto)
		}
		if want := clk.wall.Add(time.Second); !e.Time.Equal(want) {
			t.Errorf("%s: time %v, want %v", tc.name, e.Time, want)
		}
	}
}

func net6(s string) []byte {
	a := netip.MustParseAddr(s).As16()
	return a[:]
}
