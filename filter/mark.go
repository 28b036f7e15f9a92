package filter

import (
	"strconv"
	"strings"

	"socktop/collect"
)

// A condition on a field a dump may leave unknown (a socket's mark
// without CAP_NET_ADMIN, a TIME_WAIT socket's mark always) cannot be
// decided for such a socket. Such a node carries, beside match (the
// answer when every field it reads is known), maybe and surely: whether
// it holds for some value of the unknown fields, and whether for all of
// them. Match keeps a socket the filter may select: an undecided
// condition leaves the selection broader, never narrower, as it leaves
// the kernel's program broader.

// maybeOf is n's "may hold" predicate: match itself when n reads no
// field that can be unknown.
func (n cnode) maybeOf() func(*collect.Socket) bool {
	if n.maybe != nil {
		return n.maybe
	}
	return n.match
}

// surelyOf is n's "holds whatever the unknown fields are" predicate.
func (n cnode) surelyOf() func(*collect.Socket) bool {
	if n.surely != nil {
		return n.surely
	}
	return n.match
}

// uncertainAnd and uncertainOr give an and or an or of a and b its
// maybe and surely predicates, when an operand has them.
func uncertainAnd(n *cnode, a, b cnode) {
	if n.needs = a.needs | b.needs; n.needs == 0 {
		return
	}
	am, bm, as, bs := a.maybeOf(), b.maybeOf(), a.surelyOf(), b.surelyOf()
	n.maybe = func(s *collect.Socket) bool { return am(s) && bm(s) }
	n.surely = func(s *collect.Socket) bool { return as(s) && bs(s) }
}

func uncertainOr(n *cnode, a, b cnode) {
	if n.needs = a.needs | b.needs; n.needs == 0 {
		return
	}
	am, bm, as, bs := a.maybeOf(), b.maybeOf(), a.surelyOf(), b.surelyOf()
	n.maybe = func(s *collect.Socket) bool { return am(s) || bm(s) }
	n.surely = func(s *collect.Socket) bool { return as(s) || bs(s) }
}

func uncertainNot(n *cnode, a cnode) {
	if n.needs = a.needs; n.needs == 0 {
		return
	}
	am, as := a.maybeOf(), a.surelyOf()
	n.maybe = func(s *collect.Socket) bool { return !as(s) }
	n.surely = func(s *collect.Socket) bool { return !am(s) }
}

// uncertainLeaf is a condition on the field need: known says whether it
// can be decided, holds decides it then. A Unix socket has neither a
// mark nor a cgroup as the kernel reports them, so it matches no such
// condition, as it matches no port condition.
func uncertainLeaf(need collect.Fields, holds func(*collect.Socket) bool) cnode {
	n := predNode(func(s *collect.Socket) bool { return s.Proto != collect.Unix && holds(s) })
	n.needs = need
	n.maybe = func(s *collect.Socket) bool {
		return s.Proto != collect.Unix && (!s.Known(need) || holds(s))
	}
	n.surely = func(s *collect.Socket) bool {
		return s.Proto != collect.Unix && s.Known(need) && holds(s)
	}
	return n
}

// parseMark reads the rest of "fwmark [=|!=] MARK[/MASK]": the socket's
// mark, under the mask (all ones by default), equals MARK. Numbers are
// read as ss reads them (%i): decimal, 0x hex or 0 octal.
func (p *parser) parseMark(kwTok token) (cnode, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return cnode{}, p.errAt(opTok.pos, "fwmark takes = or !=")
	}
	v := p.peek()
	if v.kind != tWord {
		return cnode{}, p.errAt(v.pos, "expected a mark (MARK or MARK/MASK) after %s, found %s", p.prev().describe(), v.describe())
	}
	p.next()
	markText, maskText, hasMask := strings.Cut(v.text, "/")
	mark, err := markNumber(p.expr, markText, v.pos)
	if err != nil {
		return cnode{}, err
	}
	mask := uint32(0xffffffff)
	if hasMask {
		if mask, err = markNumber(p.expr, maskText, v.pos+len(markText)+1); err != nil {
			return cnode{}, err
		}
	}
	n := uncertainLeaf(collect.FieldMark, func(s *collect.Socket) bool { return s.Mark&mask == mark })
	n.kernel = exact(&kexpr{op: kMark, mark: mark, mask: mask})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// markNumber parses a 32-bit mark or mask as C's %i does: 0x for hex, a
// leading 0 for octal, decimal otherwise.
func markNumber(expr, s string, off int) (uint32, error) {
	if s == "" {
		return 0, errAt(expr, off, "expected a number for the mark")
	}
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil || strings.Contains(s, "_") || strings.HasPrefix(s, "0b") || strings.HasPrefix(s, "0o") {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, errAt(expr, off, "mark %s is out of range (32 bits)", s)
		}
		return 0, errAt(expr, off, "bad mark %q (a number: 10, 0xa or 012)", s)
	}
	return uint32(v), nil
}

// parseCgroup reads the rest of "cgroup [=|!=] PATH": the socket was
// made in the cgroup v2 at PATH, relative to the cgroup2 mount as ss
// reads it (or a full path under the mount). The path is resolved to
// its id once, here, as ss does.
func (p *parser) parseCgroup(kwTok token) (cnode, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return cnode{}, p.errAt(opTok.pos, "cgroup takes = or !=")
	}
	v := p.peek()
	if v.kind != tWord && v.kind != tString {
		return cnode{}, p.errAt(v.pos, "expected a cgroup path after %s, found %s", p.prev().describe(), v.describe())
	}
	p.next()
	id, err := collect.CgroupID(v.text)
	if err != nil {
		return cnode{}, p.errAt(v.pos, "%v", err)
	}
	n := uncertainLeaf(collect.FieldCgroup, func(s *collect.Socket) bool { return s.CgroupID == id })
	n.kernel = exact(&kexpr{op: kCgroup, cgroup: id})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}
