package filter

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that no input makes the parser panic, that every
// error is an *Error wrapping ErrBad with a column inside the
// expression, and that a parsed filter matches without panicking, keeps its
// text, parses again to the same filter, and never leaves out of States()
// the state of a socket it matches.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "state established", "exclude listening", "state connected exclude estab",
		"sport = :80", "dport >= :1024", "sport==22", "dport neq 0", "src 10.0.0.0/8",
		"dst [::1]:443", "src 127.0.0.1:5194", "src *:80", "dst 10.0.0.1/8:80",
		"src inet6:[fe80::1%eth0]", "src ::ffff:1.2.3.4/104", "( tcp or udp ) and ! port 53",
		"not ( state time-wait || sport < 1024 ) && uid >= 1000", "proc 'nginx*'",
		`proc "a b"`, "pid 1", "8080", ":8080", "port != 22", "inet6 state listening",
		"state", "sport = :x", "((", "))", "src [", "src 1.2.3.4/", "dst */", "!", "&&",
		"proc", "uid 99999999999999999999", "état", "src 127/8", "sport = :*",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || !errors.Is(err, ErrBad) {
				t.Fatalf("Parse(%q): error %v (%T) is not an *Error wrapping ErrBad", expr, err, err)
			}
			if fe.Col < 1 || fe.Col > utf8.RuneCountInString(expr)+1 || fe.Expr != expr || fe.Msg == "" {
				t.Fatalf("Parse(%q): column %d outside the expression, or empty message %q", expr, fe.Col, fe.Msg)
			}
			if flt != nil {
				t.Fatalf("Parse(%q) gave both a filter and an error", expr)
			}
			return
		}
		if flt == nil {
			if strings.TrimSpace(expr) != "" {
				t.Fatalf("Parse(%q) = nil, nil for a non-blank expression", expr)
			}
			return
		}
		if flt.String() != expr {
			t.Fatalf("String() = %q, want %q", flt.String(), expr)
		}
		again, err := Parse(flt.String())
		if err != nil || again.States() != flt.States() {
			t.Fatalf("%q does not parse again to the same filter: %v", expr, err)
		}
		for i := range filterFixtures {
			s := &filterFixtures[i].s
			m := flt.Match(s)
			if again.Match(s) != m {
				t.Fatalf("%q: parsing again changes the match of %s", expr, filterFixtures[i].name)
			}
			if m && !flt.States().Has(s.State) {
				t.Fatalf("%q matches %s in %v but States() %b lacks it", expr, filterFixtures[i].name, s.State, flt.States())
			}
		}
	})
}
