// Package filter is socktop's filter language, ss's expressions and a few
// shortcuts: Parse reads an expression once, and the Filter it gives
// decides for each socket whether it is shown. The architecture note
// lists the language; Parse's documentation has the grammar.
package filter

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"socktop/collect"
)

// ErrBad is wrapped by every error of Parse, so a caller can tell a bad
// expression from other failures with errors.Is.
var ErrBad = errors.New("bad filter")

// Filter is a parsed filter expression, compiled once into a tree of
// closures so that Match costs a few function calls and no allocation: it
// runs on every socket of every refresh. A nil *Filter matches every socket.
//
// The language is ss's (see Parse), so what people already type after
// `ss -tan` works here too.
type Filter struct {
	expr   string
	match  func(*collect.Socket) bool
	may    collect.StateMask
	kernel kbounds
	// needs, maybe and surely: see cnode.
	needs         collect.Fields
	maybe, surely func(*collect.Socket) bool
	owners        bool
}

// Parse parses a filter expression. An empty expression, or one made
// only of spaces, gives a nil *Filter and no error: no filter at all.
//
// The kernel evaluates what it can of a filter (see Bytecode), so a
// narrow filter on a large table costs little more than its matches.
//
// The grammar follows ss(8):
//
//	state STATE, exclude STATE   state sets; a run of them folds left to right
//	                             as in ss ("state connected exclude estab"),
//	                             and a leading run applies to the whole rest
//	sport|dport [OP] [:]PORT     OP is = == eq != ne neq < lt > gt <= le leq >= ge geq
//	src|dst [=|!=] HOST          HOST is ADDR, ADDR/LEN, ADDR:PORT, [V6]:PORT, *:PORT,
//	                             :PORT, *, optionally after inet: or inet6:
//	dev [=|!=] NAME|INDEX        the interface a socket is bound to
//	fwmark [=|!=] MARK[/MASK]    the socket's mark under MASK (all ones without
//	                             one) is MARK; numbers as C's %i (10, 0xa, 012)
//	cgroup [=|!=] PATH           the socket was made in the cgroup v2 at PATH,
//	                             relative to the cgroup2 mount as ss reads it
//	not !, and & &&, or | ||     precedence not > and > or; juxtaposition is and
//	( ... )                      grouping
//
// and socktop's shortcuts: a bare port (8080 or :8080, at either end),
// port [OP] PORT (either end), tcp, udp, unix, path GLOB (a Unix
// socket's path, matched as fnmatch(3) does: "*" matches "/" too, see
// parsePath), inet/ipv4, inet6/ipv6, proc NAME (an owner's process name; * is a wildcard), pid N, uid [OP] N.
// State names take ss spellings (time-wait, estab, unconnected) and the
// course spellings (TIME_WAIT) in any case. As in ss, "listening" is the
// LISTEN state only (ss -l also shows UDP sockets, but "state listening"
// does not) and "closed" includes unconnected UDP sockets.
//
// Two deliberate differences from ss 6.1: and binds tighter than or, as its
// man page says (ss itself reads "a or b and c" left to right), and host
// names are not resolved. A bad expression is an *Error naming the
// column where it broke; it wraps ErrBad.
func Parse(expr string) (*Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks}
	n, err := p.parseFilter()
	if err != nil {
		return nil, err
	}
	return &Filter{expr: expr, match: n.match, may: n.may, kernel: n.kernel, needs: n.needs, maybe: n.maybeOf(), surely: n.surelyOf(),
		owners: p.owners}, nil
}

// ReadsOwners reports whether a condition of the filter reads the
// sockets' owners (proc, pid): every socket's owners must then be known
// for the filter to select, not only those of the rows on screen.
func (f *Filter) ReadsOwners() bool { return f != nil && f.owners }

// Match reports whether the socket passes the filter. A nil filter passes
// everything. Match does not allocate.
//
// A socket whose unknown fields leave the answer open (see Decides) passes:
// a condition socktop cannot decide makes the selection broader, never
// narrower. The kernel's filter has decided such a socket already where
// it could: on a kernel that compares a TIME_WAIT socket's mark but does
// not report it, the program let through only the matches.
func (f *Filter) Match(s *collect.Socket) bool {
	if f == nil {
		return true
	}
	if s.Unknown&f.needs == 0 {
		return f.match(s)
	}
	return f.maybe(s)
}

// Decides reports whether the socket's known fields settle Match's
// answer: false when it depends on a field the source left unknown, such
// as the mark of a socket dumped without CAP_NET_ADMIN.
func (f *Filter) Decides(s *collect.Socket) bool {
	if f == nil || s.Unknown&f.needs == 0 {
		return true
	}
	return f.maybe(s) == f.surely(s)
}

// Needs returns the socket fields the filter reads that a source may
// leave unknown (collect.FieldMark, collect.FieldCgroup), so that a
// source can say when it cannot report them.
func (f *Filter) Needs() collect.Fields {
	if f == nil {
		return 0
	}
	return f.needs
}

// States returns the states a socket must be in for the filter to possibly
// match it, so a collector can ask the kernel for only those. It is
// AllStates when the expression does not constrain states (or for a nil
// filter). The mask is conservative: a state in it may still fail other
// conditions, but a state outside it can never match.
func (f *Filter) States() collect.StateMask {
	if f == nil {
		return collect.AllStates
	}
	return f.may
}

// String returns the expression as it was given to Parse, or "" for
// a nil filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.expr
}

// Error is the error of a bad filter expression. Col is the 1-based
// column (in characters) where parsing broke, so a prompt can put a caret
// under it.
type Error struct {
	Expr string
	Col  int
	Msg  string
}

// Error returns a one-line message: the column, what was wrong, and the
// expression.
func (e *Error) Error() string {
	return fmt.Sprintf("filter: column %d: %s in %q", e.Col, e.Msg, e.Expr)
}

// Unwrap returns ErrBad, so callers can test with errors.Is.
func (e *Error) Unwrap() error { return ErrBad }

// errAt builds an Error for the byte offset off of expr; the column
// counts characters so that a caret lines up under non-ASCII text too.
func errAt(expr string, off int, format string, args ...any) *Error {
	if off < 0 {
		off = 0
	}
	if off > len(expr) {
		off = len(expr)
	}
	return &Error{
		Expr: expr,
		Col:  utf8.RuneCountInString(expr[:off]) + 1,
		Msg:  fmt.Sprintf(format, args...),
	}
}
