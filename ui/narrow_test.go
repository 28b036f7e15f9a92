package ui

import (
	"testing"

	"socktop/collect"
)

// TestNarrowUnix: -x alone keeps only Unix sockets, -x with -t or -u adds
// them to those, -4 and -6 leave Unix sockets alone, and -l keeps Unix
// listeners and unconnected ones.
func TestNarrowUnix(t *testing.T) {
	tcp := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished}
	udp := collect.Socket{Proto: collect.UDP, Family: 6, State: collect.StateUnconn}
	ux := collect.Socket{Proto: collect.Unix, State: collect.StateEstablished}
	uxl := collect.Socket{Proto: collect.Unix, State: collect.StateListen}
	for _, c := range []struct {
		n                 Narrow
		tcp, udp, ux, uxl bool
		flags             string
	}{
		{Narrow{}, true, true, true, true, ""},
		{Narrow{Unix: true}, false, false, true, true, "-x"},
		{Narrow{Unix: true, TCP: true}, true, false, true, true, "-t -x"},
		{Narrow{Unix: true, UDP: true}, false, true, true, true, "-u -x"},
		{Narrow{Unix: true, TCP: true, UDP: true}, true, true, true, true, ""},
		{Narrow{TCP: true}, true, false, false, false, "-t"},
		{Narrow{TCP: true, UDP: true}, true, true, true, true, ""},
		{Narrow{Unix: true, IPv4: true}, false, false, true, true, "-x -4"},
		{Narrow{Unix: true, Listening: true}, false, false, false, true, "-x -l"},
	} {
		for _, s := range []struct {
			sock collect.Socket
			want bool
		}{{tcp, c.tcp}, {udp, c.udp}, {ux, c.ux}, {uxl, c.uxl}} {
			if got := c.n.Match(&s.sock); got != s.want {
				t.Errorf("%+v on %s %s: %v, want %v", c.n, s.sock.Proto, s.sock.State, got, s.want)
			}
		}
		if got := c.n.String(); got != c.flags {
			t.Errorf("%+v: String %q, want %q", c.n, got, c.flags)
		}
	}
}
