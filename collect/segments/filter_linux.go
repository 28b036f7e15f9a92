//go:build linux

package segments

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The classic BPF ancillary loads the kernel offers beside packet data
// (linux/filter.h); x/sys does not name them.
const (
	skfAdOff      = ^uint32(0xfff) // SKF_AD_OFF, -0x1000, as the K field holds it
	skfAdProtocol = 0
)

// snapLen is how much of a packet the filter keeps: the longest IPv4
// header (60 bytes) and the longest TCP header (60). The payload is
// never copied; its length comes from the IP header.
const snapLen = 120

// maxPorts bounds Options.Ports: a classic BPF jump reaches at most 255
// instructions ahead, and each port costs two compares in each family's
// block.
const maxPorts = 64

// insn is one classic BPF instruction whose jumps name labels; asm
// resolves them to offsets.
type insn struct {
	op     uint16
	k      uint32
	jt, jf string
	label  string // this instruction's own label
}

// portFilter compiles the program that passes a TCP segment, IPv4 or
// IPv6, with one of ports at either end, and drops every other packet.
// It reads packets from their IP header, as a SOCK_DGRAM packet socket
// sees them. IPv4 fragments after the first are dropped (they carry no
// ports); IPv6 segments behind extension headers are not recognised,
// which loopback TCP never sends.
func portFilter(ports []uint16) ([]unix.SockFilter, error) {
	if len(ports) == 0 {
		return nil, fmt.Errorf("segments: no ports to capture")
	}
	if len(ports) > maxPorts {
		return nil, fmt.Errorf("segments: %d ports to capture, at most %d", len(ports), maxPorts)
	}
	const (
		ldW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldH   = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldB   = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		ldHX  = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
		ldxB  = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
		ipv4  = unix.ETH_P_IP
		ipv6  = unix.ETH_P_IPV6
		tcp   = unix.IPPROTO_TCP
		fragO = 0x1fff
	)
	// matchPorts loads the 16-bit field at off (from X when ind) and
	// jumps to accept when it is one of ports.
	matchPorts := func(prog []insn, load uint16, off uint32, accept string) []insn {
		prog = append(prog, insn{op: load, k: off})
		for _, p := range ports {
			prog = append(prog, insn{op: jeq, k: uint32(p), jt: accept})
		}
		return prog
	}
	prog := []insn{
		{op: ldW, k: skfAdOff + skfAdProtocol},
		{op: jeq, k: ipv4, jf: "v6"},
		{op: ldB, k: 9},
		{op: jeq, k: tcp, jf: "drop4"},
		{op: ldH, k: 6},
		{op: jset, k: fragO, jt: "drop4"},
		{op: ldxB, k: 0},
	}
	prog = matchPorts(prog, ldHX, 0, "accept4")
	prog = matchPorts(prog, ldHX, 2, "accept4")
	prog = append(prog,
		insn{op: ret, k: 0, label: "drop4"},
		insn{op: ret, k: snapLen, label: "accept4"},
		insn{op: jeq, k: ipv6, jf: "drop6", label: "v6"},
		insn{op: ldB, k: 6},
		insn{op: jeq, k: tcp, jf: "drop6"},
	)
	prog = matchPorts(prog, ldH, 40, "accept6")
	prog = matchPorts(prog, ldH, 42, "accept6")
	prog = append(prog,
		insn{op: ret, k: 0, label: "drop6"},
		insn{op: ret, k: snapLen, label: "accept6"},
	)
	return asm(prog)
}

// asm resolves the labels of prog into jump offsets.
func asm(prog []insn) ([]unix.SockFilter, error) {
	at := map[string]int{}
	for i, in := range prog {
		if in.label != "" {
			at[in.label] = i
		}
	}
	offset := func(i int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		j, ok := at[label]
		if !ok {
			return 0, fmt.Errorf("segments: filter jumps to unknown label %q", label)
		}
		d := j - i - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("segments: filter jump from %d to %q is %d instructions", i, label, d)
		}
		return uint8(d), nil
	}
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		jt, err := offset(i, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := offset(i, in.jf)
		if err != nil {
			return nil, err
		}
		out[i] = unix.SockFilter{Code: in.op, Jt: jt, Jf: jf, K: in.k}
	}
	return out, nil
}
