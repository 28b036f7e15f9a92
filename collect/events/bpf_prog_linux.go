//go:build linux

package events

import (
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The record the program writes into the ring buffer, one per state
// change, in the machine's byte order except the ports.
const (
	recTime     = 0  // u64 bpf_ktime_get_ns
	recCookie   = 8  // u64 socket cookie
	recNetNS    = 16 // u32 net->ns.inum
	recFamily   = 20 // u16 AF_INET or AF_INET6
	recSport    = 22 // u16 inet_sport, network order
	recDport    = 24 // u16 skc_dport, network order
	recOld      = 26 // u8 old state
	recNew      = 27 // u8 new state
	recSaddr    = 32 // 4 bytes (AF_INET) or 16 (AF_INET6)
	recDaddr    = 48 // likewise
	recPID      = 64 // u32 the current task's tgid
	recComm     = 68 // 16 bytes, the current task's comm, NUL padded
	commSize    = 16 // TASK_COMM_LEN
	recordSize  = 88 // a multiple of 8, as the ring buffer aligns records
	tracingArgs = 8  // a raw tracepoint's arguments are u64 each
)

// Registers the program keeps across helper calls.
const (
	rCtx = asm.R6
	rSk  = asm.R7
	rRec = asm.R9
)

// stateProgram assembles the tp_btf/inet_sock_set_state program: for each
// change of a TCP socket (sk_protocol IPPROTO_TCP; MPTCP's own sockets,
// protocol 262, are left out) it reserves a record in the ring buffer
// events and fills it from the struct sock at ctx[0], laid out as l says.
// When the ring buffer is full it counts the event in the per-CPU array
// lost instead.
func stateProgram(l sockLayout, events, lost int) asm.Instructions {
	p := asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rSk, rCtx, 0, asm.DWord),
	}
	p = append(p, loadField(asm.R1, rSk, l.protocol)...)
	p = append(p,
		asm.JNE.Imm(asm.R1, unix.IPPROTO_TCP, "out"),

		asm.LoadMapPtr(asm.R1, events),
		asm.Mov.Imm(asm.R2, recordSize),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "lost"),
		asm.Mov.Reg(rRec, asm.R0),
	)
	// Reserved memory is not zeroed: clear what an IPv4 record leaves
	// unwritten, so no stale bytes reach user space.
	for off := int16(recNetNS); off < recordSize; off += 4 {
		p = append(p, asm.StoreImm(rRec, off, 0, asm.Word))
	}
	p = append(p,
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(rRec, recTime, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R1, rSk),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(rRec, recCookie, asm.R0, asm.DWord),
		// The task the change runs in: the owner for a change made in a
		// system call, whoever softirq interrupted for the others.
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(rRec, recPID, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, recComm),
		asm.Mov.Imm(asm.R2, commSize),
		asm.FnGetCurrentComm.Call(),
	)
	if l.hasNetNS {
		p = append(p,
			asm.LoadMem(asm.R1, rSk, l.netPtr.off, asm.DWord),
			asm.JEq.Imm(asm.R1, 0, "nonet"),
			asm.LoadMem(asm.R1, asm.R1, l.inum.off, asm.Word),
			asm.StoreMem(rRec, recNetNS, asm.R1, asm.Word),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("nonet"),
		)
	}
	p = append(p,
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, recSport),
		asm.Mov.Imm(asm.R2, 2),
		asm.Mov.Reg(asm.R3, rSk),
		asm.Add.Imm(asm.R3, int32(l.sport.off)),
		asm.FnProbeReadKernel.Call(),
		asm.LoadMem(asm.R2, rSk, l.dport.off, asm.Half),
		asm.StoreMem(rRec, recDport, asm.R2, asm.Half),
		asm.LoadMem(asm.R2, rCtx, 1*tracingArgs, asm.DWord),
		asm.StoreMem(rRec, recOld, asm.R2, asm.Byte),
		asm.LoadMem(asm.R2, rCtx, 2*tracingArgs, asm.DWord),
		asm.StoreMem(rRec, recNew, asm.R2, asm.Byte),
		asm.LoadMem(asm.R1, rSk, l.family.off, asm.Half),
		asm.StoreMem(rRec, recFamily, asm.R1, asm.Half),
	)
	if l.hasV6 {
		p = append(p, asm.JNE.Imm(asm.R1, unix.AF_INET6, "v4"))
		// Four word loads: each stays inside the in6_addr's u32 array,
		// which the verifier accepts for a BTF pointer.
		for i := int16(0); i < 16; i += 4 {
			p = append(p,
				asm.LoadMem(asm.R2, rSk, l.v6Saddr.off+i, asm.Word),
				asm.StoreMem(rRec, recSaddr+i, asm.R2, asm.Word),
				asm.LoadMem(asm.R2, rSk, l.v6Daddr.off+i, asm.Word),
				asm.StoreMem(rRec, recDaddr+i, asm.R2, asm.Word),
			)
		}
		p = append(p, asm.Ja.Label("submit"))
	}
	v4 := asm.LoadMem(asm.R2, rSk, l.rcvSaddr.off, asm.Word)
	if l.hasV6 {
		v4 = v4.WithSymbol("v4")
	}
	p = append(p,
		v4,
		asm.StoreMem(rRec, recSaddr, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, rSk, l.daddr.off, asm.Word),
		asm.StoreMem(rRec, recDaddr, asm.R2, asm.Word),

		asm.Mov.Reg(asm.R1, rRec).WithSymbol("submit"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Ja.Label("out"),

		// The key of the lost counter, 0, on the stack.
		asm.StoreImm(asm.RFP, -4, 0, asm.Word).WithSymbol("lost"),
		asm.LoadMapPtr(asm.R1, lost),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),

		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return p
}

// loadField loads f of the struct at src into dst, extracting a
// bitfield.
func loadField(dst, src asm.Register, f field) asm.Instructions {
	size := map[uint8]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word, 8: asm.DWord}[f.size]
	p := asm.Instructions{asm.LoadMem(dst, src, f.off, size)}
	if f.bits != 0 {
		if f.shift != 0 {
			p = append(p, asm.RSh.Imm(dst, int32(f.shift)))
		}
		if f.bits < 32 {
			p = append(p, asm.And.Imm(dst, int32(1)<<f.bits-1))
		} else if f.bits < 64 {
			p = append(p, asm.LSh.Imm(dst, int32(64-f.bits)), asm.RSh.Imm(dst, int32(64-f.bits)))
		}
	}
	return p
}
