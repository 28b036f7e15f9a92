package filter

import (
	"net/netip"

	"socktop/collect"
)

// kexpr is a condition the kernel's inet_diag filter can evaluate, in a
// tree the bytecode compiler walks. Conditions on the dump's protocol and
// family are kept symbolic until Bytecode knows which dump it compiles
// for, so that "tcp or sport = :53" costs the TCP dump nothing.
type kexpr struct {
	op    kop
	terms []*kexpr // kAnd, kOr: the operands; kNot: one

	local  bool         // kPort, kHost: the local end (sport, src)
	cmp    cmpOp        // kPort
	port   int          // kPort: the port; kHost: -1 for any
	prefix netip.Prefix // kHost: invalid for any address
	family uint8        // kHost: 0, 4 or 6 (inet:, inet6:); kFamily
	proto  collect.Proto
	dev    uint32 // kDev: the interface index
	// kMark: the socket's mark under mask equals mark.
	mark, mask uint32
	cgroup     uint64 // kCgroup: the cgroup v2 id
}

type kop uint8

const (
	kTrue kop = iota
	kFalse
	kAnd
	kOr
	kNot
	kPort
	kHost
	kProto
	kFamily
	kDev
	kMark
	kCgroup
)

var (
	kexprTrue  = &kexpr{op: kTrue}
	kexprFalse = &kexpr{op: kFalse}
)

// kbounds brackets a sub-expression between what the kernel can check:
// upper accepts at least every socket the expression accepts, lower at
// most those. A condition the kernel cannot see (a process name, a uid)
// is bounded by true above and false below; keeping both bounds is what
// keeps "not proc x" from turning into a narrower "false" in the kernel.
// The zero value is that unknown condition, so every node built without
// kernel knowledge is safe by default.
type kbounds struct {
	upper, lower *kexpr
}

func (b kbounds) up() *kexpr {
	if b.upper == nil {
		return kexprTrue
	}
	return b.upper
}

func (b kbounds) low() *kexpr {
	if b.lower == nil {
		return kexprFalse
	}
	return b.lower
}

// exact is the bounds of a condition the kernel evaluates as userspace
// does.
func exact(e *kexpr) kbounds { return kbounds{upper: e, lower: e} }

func kAndBounds(a, b kbounds) kbounds {
	return kbounds{upper: kjoin(kAnd, a.up(), b.up()), lower: kjoin(kAnd, a.low(), b.low())}
}

func kOrBounds(a, b kbounds) kbounds {
	return kbounds{upper: kjoin(kOr, a.up(), b.up()), lower: kjoin(kOr, a.low(), b.low())}
}

func kNotBounds(a kbounds) kbounds {
	return kbounds{upper: knot(a.low()), lower: knot(a.up())}
}

// kjoin builds an and or an or, folding constants and flattening nested
// nodes of the same kind.
func kjoin(op kop, a, b *kexpr) *kexpr {
	unit, zero := kTrue, kFalse // and: true is the unit, false absorbs
	if op == kOr {
		unit, zero = kFalse, kTrue
	}
	switch {
	case a.op == zero || b.op == zero:
		return &kexpr{op: zero}
	case a.op == unit:
		return b
	case b.op == unit:
		return a
	}
	n := &kexpr{op: op}
	for _, x := range []*kexpr{a, b} {
		if x.op == op {
			n.terms = append(n.terms, x.terms...)
		} else {
			n.terms = append(n.terms, x)
		}
	}
	return n
}

func knot(a *kexpr) *kexpr {
	switch a.op {
	case kTrue:
		return kexprFalse
	case kFalse:
		return kexprTrue
	case kNot:
		return a.terms[0]
	}
	return &kexpr{op: kNot, terms: []*kexpr{a}}
}

// kPortCond is "sport OP PORT" or "dport OP PORT" for inet sockets.
func kPortCond(op cmpOp, want int, local bool) *kexpr {
	if want < 0 {
		if op == opEq {
			return kexprTrue
		}
		return kexprFalse
	}
	return &kexpr{op: kPort, local: local, cmp: op, port: want}
}

// kHostCond is "src HOST" or "dst HOST". A prefix of length 0 (0.0.0.0/0,
// ::/0) still means "an address of that family" to Match, while kernels
// disagree on whether a zero-length condition tests the family at all
// (the test moved ahead of the length check over the years): it becomes
// a port-only condition and a family condition, which every kernel reads
// the same way.
func kHostCond(h hostSpec, local bool) *kexpr {
	n := &kexpr{op: kHost, local: local, port: h.port, prefix: h.prefix}
	if h.prefix.IsValid() && h.prefix.Bits() == 0 {
		n.prefix = netip.Prefix{}
		fam := &kexpr{op: kFamily, family: 6}
		if h.prefix.Addr().Is4() {
			// An IPv4 address is an IPv4 socket's, or a v4-mapped one of an
			// IPv6 socket.
			mapped := &kexpr{op: kHost, local: local, port: -1, prefix: netip.MustParsePrefix("::ffff:0:0/96")}
			fam = kjoin(kOr, &kexpr{op: kFamily, family: 4}, kjoin(kAnd, &kexpr{op: kFamily, family: 6}, mapped))
		}
		n = kjoin(kAnd, fam, n)
	}
	if h.family != 0 {
		return kjoin(kAnd, &kexpr{op: kFamily, family: h.family}, n)
	}
	return n
}

// Bytecode returns the inet_diag filter program (INET_DIAG_REQ_BYTECODE)
// for a dump of proto (TCP or UDP) and family (4, 6, or 0 for a dump of
// both): the kernel sends
// only the sockets it accepts, a superset of those f matches, so Match
// stays the final word. It returns nil when the kernel cannot narrow the
// dump (no filter, or only conditions it cannot see), and an empty
// non-nil slice when no socket of that dump can match, so the caller can
// skip the dump.
func (f *Filter) Bytecode(proto collect.Proto, family uint8) []byte {
	if f == nil {
		return nil
	}
	e := specialise(f.kernel.up(), proto, family, true)
	switch e.op {
	case kTrue:
		return nil
	case kFalse:
		return []byte{}
	}
	var a assembler
	a.expr(e, labelReject)
	return a.finish()
}

// specialise replaces the protocol and family conditions with what they
// are in this dump and folds the constants that leaves. A family the
// dump does not fix (family 0: both TCP families in one walk) is not
// known, so its condition becomes whatever keeps the program broad: true
// where it counts for a socket (pos), false under a not.
func specialise(e *kexpr, proto collect.Proto, family uint8, pos bool) *kexpr {
	switch e.op {
	case kProto:
		return kconst(e.proto == proto)
	case kFamily:
		if family == 0 {
			return kconst(pos)
		}
		return kconst(e.family == family)
	case kNot:
		return knot(specialise(e.terms[0], proto, family, !pos))
	case kAnd, kOr:
		out := kconst(e.op == kAnd)
		for _, t := range e.terms {
			out = kjoin(e.op, out, specialise(t, proto, family, pos))
		}
		return out
	case kMark:
		if !netAdmin() {
			// The kernel refuses a program that reads marks from a
			// requester without CAP_NET_ADMIN (inet_diag_bc_audit): the
			// condition stays in userspace, which cannot decide it either
			// (the replies carry no mark then).
			return kconst(pos)
		}
	case kPort:
		switch {
		case e.port < 0 || e.port > 65535,
			e.cmp == opLt && e.port == 0,
			e.cmp == opGt && e.port == 65535:
			return kexprFalse
		}
	}
	return e
}

func kconst(b bool) *kexpr {
	if b {
		return kexprTrue
	}
	return kexprFalse
}

// The inet_diag bytecode operations the assembler emits.
const (
	bcJMP     = collect.BCJmp
	bcSGE     = collect.BCSGE
	bcSLE     = collect.BCSLE
	bcDGE     = collect.BCDGE
	bcDLE     = collect.BCDLE
	bcSCond   = collect.BCSCond
	bcDCond   = collect.BCDCond
	bcDevCond = collect.BCDevCond
	bcMark    = collect.BCMarkCond
	bcSEQ     = collect.BCSEQ
	bcDEQ     = collect.BCDEQ
	bcCgroup  = collect.BCCgroupCond
)

// maxBytecode is the longest program Bytecode emits: a jump's offset is
// 16 bits. A longer one is dropped, and the dump goes unfiltered.
const maxBytecode = 1 << 15

// labelReject is the label past the end of the program: jumping there
// rejects the socket, as falling off the end accepts it.
const labelReject = -1

// insn is one operation before its jump is resolved.
type insn struct {
	code    byte
	payload []byte
	no      int // the label a failed test jumps to
}

// assembler lays out the program: every operation falls through when its
// test holds and jumps forward when it fails, which is the only shape the
// kernel's audit (inet_diag_bc_audit) accepts, since it follows the "yes"
// chain from the start.
type assembler struct {
	code   []insn
	labels []int // label -> index of the instruction it precedes
}

func (a *assembler) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *assembler) place(l int) { a.labels[l] = len(a.code) }

func (a *assembler) emit(code byte, payload []byte, no int) {
	a.code = append(a.code, insn{code: code, payload: payload, no: no})
}

// expr emits e so that a socket it accepts falls through to what follows
// and one it rejects jumps to fail.
func (a *assembler) expr(e *kexpr, fail int) {
	switch e.op {
	case kTrue:
	case kFalse:
		a.emit(bcJMP, nil, fail)
	case kAnd:
		for _, t := range e.terms {
			a.expr(t, fail)
		}
	case kOr:
		end := a.label()
		for _, t := range e.terms[:len(e.terms)-1] {
			next := a.label()
			a.expr(t, next)
			a.emit(bcJMP, nil, end)
			a.place(next)
		}
		a.expr(e.terms[len(e.terms)-1], fail)
		a.place(end)
	case kNot:
		held := a.label()
		a.expr(e.terms[0], held)
		a.emit(bcJMP, nil, fail)
		a.place(held)
	case kPort:
		a.port(e, fail)
	case kHost:
		a.emit(map[bool]byte{true: bcSCond, false: bcDCond}[e.local], hostcond(e.prefix, e.port), fail)
	case kDev:
		a.emit(bcDevCond, ne32(e.dev), fail)
	case kMark:
		// struct inet_diag_markcond: mark, then mask.
		a.emit(bcMark, append(ne32(e.mark), ne32(e.mask)...), fail)
	case kCgroup:
		a.emit(bcCgroup, nativeEndian.AppendUint64(nil, e.cgroup), fail)
	default:
		// kProto and kFamily are gone after specialise; anything else is a
		// bug that must not narrow the dump: accept.
	}
}

func (a *assembler) port(e *kexpr, fail int) {
	eq, ge, le := byte(bcDEQ), byte(bcDGE), byte(bcDLE)
	if e.local {
		eq, ge, le = bcSEQ, bcSGE, bcSLE
	}
	arg := func(p int) []byte { return portArg(uint16(p)) }
	switch e.cmp {
	case opEq:
		a.emit(eq, arg(e.port), fail)
	case opNe:
		a.expr(knot(&kexpr{op: kPort, local: e.local, cmp: opEq, port: e.port}), fail)
	case opLe:
		a.emit(le, arg(e.port), fail)
	case opGe:
		a.emit(ge, arg(e.port), fail)
	case opLt:
		a.emit(le, arg(e.port-1), fail)
	case opGt:
		a.emit(ge, arg(e.port+1), fail)
	}
}

// finish resolves the jumps and encodes the program; nil when it is too
// long for 16-bit jumps.
func (a *assembler) finish() []byte {
	offs := make([]int, len(a.code)+1)
	for i, in := range a.code {
		offs[i+1] = offs[i] + 4 + len(in.payload)
	}
	total := offs[len(a.code)]
	if total > maxBytecode {
		return nil
	}
	out := make([]byte, 0, total)
	for i, in := range a.code {
		target := total + 4
		if in.no != labelReject {
			target = offs[a.labels[in.no]]
		}
		yes := 4 + len(in.payload)
		no := target - offs[i]
		out = append(out, in.code, byte(yes))
		out = nativeEndian.AppendUint16(out, uint16(no))
		out = append(out, in.payload...)
	}
	return out
}

// portArg is the second operation word of a port comparison, which
// carries the port in its "no" field.
func portArg(p uint16) []byte {
	b := make([]byte, 4)
	nativeEndian.PutUint16(b[2:], p)
	return b
}

// hostcond encodes struct inet_diag_hostcond: family, prefix length, the
// port (-1 for any) and the address bytes.
func hostcond(pfx netip.Prefix, port int) []byte {
	const afInet, afInet6 = 2, 10
	b := make([]byte, 8, 24)
	if pfx.IsValid() {
		if pfx.Addr().Is4() {
			b[0] = afInet
		} else {
			b[0] = afInet6
		}
		b[1] = byte(pfx.Bits())
		b = append(b, pfx.Addr().AsSlice()...)
	}
	nativeEndian.PutUint32(b[4:], uint32(int32(port)))
	return b
}

func ne32(v uint32) []byte {
	b := make([]byte, 4)
	nativeEndian.PutUint32(b, v)
	return b
}
