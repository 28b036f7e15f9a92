package filter

import (
	"strings"

	"socktop/collect"
)

// cnode is a compiled sub-expression: the predicate, and two state masks
// used by Filter.States. may holds the states in which the predicate can be
// true; must holds the states in which it is true whatever the other
// fields are. Keeping both makes "not state listening" narrow the mask.
// An and or an or keeps its operands flat (a and b and c is one node of
// three), so Match makes one call per operand rather than one per level.
type cnode struct {
	match     func(*collect.Socket) bool
	may, must collect.StateMask
	kind      nodeKind
	terms     []func(*collect.Socket) bool
	// kernel brackets the node between conditions the kernel's dump
	// filter can evaluate (see kbounds); the zero value knows nothing.
	kernel kbounds
	// needs is the fields whose being unknown can leave the node
	// undecided; maybe and surely are set with it (see mark.go).
	needs         collect.Fields
	maybe, surely func(*collect.Socket) bool
}

type nodeKind uint8

const (
	kindLeaf nodeKind = iota
	kindAnd
	kindOr
)

// predNode wraps a predicate that says nothing about states.
func predNode(f func(*collect.Socket) bool) cnode {
	return cnode{match: f, may: collect.AllStates}
}

// flat returns the operands of n for a node of the given kind.
func (n cnode) flat(k nodeKind) []func(*collect.Socket) bool {
	if n.kind == k {
		return n.terms
	}
	return []func(*collect.Socket) bool{n.match}
}

func andNode(a, b cnode) cnode {
	terms := append(append([]func(*collect.Socket) bool(nil), a.flat(kindAnd)...), b.flat(kindAnd)...)
	n := cnode{may: a.may & b.may, must: a.must & b.must, kind: kindAnd, terms: terms, kernel: kAndBounds(a.kernel, b.kernel)}
	switch len(terms) {
	case 2:
		t0, t1 := terms[0], terms[1]
		n.match = func(s *collect.Socket) bool { return t0(s) && t1(s) }
	case 3:
		t0, t1, t2 := terms[0], terms[1], terms[2]
		n.match = func(s *collect.Socket) bool { return t0(s) && t1(s) && t2(s) }
	default:
		n.match = func(s *collect.Socket) bool {
			for _, t := range terms {
				if !t(s) {
					return false
				}
			}
			return true
		}
	}
	uncertainAnd(&n, a, b)
	return n
}

func orNode(a, b cnode) cnode {
	terms := append(append([]func(*collect.Socket) bool(nil), a.flat(kindOr)...), b.flat(kindOr)...)
	n := cnode{may: a.may | b.may, must: a.must | b.must, kind: kindOr, terms: terms, kernel: kOrBounds(a.kernel, b.kernel)}
	switch len(terms) {
	case 2:
		t0, t1 := terms[0], terms[1]
		n.match = func(s *collect.Socket) bool { return t0(s) || t1(s) }
	case 3:
		t0, t1, t2 := terms[0], terms[1], terms[2]
		n.match = func(s *collect.Socket) bool { return t0(s) || t1(s) || t2(s) }
	default:
		n.match = func(s *collect.Socket) bool {
			for _, t := range terms {
				if t(s) {
					return true
				}
			}
			return false
		}
	}
	uncertainOr(&n, a, b)
	return n
}

func notNode(a cnode) cnode {
	am := a.match
	n := cnode{
		match:  func(s *collect.Socket) bool { return !am(s) },
		may:    collect.AllStates &^ a.must,
		must:   collect.AllStates &^ a.may,
		kernel: kNotBounds(a.kernel),
	}
	uncertainNot(&n, a)
	return n
}

// parser is a recursive-descent parser over the token list.
type parser struct {
	expr string
	toks []token
	i    int
	// owners is set when a condition reads the sockets' owners.
	owners bool
}

func (p *parser) peek() token { return p.toks[p.i] }

// peekAt looks n tokens ahead; the list always ends with tEOF.
func (p *parser) peekAt(n int) token {
	if p.i+n >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.i+n]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// prev returns the token just consumed, for "after X" messages.
func (p *parser) prev() token {
	if p.i == 0 {
		return token{kind: tEOF}
	}
	return p.toks[p.i-1]
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return errAt(p.expr, pos, format, args...)
}

func lower(t token) string {
	if t.kind != tWord {
		return ""
	}
	return strings.ToLower(t.text)
}

func isStateWord(t token) bool {
	switch lower(t) {
	case "state", "exclude", "excl":
		return true
	}
	return false
}

func isAnd(t token) bool { return t.kind == tAnd || lower(t) == "and" }
func isOr(t token) bool  { return t.kind == tOr || lower(t) == "or" }

// parseFilter is the top level: ss's `[ state STATE-FILTER ] [ EXPRESSION ]`.
// A leading run of state terms followed by an expression applies to the
// whole expression, as in ss: "state estab sport = :22 or dport = :22"
// keeps only established sockets on either side of the or.
func (p *parser) parseFilter() (cnode, error) {
	var n cnode
	var err error
	if isStateWord(p.peek()) {
		run, err := p.parseStateRun()
		if err != nil {
			return cnode{}, err
		}
		switch t := p.peek(); {
		case t.kind == tEOF, t.kind == tRParen:
			n = run // a stray ")" is reported below
		case isAnd(t) || isOr(t):
			// "state a or state b": the run is an ordinary operand.
			if n, err = p.continueAnd(run); err != nil {
				return cnode{}, err
			}
			if n, err = p.continueOr(n); err != nil {
				return cnode{}, err
			}
		default:
			rest, err := p.parseOr()
			if err != nil {
				return cnode{}, err
			}
			n = andNode(run, rest)
		}
	} else if n, err = p.parseOr(); err != nil {
		return cnode{}, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return cnode{}, p.errAt(t.pos, `unbalanced ")": no "(" before it`)
		}
		return cnode{}, p.errAt(t.pos, "unexpected %s", t.describe())
	}
	return n, nil
}

func (p *parser) parseOr() (cnode, error) {
	n, err := p.parseAnd()
	if err != nil {
		return cnode{}, err
	}
	return p.continueOr(n)
}

func (p *parser) continueOr(left cnode) (cnode, error) {
	for isOr(p.peek()) {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return cnode{}, err
		}
		left = orNode(left, right)
	}
	return left, nil
}

func (p *parser) parseAnd() (cnode, error) {
	n, err := p.parseUnary()
	if err != nil {
		return cnode{}, err
	}
	return p.continueAnd(n)
}

// continueAnd reads "and" operands, explicit or by juxtaposition.
func (p *parser) continueAnd(left cnode) (cnode, error) {
	for {
		t := p.peek()
		switch {
		case isAnd(t):
			p.next()
		case isOr(t), t.kind == tEOF, t.kind == tRParen:
			return left, nil
		}
		right, err := p.parseUnary()
		if err != nil {
			return cnode{}, err
		}
		left = andNode(left, right)
	}
}

func (p *parser) parseUnary() (cnode, error) {
	t := p.peek()
	if t.kind == tNot || lower(t) == "not" {
		p.next()
		n, err := p.parseUnary()
		if err != nil {
			return cnode{}, err
		}
		return notNode(n), nil
	}
	if t.kind == tLParen {
		p.next()
		if p.peek().kind == tRParen {
			return cnode{}, p.errAt(p.peek().pos, `empty "( )"`)
		}
		n, err := p.parseOr()
		if err != nil {
			return cnode{}, err
		}
		if c := p.peek(); c.kind != tRParen {
			if c.kind == tEOF {
				return cnode{}, p.errAt(c.pos, `missing ")" to close the "(" at column %d`, errAt(p.expr, t.pos, "").Col)
			}
			return cnode{}, p.errAt(c.pos, `expected ")" or an operator, found %s`, c.describe())
		}
		p.next()
		return n, nil
	}
	return p.parsePrimary()
}

// missing reports an operand that is not there, naming what came before.
func (p *parser) missing(t token) error {
	if pv := p.prev(); pv.kind != tEOF {
		return p.errAt(t.pos, "expected a condition after %s, found %s", pv.describe(), t.describe())
	}
	return p.errAt(t.pos, "expected a condition, found %s", t.describe())
}

func (p *parser) parsePrimary() (cnode, error) {
	t := p.peek()
	switch t.kind {
	case tWord:
	case tString:
		return cnode{}, p.errAt(t.pos, "unexpected %s (quotes are for proc names)", t.describe())
	default:
		return cnode{}, p.missing(t)
	}
	kw := strings.ToLower(t.text)
	switch kw {
	case "state", "exclude", "excl":
		return p.parseStateRun()
	case "sport", "dport", "port":
		p.next()
		return p.parsePortCond(kw, t)
	case "src", "dst":
		p.next()
		return p.parseHostCond(kw == "src", t)
	case "tcp", "udp":
		p.next()
		want := collect.TCP
		if kw == "udp" {
			want = collect.UDP
		}
		n := predNode(func(s *collect.Socket) bool { return s.Proto == want })
		n.kernel = exact(&kexpr{op: kProto, proto: want})
		return n, nil
	case "unix":
		p.next()
		n := predNode(func(s *collect.Socket) bool { return s.Proto == collect.Unix })
		n.kernel = exact(kexprFalse) // an inet dump has no Unix socket
		return n, nil
	case "path":
		p.next()
		return p.parsePath(t)
	case "inet", "ipv4", "inet6", "ipv6":
		p.next()
		want := uint8(4)
		if kw == "inet6" || kw == "ipv6" {
			want = 6
		}
		n := predNode(func(s *collect.Socket) bool { return socketFamily(s) == want })
		n.kernel = exact(&kexpr{op: kFamily, family: want})
		return n, nil
	case "proc":
		p.next()
		p.owners = true
		return p.parseProc(t)
	case "pid":
		p.next()
		p.owners = true
		return p.parsePID(t)
	case "uid":
		p.next()
		return p.parseUID(t)
	case "netns":
		p.next()
		return p.parseNetNS(t)
	case "container":
		p.next()
		return p.parseContainer(t)
	case "and", "or":
		return cnode{}, p.missing(t)
	case "dev":
		p.next()
		return p.parseDev(t)
	case "fwmark":
		p.next()
		return p.parseMark(t)
	case "cgroup":
		p.next()
		return p.parseCgroup(t)
	case "autobound":
		return cnode{}, p.errAt(t.pos, "%q is an ss condition socktop does not support", t.text)
	}
	if looksLikePort(t.text) {
		p.next()
		port, err := p.portValue(t, false)
		if err != nil {
			return cnode{}, err
		}
		return eitherPort(opEq, port), nil
	}
	if _, ok := lookupState(t.text); ok {
		return cnode{}, p.errAt(t.pos, "unknown word %q (a state needs \"state\" before it: state %s)", t.text, t.text)
	}
	return cnode{}, p.errAt(t.pos, "unknown word %q (expected a condition: state, sport, dport, src, dst, port, tcp, udp, unix, path, proc, pid, uid, netns, container, dev, fwmark, cgroup or a port)", t.text)
}

// parseStateRun folds consecutive "state X" and "exclude X" terms the way ss
// does: the first "state" starts from nothing, the first "exclude" from
// everything, and each term adds or removes from there.
func (p *parser) parseStateRun() (cnode, error) {
	var m collect.StateMask
	first := true
	for isStateWord(p.peek()) {
		kw := p.next()
		v := p.next()
		if v.kind != tWord {
			return cnode{}, p.errAt(v.pos, "expected a state name after %s, found %s", kw.describe(), v.describe())
		}
		sm, ok := lookupState(v.text)
		if !ok {
			return cnode{}, p.errAt(v.pos, "unknown state %q (states: established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, last-ack, listening, closing, unconn; groups: all, connected, synchronized, bucket, big)", v.text)
		}
		if strings.EqualFold(kw.text, "state") {
			if first {
				m = 0
			}
			m |= sm
		} else {
			if first {
				m = collect.AllStates
			}
			m &^= sm
		}
		first = false
	}
	mm := m
	return cnode{match: func(s *collect.Socket) bool { return mm.Has(s.State) }, may: m, must: m}, nil
}

// cmpOp is a comparison operator of a condition.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opGt
	opLe
	opGe
)

var opWords = map[string]cmpOp{
	"=": opEq, "==": opEq, "eq": opEq,
	"!=": opNe, "ne": opNe, "neq": opNe,
	"<": opLt, "lt": opLt,
	">": opGt, "gt": opGt,
	"<=": opLe, "le": opLe, "leq": opLe,
	">=": opGe, "ge": opGe, "geq": opGe,
}

// parseOp reads an optional operator; = when there is none, as in ss. A
// word operator (eq, gt...) counts only when a value follows it, so that
// "proc ne" still looks for a process named ne.
func (p *parser) parseOp() (cmpOp, token, bool) {
	t := p.peek()
	if t.kind == tOp {
		p.next()
		return opWords[t.text], t, true
	}
	if t.kind == tWord {
		if op, ok := opWords[strings.ToLower(t.text)]; ok {
			if n := p.peekAt(1); n.kind == tWord || n.kind == tString {
				p.next()
				return op, t, true
			}
		}
	}
	return opEq, t, false
}

func cmpInt(op cmpOp, a, b int) bool {
	switch op {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opGt:
		return a > b
	case opLe:
		return a <= b
	}
	return a >= b
}
