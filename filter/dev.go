package filter

import (
	"net"
	"strconv"

	"socktop/collect"
)

// parseDev reads the rest of "dev [=|!=] NAME": the interface a socket is
// bound to, by name (resolved once, here, in socktop's namespace) or by
// index. The kernel evaluates it too (DEV_COND), which ss leaves to
// userspace.
func (p *parser) parseDev(kwTok token) (cnode, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return cnode{}, p.errAt(opTok.pos, "%s takes = or !=", kwTok.text)
	}
	v := p.peek()
	if v.kind != tWord {
		return cnode{}, p.errAt(v.pos, "expected an interface name or index after %s, found %s", p.prev().describe(), v.describe())
	}
	p.next()
	idx, err := interfaceIndex(v.text)
	if err != nil {
		return cnode{}, p.errAt(v.pos, "unknown interface %q (%v)", v.text, err)
	}
	n := predNode(func(s *collect.Socket) bool { return s.Proto != collect.Unix && s.Ifindex == idx })
	n.kernel = exact(&kexpr{op: kDev, dev: idx})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// interfaceIndex resolves an interface name, or takes a decimal index as
// it is.
func interfaceIndex(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return uint32(ifc.Index), nil
}
