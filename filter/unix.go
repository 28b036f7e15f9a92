package filter

import (
	"socktop/collect"
)

// parsePath reads the rest of "path [=|!=] GLOB": true for a Unix socket
// whose path matches GLOB as fnmatch(3) with no flags matches it, which
// is what ss does with a unix address: "*" matches any run of characters,
// "/" included, "?" one character, "[a-z]" and "[^a-z]" (or "[!a-z]",
// quoted, since "!" is an operator) a class, and "\" quotes the next
// character. An abstract name is matched as ss shows it, "@name", and an
// unnamed socket as "". TCP and UDP sockets never match.
func (p *parser) parsePath(kwTok token) (cnode, error) {
	op, opTok, had := p.parseOp()
	if had && op != opEq && op != opNe {
		return cnode{}, p.errAt(opTok.pos, "path takes = or !=")
	}
	v := p.peek()
	if v.kind != tWord && v.kind != tString {
		return cnode{}, p.errAt(v.pos, "expected a path or a glob after %s, found %s", p.prev().describe(), v.describe())
	}
	if bad, ok := badClass(v.text); ok {
		if v.kind == tString {
			bad++ // the opening quote
		}
		return cnode{}, p.errAt(v.pos+bad, "unclosed \"[\" in path %q", v.text)
	}
	p.next()
	pattern := v.text
	n := predNode(func(s *collect.Socket) bool {
		return s.Proto == collect.Unix && fnmatch(pattern, s.Path)
	})
	if op == opNe {
		n = notNode(n)
	}
	return n, nil
}

// badClass returns the offset of a "[" that no "]" closes, so that a typo
// is an error rather than a pattern that quietly matches a literal "[".
// (fnmatch itself takes it literally; a filter is better off saying so.)
func badClass(pattern string) (int, bool) {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case '[':
			end, ok := classEnd(pattern, i)
			if !ok {
				return i, true
			}
			i = end
		}
	}
	return 0, false
}

// classEnd returns the index of the "]" closing the class that starts at
// pattern[i] == '['. A "]" right after "[" or "[^" is a member.
func classEnd(pattern string, i int) (int, bool) {
	j := i + 1
	if j < len(pattern) && (pattern[j] == '^' || pattern[j] == '!') {
		j++
	}
	if j < len(pattern) && pattern[j] == ']' {
		j++
	}
	for ; j < len(pattern); j++ {
		switch pattern[j] {
		case '\\':
			j++
		case ']':
			return j, true
		}
	}
	return 0, false
}

// fnmatch reports whether name matches pattern as fnmatch(pattern, name,
// 0) does, for the byte strings paths are: no special case for "/" or a
// leading ".". It backtracks only to the last "*", so it takes time
// linear in len(pattern)*len(name) at worst, and does not allocate.
func fnmatch(pattern, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			case '[':
				if end, ok := classEnd(pattern, px); ok {
					if nx < len(name) && inClass(pattern[px+1:end], name[nx]) {
						px = end + 1
						nx++
						continue
					}
					break
				}
				// An unclosed "[" is an ordinary character.
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			case '\\':
				if px+1 < len(pattern) {
					c = pattern[px+1]
					if nx < len(name) && name[nx] == c {
						px += 2
						nx++
						continue
					}
					break
				}
				fallthrough // a trailing "\" is itself
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
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

// inClass reports whether c is in the class body (what is between "["
// and "]"): members, ranges a-z, a leading ^ or ! to negate, and "\" to
// quote a member.
func inClass(body string, c byte) bool {
	neg := false
	if len(body) > 0 && (body[0] == '^' || body[0] == '!') {
		neg, body = true, body[1:]
	}
	in := false
	for i := 0; i < len(body); i++ {
		lo := body[i]
		if lo == '\\' && i+1 < len(body) {
			i++
			lo = body[i]
		}
		hi := lo
		if i+2 < len(body) && body[i+1] == '-' {
			hi = body[i+2]
			i += 2
			if hi == '\\' && i+1 < len(body) {
				i++
				hi = body[i]
			}
		}
		if lo <= c && c <= hi {
			in = true
		}
	}
	return in != neg
}
