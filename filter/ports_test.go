package filter

import (
	"testing"

	"socktop/collect"
)

func TestPortBound(t *testing.T) {
	cases := []struct {
		expr string
		tcp  string // the TCP bound's String, "" for none
	}{
		{"sport = :8080", "local 8080 remote"},
		{"dport = :443", "local remote 443"},
		{"port = :53", "local 53 remote 53"},
		{"sport = :80 or sport = :81 or dport = :9000", "local 80-81 remote 9000"},
		{"sport >= :60000", "local 60000-65535 remote"},
		{"sport < :1024 and dport = :22", "local remote 22"},
		{"src 127.0.0.1:8080", "local 8080 remote"},
		{"dst [::1]:5201 or sport = :5201", "local 5201 remote 5201"},
		{"sport = :8080 and proc nginx", "local 8080 remote"},
		{"udp and sport = :53", "local remote"}, // no TCP socket: the empty bound
		{"sport != :22", ""},
		{"not sport = :22", ""},
		{"src 127.0.0.1", ""},
		{"state established", ""},
		{"sport = :8080 or proc nginx", ""},
		{"sport = :8080 or src 10.0.0.0/8", ""},
	}
	for _, c := range cases {
		f, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		ps, ok := f.PortBound(collect.TCP)
		got := ""
		if ok {
			got = ps.String()
		}
		if got != c.tcp {
			t.Errorf("%q: TCP bound %q, want %q", c.expr, got, c.tcp)
		}
	}
	if _, ok := (*Filter)(nil).PortBound(collect.TCP); ok {
		t.Error("no filter has a bound")
	}
}
