//go:build linux

package events

import (
	"encoding/binary"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"socktop/collect"
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

// The scope map's one value, which Stream.SetScope writes: what the
// program leaves out before it reserves a record.
const (
	scopeFlags  = 0 // u32: scopePorts, scopePortless
	scopeNetNS  = 4 // u32: the namespace whose events are kept; 0 for all
	scopeLocal  = 8 // a bit for each local port: port/8, bit port%8
	scopeRemote = scopeLocal + 65536/8
	scopeSize   = scopeRemote + 65536/8

	// scopePorts: an event is kept only if its local port's bit or its
	// remote port's bit is set.
	scopePorts = 1
	// scopePortless: an event of a socket whose local port is not chosen
	// yet (a connect's first) is kept whatever its remote port: the port
	// chosen next may be one the bound holds.
	scopePortless = 2
)

// Registers the program keeps across helper calls.
const (
	rCtx  = asm.R6
	rSk   = asm.R7
	rNetN = asm.R8
	rRec  = asm.R9
)

// Where on the stack the local port is read to, in network order, and the
// cookie, before the scope is tested.
const (
	sportSlot  = -8
	cookieSlot = -16
)

// pendingSize bounds the connects whose port the scope waits for (see
// scopeTest); the oldest are let go first.
const pendingSize = 8192

// stateProgram assembles the tp_btf/inet_sock_set_state program: for each
// change of a TCP socket (sk_protocol IPPROTO_TCP; MPTCP's own sockets,
// protocol 262, are left out) it reserves a record in the ring buffer
// events and fills it from the struct sock at ctx[0], laid out as l says.
// When the ring buffer is full it counts the event in the per-CPU array
// lost instead. Before that it tests the event against the scope in the
// array scope (see scopeFlags): an event the stream's reader would drop
// costs it no wakeup and no decode.
func stateProgram(l sockLayout, events, lost, scope, pending int) asm.Instructions {
	p := asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rSk, rCtx, 0, asm.DWord),
	}
	p = append(p, loadField(asm.R1, rSk, l.protocol)...)
	p = append(p,
		asm.JNE.Imm(asm.R1, unix.IPPROTO_TCP, "out"),

		// inet_sport lies past struct sock, out of the BTF pointer's
		// reach: it is read by a helper.
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, sportSlot),
		asm.Mov.Imm(asm.R2, 2),
		asm.Mov.Reg(asm.R3, rSk),
		asm.Add.Imm(asm.R3, int32(l.sport.off)),
		asm.FnProbeReadKernel.Call(),
		asm.Mov.Reg(asm.R1, rSk),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(asm.RFP, cookieSlot, asm.R0, asm.DWord),
		asm.Mov.Imm(rNetN, 0),
	)
	if l.hasNetNS {
		p = append(p,
			asm.LoadMem(asm.R1, rSk, l.netPtr.off, asm.DWord),
			asm.JEq.Imm(asm.R1, 0, "nonet"),
			asm.LoadMem(rNetN, asm.R1, l.inum.off, asm.Word),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("nonet"),
		)
	}
	p = append(p, scopeTest(l, scope, pending)...)
	p = append(p,
		asm.LoadMapPtr(asm.R1, events).WithSymbol("keep"),
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
		asm.LoadMem(asm.R1, asm.RFP, cookieSlot, asm.DWord),
		asm.StoreMem(rRec, recCookie, asm.R1, asm.DWord),
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
	p = append(p,
		asm.StoreMem(rRec, recNetNS, rNetN, asm.Word),
		asm.LoadMem(asm.R2, asm.RFP, sportSlot, asm.Half),
		asm.StoreMem(rRec, recSport, asm.R2, asm.Half),
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

// scopeTest jumps to "keep" for an event the scope keeps and to "out"
// for one it leaves out. No scope value (a lookup that fails) keeps all.
//
// A connect's first event comes before its local port is chosen. When
// the scope keeps it for that (scopePortless), its cookie goes into the
// LRU hash pending, and the socket's next event is kept too, whatever
// its ports, and takes the cookie out: that event names the port chosen,
// which tells the stream's reader that the socket is not one it lists.
func scopeTest(l sockLayout, scope, pending int) asm.Instructions {
	p := asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, scope),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "keep"),
	}
	if l.hasNetNS {
		// Without the namespace in the layout SetScope refuses a
		// namespace, and the test is left out.
		p = append(p,
			asm.LoadMem(asm.R1, asm.R0, scopeNetNS, asm.Word),
			asm.JEq.Imm(asm.R1, 0, "ports"),
			asm.JNE.Reg(asm.R1, rNetN, "out"),
		)
	}
	p = append(p,
		asm.LoadMem(asm.R1, asm.R0, scopeFlags, asm.Word).WithSymbol("ports"),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, scopePorts),
		asm.JEq.Imm(asm.R2, 0, "keep"),
		asm.LoadMem(asm.R2, asm.RFP, sportSlot, asm.Half),
		asm.JNE.Imm(asm.R2, 0, "local"),
		asm.And.Imm(asm.R1, scopePortless),
		asm.JEq.Imm(asm.R1, 0, "remote"),
		// Portless: kept, and the socket's next event with it.
		asm.StoreImm(asm.RFP, -4, 1, asm.Word),
		asm.LoadMapPtr(asm.R1, pending),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, cookieSlot),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -4),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Ja.Label("keep"),
	)
	p = append(p, portBit(asm.R2, scopeLocal, "local")...)
	p = append(p, asm.LoadMem(asm.R2, rSk, l.dport.off, asm.Half).WithSymbol("remote"))
	p = append(p, portBit(asm.R2, scopeRemote, "")...)
	return append(p,
		// Out of the bound: kept only as the next event of a connect
		// kept portless.
		asm.LoadMapPtr(asm.R1, pending),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, cookieSlot),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMapPtr(asm.R1, pending),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, cookieSlot),
		asm.FnMapDeleteElem.Call(),
		asm.Ja.Label("keep"),
	)
}

// portBit jumps to "keep" when the bit of the port in port (network
// order, as the socket holds it) is set in the bitmap at off of the
// scope value in R0. It clobbers port, R3 and R4; its first instruction
// carries the label sym, if one is given.
func portBit(port asm.Register, off int32, sym string) asm.Instructions {
	swap := asm.HostTo(asm.BE, port, asm.Half)
	if sym != "" {
		swap = swap.WithSymbol(sym)
	}
	return asm.Instructions{
		swap,
		// A swap leaves the verifier no bound on the result: the mask
		// gives it the one that keeps the byte's offset in the value.
		asm.And.Imm(port, 0xffff),
		asm.Mov.Reg(asm.R3, port),
		asm.RSh.Imm(asm.R3, 3),
		asm.Mov.Reg(asm.R4, asm.R0),
		asm.Add.Imm(asm.R4, off),
		asm.Add.Reg(asm.R4, asm.R3),
		asm.LoadMem(asm.R4, asm.R4, 0, asm.Byte),
		asm.And.Imm(port, 7),
		asm.RSh.Reg(asm.R4, port),
		asm.And.Imm(asm.R4, 1),
		asm.JNE.Imm(asm.R4, 0, "keep"),
	}
}

// scopeValue encodes a scope for the program: flags, the namespace, and
// the two bitmaps.
func scopeValue(flags, netns uint32, local, remote []collect.PortRange) []byte {
	v := make([]byte, scopeSize)
	binary.NativeEndian.PutUint32(v[scopeFlags:], flags)
	binary.NativeEndian.PutUint32(v[scopeNetNS:], netns)
	set := func(off int, rs []collect.PortRange) {
		for _, r := range rs {
			for port := int(r.Lo); port <= int(r.Hi); port++ {
				v[off+port/8] |= 1 << (port % 8)
			}
		}
	}
	set(scopeLocal, local)
	set(scopeRemote, remote)
	return v
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
