package filter

import (
	"strconv"
	"strings"

	"socktop/collect"
)

// parseNetNS reads the rest of "netns [=|!=] NAME": true when the socket's
// network namespace is called NAME ("host" for socktop's own, an ip netns
// name, "docker:ID", "pid N comm" in quotes) or has the inode NAME. A "*"
// in NAME matches any run of characters.
func (p *parser) parseNetNS(kwTok token) (cnode, error) {
	op, name, err := p.nameOperand("netns", "a namespace name or inode")
	if err != nil {
		return cnode{}, err
	}
	match := globMatcher(name)
	ino, isIno := uint64(0), false
	if v, err := strconv.ParseUint(name, 10, 32); err == nil {
		ino, isIno = v, true
	}
	n := predNode(func(s *collect.Socket) bool {
		return match(s.NetNS.Name) || isIno && uint64(s.NetNS.Inode) == ino
	})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// parseContainer reads the rest of "container [=|!=] NAME": true when the
// socket's namespace is a container's (docker, containerd, CRI-O, podman)
// or a Kubernetes pod's, and NAME is its id, a prefix of it, the full id
// it was cut from, or the name as shown ("docker:ID"). A "*" in NAME
// matches any run of characters.
func (p *parser) parseContainer(kwTok token) (cnode, error) {
	op, name, err := p.nameOperand("container", "a container id")
	if err != nil {
		return cnode{}, err
	}
	match := globMatcher(name)
	glob := strings.Contains(name, "*")
	n := predNode(func(s *collect.Socket) bool {
		id, ok := collect.ContainerOf(s.NetNS.Name)
		switch {
		case !ok:
			return false
		case glob:
			return match(id) || match(s.NetNS.Name)
		}
		return s.NetNS.Name == name || strings.HasPrefix(id, name) || strings.HasPrefix(name, id)
	})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// nameOperand reads "[=|!=] NAME" after the keyword kw.
func (p *parser) nameOperand(kw, what string) (cmpOp, string, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return 0, "", p.errAt(opTok.pos, "%s takes = or !=", kw)
	}
	v := p.peek()
	if (v.kind != tWord && v.kind != tString) || v.text == "" {
		return 0, "", p.errAt(v.pos, "expected %s after %s, found %s", what, p.prev().describe(), v.describe())
	}
	p.next()
	return op, v.text, nil
}
