package filter

import (
	"strconv"
	"strings"

	"socktop/collect"
)

// parseProc reads the rest of "proc [=|!=] NAME": true when any owner's
// process name is NAME. A "*" in NAME matches any run of characters, so
// "proc kworker*" catches every kworker thread (names are /proc/PID/comm,
// at most 15 bytes).
func (p *parser) parseProc(kwTok token) (cnode, error) {
	op, name, err := p.nameOperand("proc", "a process name")
	if err != nil {
		return cnode{}, err
	}
	var n cnode
	if strings.Contains(name, "*") {
		match := globMatcher(name)
		n = predNode(func(s *collect.Socket) bool {
			for i := range s.Owners {
				if match(s.Owners[i].Name) {
					return true
				}
			}
			return false
		})
	} else {
		n = predNode(func(s *collect.Socket) bool {
			for i := range s.Owners {
				if s.Owners[i].Name == name {
					return true
				}
			}
			return false
		})
	}
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// parsePID reads the rest of "pid [=|!=] N": true when any owner has pid N.
func (p *parser) parsePID(kwTok token) (cnode, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return cnode{}, p.errAt(opTok.pos, "pid takes = or !=")
	}
	pid, err := p.number(int64(1)<<31 - 1)
	if err != nil {
		return cnode{}, err
	}
	want := int(pid)
	n := predNode(func(s *collect.Socket) bool {
		for i := range s.Owners {
			if s.Owners[i].PID == want {
				return true
			}
		}
		return false
	})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// parseUID reads the rest of "uid [OP] N".
func (p *parser) parseUID(kwTok token) (cnode, error) {
	op, _, _ := p.parseOp()
	uid, err := p.number(1<<32 - 1)
	if err != nil {
		return cnode{}, err
	}
	want := int(uid)
	return predNode(func(s *collect.Socket) bool { return cmpInt(op, int(s.UID), want) }), nil
}

// number reads a decimal number in 0..max.
func (p *parser) number(max int64) (int64, error) {
	v := p.peek()
	if v.kind != tWord {
		return 0, p.errAt(v.pos, "expected a number after %s, found %s", p.prev().describe(), v.describe())
	}
	n, err := strconv.ParseUint(v.text, 10, 64)
	if err != nil || v.text[0] == '+' {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, p.errAt(v.pos, "number %s is out of range (0-%d)", v.text, max)
		}
		return 0, p.errAt(v.pos, "expected a number, found %q", v.text)
	}
	if int64(n) > max || n > 1<<62 {
		return 0, p.errAt(v.pos, "number %s is out of range (0-%d)", v.text, max)
	}
	p.next()
	return int64(n), nil
}

// globMatcher compiles a pattern: the common shapes (nginx*, *worker,
// *resolve*) become a prefix, suffix or substring test.
func globMatcher(pattern string) func(string) bool {
	inner := strings.Trim(pattern, "*")
	if !strings.Contains(inner, "*") {
		pre, suf := strings.HasPrefix(pattern, "*"), strings.HasSuffix(pattern, "*")
		switch {
		case pre && suf:
			return func(s string) bool { return strings.Contains(s, inner) }
		case suf:
			return func(s string) bool { return strings.HasPrefix(s, inner) }
		case pre:
			return func(s string) bool { return strings.HasSuffix(s, inner) }
		}
	}
	return func(s string) bool { return globMatch(pattern, s) }
}

// globMatch reports whether name matches pattern, where "*" stands for any
// run of characters and everything else is literal. It does not allocate.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			c := pattern[px]
			if c == '*' {
				starPx, starNx = px, nx
				px++
				continue
			}
			if nx < len(name) && name[nx] == c {
				px++
				nx++
				continue
			}
		}
		if starPx >= 0 && starNx < len(name) {
			starNx++
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}
