package filter

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"socktop/collect"
)

// filterFixture is a hand-built socket with a short name, so a test case can say
// which sockets an expression keeps.
type filterFixture struct {
	name string
	s    collect.Socket
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// filterFixtures covers both ends, both families, TCP and UDP, the kernel's state
// aliases, owners and uids.
var filterFixtures = []filterFixture{
	{"listen4", collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: mustAP("0.0.0.0:22"),
		Owners: []collect.Owner{{PID: 97, Name: "sshd"}}}},
	{"ssh4", collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: mustAP("127.0.0.1:22"), Remote: mustAP("10.1.2.3:51000"),
		Owners: []collect.Owner{{PID: 98, Name: "sshd"}}}},
	{"web6", collect.Socket{Proto: collect.TCP, Family: 6, State: collect.StateEstablished, Local: mustAP("[::1]:443"), Remote: mustAP("[::1]:40000"),
		UID: 33, Owners: []collect.Owner{{PID: 812, Name: "nginx"}, {PID: 813, Name: "nginx: worker"}}}},
	{"tw4", collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateTimeWait, Local: mustAP("127.0.0.1:40112"), Remote: mustAP("127.0.0.1:5194")}},
	{"dns4", collect.Socket{Proto: collect.UDP, Family: 4, State: collect.StateUnconn, Local: mustAP("127.0.0.53:53"), Remote: mustAP("0.0.0.0:0"),
		UID: 101, Owners: []collect.Owner{{PID: 300, Name: "systemd-resolve"}}}},
	{"udp6", collect.Socket{Proto: collect.UDP, Family: 6, State: collect.StateEstablished, Local: mustAP("[::ffff:10.0.0.5]:5000"), Remote: mustAP("[2001:db8::1]:53"),
		UID: 1000, Owners: []collect.Owner{{PID: 4000, Name: "my app"}}}},
	{"synrecv4", collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateNewSynRecv, Local: mustAP("127.0.0.1:8080"), Remote: mustAP("127.0.0.1:33333")}},
	{"listen6", collect.Socket{Proto: collect.TCP, Family: 6, State: collect.StateListen, Local: mustAP("[::]:8080"),
		UID: 1000, Owners: []collect.Owner{{PID: 5000, Name: "python3"}}}},
	{"fw2", collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateFinWait2, Local: mustAP("127.0.0.1:33334"), Remote: mustAP("127.0.0.1:8080"), UID: 1000}},
	{"bound4", collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateBoundInactive, Local: mustAP("127.0.0.1:9000"), UID: 1000}},
}

func filterMatching(t *testing.T, f *Filter) []string {
	t.Helper()
	var got []string
	for i := range filterFixtures {
		if f.Match(&filterFixtures[i].s) {
			got = append(got, filterFixtures[i].name)
		}
	}
	return got
}

func TestParseMatches(t *testing.T) {
	t.Parallel()
	all := []string{"listen4", "ssh4", "web6", "tw4", "dns4", "udp6", "synrecv4", "listen6", "fw2", "bound4"}
	cases := []struct {
		expr string
		want []string
	}{
		// States, ss and course spellings, groups, exclude, runs.
		{"state established", []string{"ssh4", "web6", "udp6"}},
		{"state estab", []string{"ssh4", "web6", "udp6"}},
		{"state ESTABLISHED", []string{"ssh4", "web6", "udp6"}},
		{"state time-wait", []string{"tw4"}},
		{"state TIME_WAIT", []string{"tw4"}},
		{"state Time_Wait", []string{"tw4"}},
		{"state syn-recv", []string{"synrecv4"}},
		{"state SYN_RECV", []string{"synrecv4"}},
		{"state fin-wait-2", []string{"fw2"}},
		{"state FIN_WAIT_2", []string{"fw2"}},
		{"state listening", []string{"listen4", "listen6"}},
		{"state listen", []string{"listen4", "listen6"}},
		{"state LISTEN", []string{"listen4", "listen6"}},
		{"state closed", []string{"dns4", "bound4"}},
		{"state unconn", []string{"dns4", "bound4"}},
		{"state UNCONN", []string{"dns4", "bound4"}},
		{"state all", all},
		{"state connected", []string{"ssh4", "web6", "tw4", "udp6", "synrecv4", "fw2"}},
		{"state synchronized", []string{"ssh4", "web6", "tw4", "udp6", "synrecv4", "fw2"}},
		{"state bucket", []string{"tw4", "synrecv4"}},
		{"state big", []string{"listen4", "ssh4", "web6", "dns4", "udp6", "listen6", "fw2", "bound4"}},
		{"exclude listening", []string{"ssh4", "web6", "tw4", "dns4", "udp6", "synrecv4", "fw2", "bound4"}},
		{"excl listening", []string{"ssh4", "web6", "tw4", "dns4", "udp6", "synrecv4", "fw2", "bound4"}},
		{"state listening state time-wait", []string{"listen4", "tw4", "listen6"}},
		{"state connected exclude established", []string{"tw4", "synrecv4", "fw2"}},
		{"exclude listening state listening", all},
		{"state established or state time-wait", []string{"ssh4", "web6", "tw4", "udp6"}},
		{"state established and state time-wait", nil},
		{"not state listening", []string{"ssh4", "web6", "tw4", "dns4", "udp6", "synrecv4", "fw2", "bound4"}},
		// A leading state run applies to the whole rest, as in ss.
		{"state established sport = :22 or dport = :53", []string{"ssh4", "udp6"}},
		{"state listening sport = :8080", []string{"listen6"}},
		// Ports, every operator spelling.
		{"sport = :22", []string{"listen4", "ssh4"}},
		{"sport == 22", []string{"listen4", "ssh4"}},
		{"sport eq :22", []string{"listen4", "ssh4"}},
		{"sport :22", []string{"listen4", "ssh4"}},
		{"sport 22", []string{"listen4", "ssh4"}},
		{"sport=:22", []string{"listen4", "ssh4"}},
		{"sport != :22", []string{"web6", "tw4", "dns4", "udp6", "synrecv4", "listen6", "fw2", "bound4"}},
		{"sport ne 22", []string{"web6", "tw4", "dns4", "udp6", "synrecv4", "listen6", "fw2", "bound4"}},
		{"sport neq 22", []string{"web6", "tw4", "dns4", "udp6", "synrecv4", "listen6", "fw2", "bound4"}},
		{"dport >= :1024", []string{"ssh4", "web6", "tw4", "synrecv4", "fw2"}},
		{"dport ge 1024", []string{"ssh4", "web6", "tw4", "synrecv4", "fw2"}},
		{"dport geq 1024", []string{"ssh4", "web6", "tw4", "synrecv4", "fw2"}},
		{"dport>=1024", []string{"ssh4", "web6", "tw4", "synrecv4", "fw2"}},
		{"dport > :8080", []string{"ssh4", "web6", "synrecv4"}},
		{"dport gt 8080", []string{"ssh4", "web6", "synrecv4"}},
		{"dport < 1", []string{"listen4", "dns4", "listen6", "bound4"}},
		{"dport lt 1", []string{"listen4", "dns4", "listen6", "bound4"}},
		{"sport <= 53", []string{"listen4", "ssh4", "dns4"}},
		{"sport le 53", []string{"listen4", "ssh4", "dns4"}},
		{"sport leq 53", []string{"listen4", "ssh4", "dns4"}},
		{"dport = :0", []string{"listen4", "dns4", "listen6", "bound4"}},
		{"sport = :*", all},
		{"sport != :*", nil},
		// Shortcuts.
		{"8080", []string{"synrecv4", "listen6", "fw2"}},
		{":8080", []string{"synrecv4", "listen6", "fw2"}},
		{"port 8080", []string{"synrecv4", "listen6", "fw2"}},
		{"port = 8080", []string{"synrecv4", "listen6", "fw2"}},
		{"port != 8080", []string{"listen4", "ssh4", "web6", "tw4", "dns4", "udp6", "bound4"}},
		{"port > 50000", []string{"ssh4"}},
		{"tcp", []string{"listen4", "ssh4", "web6", "tw4", "synrecv4", "listen6", "fw2", "bound4"}},
		{"udp", []string{"dns4", "udp6"}},
		{"UDP", []string{"dns4", "udp6"}},
		{"inet6", []string{"web6", "udp6", "listen6"}},
		{"ipv6", []string{"web6", "udp6", "listen6"}},
		{"inet", []string{"listen4", "ssh4", "tw4", "dns4", "synrecv4", "fw2", "bound4"}},
		{"ipv4", []string{"listen4", "ssh4", "tw4", "dns4", "synrecv4", "fw2", "bound4"}},
		{"proc sshd", []string{"listen4", "ssh4"}},
		{"proc = nginx", []string{"web6"}},
		{"proc 'nginx: worker'", []string{"web6"}},
		{`proc "my app"`, []string{"udp6"}},
		{"proc nginx*", []string{"web6"}},
		{"proc *resolve*", []string{"dns4"}},
		{"proc != sshd", []string{"web6", "tw4", "dns4", "udp6", "synrecv4", "listen6", "fw2", "bound4"}},
		{"pid 812", []string{"web6"}},
		{"pid 813", []string{"web6"}},
		{"pid != 97", []string{"ssh4", "web6", "tw4", "dns4", "udp6", "synrecv4", "listen6", "fw2", "bound4"}},
		{"uid 1000", []string{"udp6", "listen6", "fw2", "bound4"}},
		{"uid >= 100", []string{"dns4", "udp6", "listen6", "fw2", "bound4"}},
		{"uid = 0", []string{"listen4", "ssh4", "tw4", "synrecv4"}},
		// Hosts.
		{"src 127.0.0.1", []string{"ssh4", "tw4", "synrecv4", "fw2", "bound4"}},
		{"src = 127.0.0.1", []string{"ssh4", "tw4", "synrecv4", "fw2", "bound4"}},
		{"src != 127.0.0.1", []string{"listen4", "web6", "dns4", "udp6", "listen6"}},
		{"src 127.0.0.0/8", []string{"ssh4", "tw4", "dns4", "synrecv4", "fw2", "bound4"}},
		{"src 127/8", []string{"ssh4", "tw4", "dns4", "synrecv4", "fw2", "bound4"}},
		{"src 127.0.0.1:22", []string{"ssh4"}},
		{"src 127.0.0.0/8:8080", []string{"synrecv4"}},
		{"dst 10.0.0.0/8", []string{"ssh4"}},
		{"src 10.0.0.0/8", []string{"udp6"}}, // IPv4-mapped matches an IPv4 prefix
		{"src [::ffff:10.0.0.5]", []string{"udp6"}},
		{"dst [::1]:40000", []string{"web6"}},
		{"src [::1]", []string{"web6"}},
		{"src ::1", []string{"web6"}},
		{"src ::1/128", []string{"web6"}},
		{"src [::1/128]:443", []string{"web6"}},
		{"src [::1]/128", []string{"web6"}},
		{"dst 2001:db8::/32", []string{"udp6"}},
		{"dst [2001:db8::]/32:53", []string{"udp6"}},
		{"dst :443", nil},
		{"src :443", []string{"web6"}},
		{"src *:80", nil},
		{"src *:22", []string{"listen4", "ssh4"}},
		{"dst *", all},
		{"dst *:*", all},
		{"dst 0.0.0.0", []string{"listen4", "dns4", "bound4"}},
		{"dst [::]", []string{"listen6"}},
		{"src 0.0.0.0/0", []string{"listen4", "ssh4", "tw4", "dns4", "udp6", "synrecv4", "fw2", "bound4"}},
		{"src ::/0", []string{"web6", "udp6", "listen6"}},
		{"src inet:0.0.0.0/0", []string{"listen4", "ssh4", "tw4", "dns4", "synrecv4", "fw2", "bound4"}},
		{"src inet6:*:8080", []string{"listen6"}},
		// Boolean structure, precedence not > and > or, juxtaposition.
		{"tcp and sport = :22", []string{"listen4", "ssh4"}},
		{"tcp && sport = :22", []string{"listen4", "ssh4"}},
		{"tcp & sport = :22", []string{"listen4", "ssh4"}},
		{"tcp sport = :22", []string{"listen4", "ssh4"}},
		{"udp or sport = :22", []string{"listen4", "ssh4", "dns4", "udp6"}},
		{"udp || sport = :22", []string{"listen4", "ssh4", "dns4", "udp6"}},
		{"udp | sport = :22", []string{"listen4", "ssh4", "dns4", "udp6"}},
		{"udp or tcp and sport = :22", []string{"listen4", "ssh4", "dns4", "udp6"}},
		{"tcp and sport = :22 or udp", []string{"listen4", "ssh4", "dns4", "udp6"}},
		{"( udp or tcp ) and sport = :22", []string{"listen4", "ssh4"}},
		{"(udp or tcp) sport = :22", []string{"listen4", "ssh4"}},
		{"not tcp", []string{"dns4", "udp6"}},
		{"! tcp", []string{"dns4", "udp6"}},
		{"!tcp", []string{"dns4", "udp6"}},
		{"not not udp", []string{"dns4", "udp6"}},
		{"!(tcp or sport = :53)", []string{"udp6"}},
		{"not tcp and sport = :53", []string{"dns4"}},
		{"TCP AND SPORT = :22", []string{"listen4", "ssh4"}},
		{"state established ( sport = :22 or dport = :53 )", []string{"ssh4", "udp6"}},
		{"tcp state listening", []string{"listen4", "listen6"}},
		{"  \tstate\ttime-wait  ", []string{"tw4"}},
	}
	for _, c := range cases {
		f, err := Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		if got := filterMatching(t, f); !slices.Equal(got, c.want) {
			t.Errorf("%q matches %v, want %v", c.expr, got, c.want)
		}
		if f.String() != c.expr {
			t.Errorf("%q: String() = %q", c.expr, f.String())
		}
		// States must never exclude a state that a matching socket is in.
		for _, name := range c.want {
			for _, fx := range filterFixtures {
				if fx.name == name && !f.States().Has(fx.s.State) {
					t.Errorf("%q: States() %b lacks %v, the state of %s", c.expr, f.States(), fx.s.State, name)
				}
			}
		}
	}
}

func TestParseEmptyIsNil(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"", " ", "\t \n"} {
		f, err := Parse(e)
		if f != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", e, f, err)
		}
		if !f.Match(&filterFixtures[0].s) || f.States() != collect.AllStates || f.String() != "" {
			t.Errorf("nil filter: Match false, or States %b, or String %q", f.States(), f.String())
		}
	}
}

func TestFilterStates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want collect.StateMask
	}{
		{"sport = :22", collect.AllStates},
		{"state established", 1 << collect.StateEstablished},
		{"state syn-recv", 1<<collect.StateSynRecv | 1<<collect.StateNewSynRecv},
		{"state closed", 1<<collect.StateClosed | 1<<collect.StateBoundInactive | 1<<collect.StateUnconn},
		{"state time-wait or state listening", 1<<collect.StateTimeWait | 1<<collect.StateListen},
		{"state time-wait sport = :80", 1 << collect.StateTimeWait},
		{"state time-wait or sport = :80", collect.AllStates},
		{"exclude listening", collect.AllStates &^ (1 << collect.StateListen)},
		{"not state listening", collect.AllStates &^ (1 << collect.StateListen)},
		{"not ( state listening and sport = :80 )", collect.AllStates},
		{"not ( state listening or sport = :80 )", collect.AllStates &^ (1 << collect.StateListen)},
		{"state bucket exclude time-wait", 1<<collect.StateSynRecv | 1<<collect.StateNewSynRecv},
		{"state established and state time-wait", 0},
	}
	for _, c := range cases {
		f, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.expr, err)
		}
		if got := f.States(); got != c.want {
			t.Errorf("%q: States() = %015b, want %015b", c.expr, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		col  int
		msg  string // a part of the message
	}{
		{"foo", 1, `unknown word "foo"`},
		{"tcp foo", 5, `unknown word "foo"`},
		{"established", 1, `state established`},
		{"state", 6, "expected a state name"},
		{"state nonsense", 7, `unknown state "nonsense"`},
		{"exclude (", 9, "expected a state name"},
		{"sport = :x", 10, `unknown service "x"`},
		{"sport = :nosuchservice", 10, `unknown service "nosuchservice" (expected a port number or a name from /etc/services)`},
		{"sport = :99999", 10, "out of range"},
		{"sport = 65536", 9, "out of range"},
		{"sport =", 8, `expected a port after "="`},
		{"sport", 6, `expected a port after "sport"`},
		{"sport > :*", 10, "wildcard"},
		{"dport = :-1", 10, "expected a port number"},
		{"70000", 1, "out of range"},
		{":", 2, "expected a port number"},
		{"port 8x", 6, "expected a port number"},
		{"( tcp", 6, `missing ")" to close the "(" at column 1`},
		{"tcp )", 5, `unbalanced ")"`},
		{"(tcp))", 6, `unbalanced ")"`},
		{"state established )", 19, `unbalanced ")"`},
		{"()", 2, `empty "( )"`},
		{"( tcp udp", 10, `missing ")"`},
		{"tcp and", 8, `expected a condition after "and"`},
		{"tcp or", 7, `expected a condition after "or"`},
		{"not", 4, `expected a condition after "not"`},
		{"and tcp", 1, "expected a condition"},
		{"tcp or or udp", 8, `expected a condition after "or"`},
		{"src", 4, "expected an address"},
		{"src 300.1.1.1", 5, `bad address "300.1.1.1"`},
		{"src example.com", 5, "bad address"},
		{"src 127.1", 5, "incomplete IPv4 address"},
		{"src 10.0.0.0/33", 14, "prefix length 33 is longer"},
		{"src 10.0.0.0/", 14, "expected a prefix length"},
		{"src 10.0.0.0/x", 14, "bad prefix length"},
		{"dst [::1", 5, `missing "]"`},
		{"dst [::1]x", 10, `expected ":PORT"`},
		{"dst [::1]:99999", 11, "out of range"},
		{"src 127.0.0.1:nosuchservice", 15, `unknown service "nosuchservice"`},
		{"dst *:nosuchservice", 7, `unknown service "nosuchservice"`},
		{"src > 10.0.0.1", 5, "src takes = or !="},
		{"dst inet6:127.0.0.1", 11, "not of the family inet6"},
		{"proc", 5, "expected a process name"},
		{"proc < x", 6, "proc takes = or !="},
		{"pid x", 5, `expected a number, found "x"`},
		{"pid 99999999999", 5, "out of range"},
		{"uid", 4, "expected a number"},
		{"uid -1", 5, "expected a number"},
		{"autobound", 1, "socktop does not support"},
		{"fwmark", 7, "expected a mark"},
		{"fwmark > 1", 8, "fwmark takes = or !="},
		{"fwmark = 0xzz", 10, `bad mark "0xzz"`},
		{"fwmark = 1/", 12, "expected a number for the mark"},
		{"fwmark = 1/0x1ffffffff", 12, "out of range"},
		{"fwmark = -1", 10, `bad mark "-1"`},
		{"tcp and fwmark = 0b1", 18, `bad mark "0b1"`},
		{"cgroup", 7, "expected a cgroup path"},
		{"cgroup < /", 8, "cgroup takes = or !="},
		{"cgroup = /socktop-no-such-cgroup", 10, "no cgroup /socktop-no-such-cgroup"},
		{"cgroup = ../../../etc", 10, "outside the cgroup2 mount"},
		{"dev nosuchif0", 5, `unknown interface "nosuchif0"`},
		{"dev < lo", 5, "dev takes = or !="},
		{"dev", 4, "expected an interface name or index"},
		{"tcp 'x'", 5, "quoted"},
		{`proc "abc`, 6, "unterminated quote"},
		{"sport = :22 =", 13, `expected a condition after ":22", found "="`},
		{"état", 1, `unknown word "état"`},
		{"proc état foo", 11, `unknown word "foo"`}, // columns count characters, not bytes
	}
	for _, c := range cases {
		f, err := Parse(c.expr)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", c.expr, f)
			continue
		}
		if !errors.Is(err, ErrBad) {
			t.Errorf("Parse(%q): %v does not wrap ErrBad", c.expr, err)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q): %T is not an *Error", c.expr, err)
			continue
		}
		if fe.Col != c.col || !strings.Contains(fe.Msg, c.msg) || fe.Expr != c.expr {
			t.Errorf("Parse(%q): column %d %q, want column %d containing %q", c.expr, fe.Col, fe.Msg, c.col, c.msg)
		}
		if !strings.Contains(err.Error(), strconv.Quote(c.expr)) || !strings.HasPrefix(err.Error(), "filter: column ") {
			t.Errorf("Parse(%q): message %q lacks the column or the expression", c.expr, err)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abc", true},
		{"a*c", "ab", false},
		{"*b*", "abc", true},
		{"*x*", "abc", false},
		{"a**c", "ac", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"*ab*", "xaby", true},
		{"*ab*", "xaxb", false},
		{"ab*", "abc", true},
		{"ab*", "cab", false},
		{"*ab", "cab", true},
		{"*ab", "abc", false},
		{"**", "", true},
	}
	for _, c := range cases {
		if got := globMatch(c.pat, c.name); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pat, c.name, got)
		}
		if got := globMatcher(c.pat)(c.name); got != c.want {
			t.Errorf("globMatcher(%q)(%q) = %v", c.pat, c.name, got)
		}
	}
}

func TestFilterMatchDoesNotAllocate(t *testing.T) {
	f, err := Parse("state connected ( src 127.0.0.0/8 or dst [::1] ) and not proc nginx* and uid >= 0 or port 8080")
	if err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		for i := range filterFixtures {
			f.Match(&filterFixtures[i].s)
		}
	})
	if n != 0 {
		t.Errorf("Match allocates %v times per run", n)
	}
}

// Ports selects what its own text selects when parsed, and the
// prompt can take that text back.
func TestPorts(t *testing.T) {
	if f := Ports(); f != nil {
		t.Fatalf("no ports gave %q, want no filter", f)
	}
	for _, ports := range [][]uint16{{8080}, {22, 5194}, {53, 443, 9000}} {
		f := Ports(ports...)
		parsed, err := Parse(f.String())
		if err != nil {
			t.Fatalf("%v: its text %q does not parse: %v", ports, f, err)
		}
		got, want := filterMatching(t, f), filterMatching(t, parsed)
		if !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("%v: matches %v, its text %q matches %v", ports, got, f, want)
		}
		if f.States() != collect.AllStates {
			t.Errorf("%v: states %v, want all", ports, f.States())
		}
	}
}

// ReadsOwners says which filters need every socket's owners: those with a
// proc or pid condition, wherever it sits in the expression.
func TestReadsOwners(t *testing.T) {
	for expr, want := range map[string]bool{
		"":                              false,
		"sport = :80":                   false,
		"proc nginx":                    true,
		"pid 1":                         true,
		"sport = :80 or not proc sshd*": true,
		"( dport = :443 and uid 0 )":    false,
		"netns foo or container abc":    false,
	} {
		f, err := Parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if got := f.ReadsOwners(); got != want {
			t.Errorf("%q: ReadsOwners %v, want %v", expr, got, want)
		}
	}
}
