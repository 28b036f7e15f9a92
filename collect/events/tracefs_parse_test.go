package events

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"socktop/collect"
)

// base stands for the trace clock's zero in the fixture tests.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fixtureAt(ns int64) time.Time { return base.Add(time.Duration(ns)) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestParseTraceFixture parses lines a tracefs instance printed on this
// machine's kernel: an IPv4 connection, one on ::1, and one on an IPv6
// socket with v4-mapped addresses, which keep their 16-byte form.
func TestParseTraceFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/tracefs_sock.txt")
	if err != nil {
		t.Fatal(err)
	}
	evs, rest, bad, firstErr := parseTraceLines(b, fixtureAt, nil, nil)
	if bad != 0 || len(rest) != 0 {
		t.Fatalf("%d malformed lines (first: %v), %d bytes left over", bad, firstErr, len(rest))
	}
	type want struct {
		ns            int64
		family        uint8
		local, remote string
		from, to      collect.State
	}
	wants := []want{
		{9176290887000, 4, "127.9.8.7:60721", "0.0.0.0:0", collect.StateClosed, collect.StateListen},
		{9176290909000, 4, "127.0.0.1:0", "127.9.8.7:60721", collect.StateClosed, collect.StateSynSent},
		{9176290947000, 4, "127.0.0.1:41282", "127.9.8.7:60721", collect.StateSynSent, collect.StateEstablished},
		{9176291072000, 6, "[::1]:38529", "[::]:0", collect.StateClosed, collect.StateListen},
		{9176291090000, 6, "[::1]:0", "[::1]:38529", collect.StateClosed, collect.StateSynSent},
		{9176291110000, 6, "[::1]:47848", "[::1]:38529", collect.StateSynSent, collect.StateEstablished},
		{9176291186000, 6, "[::ffff:127.9.8.6]:59867", "[::]:0", collect.StateClosed, collect.StateListen},
		{9176291200000, 6, "[::ffff:127.0.0.1]:0", "[::ffff:127.9.8.6]:59867", collect.StateClosed, collect.StateSynSent},
		{9176291214000, 6, "[::ffff:127.0.0.1]:44862", "[::ffff:127.9.8.6]:59867", collect.StateSynSent, collect.StateEstablished},
	}
	if len(evs) != len(wants) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(wants), evs)
	}
	for i, w := range wants {
		e := evs[i]
		got := fmt.Sprintf("%v %v %d %s %s %v %v", e.Time, e.Proto, e.Family, e.Local, e.Remote, e.From, e.To)
		exp := fmt.Sprintf("%v %v %d %s %s %v %v", fixtureAt(w.ns), collect.TCP, w.family, ap(w.local), ap(w.remote), w.from, w.to)
		if got != exp {
			t.Errorf("event %d: %s, want %s", i, got, exp)
		}
		if e.Cookie != 0 || e.NetNS != 0 {
			t.Errorf("event %d: cookie %d netns %d, want 0 (tracefs knows neither)", i, e.Cookie, e.NetNS)
		}
	}
	if !evs[6].Local.Addr().Is4In6() {
		t.Errorf("mapped address %s lost its IPv6 form", evs[6].Local)
	}
}

const okFields = "family=AF_INET protocol=IPPROTO_TCP sport=1 dport=2 saddr=127.1.2.3 daddr=127.1.2.4 saddrv6=::ffff:127.1.2.3 daddrv6=::ffff:127.1.2.4 oldstate=TCP_LISTEN newstate=TCP_NEW_SYN_RECV"

// TestParseTraceLines covers what a fixture of one run does not show: a
// command name with spaces and dashes, lost-event markers, another
// protocol, aliases and unknown states, bad lines and a line cut short.
func TestParseTraceLines(t *testing.T) {
	in := strings.Join([]string{
		"  my prog-with-dash-77   (   70) [003] d.s2. 12.5: inet_sock_set_state: " + okFields,
		"CPU:1 [LOST 12 EVENTS]",
		"",
		"# tracer: nop",
		"  x-1 [000] ..... 13.000001: inet_sock_set_state: " + strings.Replace(okFields, "IPPROTO_TCP", "IPPROTO_MPTCP", 1),
		"  x-1 [000] ..... 13.000002: inet_sock_set_state: " + strings.Replace(okFields, "TCP_NEW_SYN_RECV", "0xd", 1) + " extra=1",
		"  x-1 [000] ..... 13.000003: inet_sock_set_state: " + strings.Replace(okFields, "TCP_LISTEN", "TCP_BOGUS", 1),
		"  x-1 [000] ..... 13.x: inet_sock_set_state: " + okFields,
		"  x-1 [000] ..... 13.000004: inet_sock_set_state: " + strings.Replace(okFields, "saddr=127.1.2.3 ", "", 1),
		"  x-1 [000] ..... 13.000005: inet_sock_set_state: " + strings.Replace(okFields, "sport=1 ", "sport=70000 ", 1),
		"  x-1 [000] ..... 13.000006: inet_sock_set_state: " + strings.Replace(okFields, "AF_INET ", "AF_UNIX ", 1),
		"  x-1 [000] ..... 13.000007: sched_switch: prev=a next=b",
		"  x-1 [000] ..... 13.000008: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sp",
	}, "\n")
	evs, rest, bad, firstErr := parseTraceLines([]byte(in), fixtureAt, nil, nil)
	if string(rest) != "  x-1 [000] ..... 13.000008: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sp" {
		t.Errorf("rest %q, want the unfinished last line", rest)
	}
	if bad != 6 {
		t.Errorf("%d malformed lines, want 6 (bogus state, bad time, no saddr, big port, AF_UNIX, another event)", bad)
	}
	if firstErr == nil || !strings.Contains(firstErr.Error(), "TCP_BOGUS") {
		t.Errorf("first error %v, want the unknown state named", firstErr)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	if e := evs[0]; !e.Time.Equal(fixtureAt(12_500_000_000)) || e.From != collect.StateListen || e.To != collect.StateSynRecv ||
		e.Local != ap("127.1.2.3:1") || e.Remote != ap("127.1.2.4:2") || e.Family != 4 || e.PID != 70 || e.Comm != "my prog-with-dash" {
		t.Errorf("first event %+v", e)
	}
	if e := evs[1]; !e.Time.Equal(fixtureAt(13_000_002_000)) || e.To != collect.StateClosed {
		t.Errorf("second event %+v, want BOUND_INACTIVE (0xd) read as CLOSED", e)
	}
}

func TestParseTraceStats(t *testing.T) {
	stats := "entries: 5\noverrun: 7\ncommit overrun: 1\nbytes: 900\noldest event ts:  9176.1\nnow ts:  9177.2\ndropped events: 3\nread events: 10\n"
	if n := parseTraceStats([]byte(stats)); n != 11 {
		t.Errorf("lost %d, want 11 (overrun 7, commit overrun 1, dropped 3)", n)
	}
}

// BenchmarkParseTraceLines parses the captured fixture, nine events a
// round, into a reused slice.
func BenchmarkParseTraceLines(b *testing.B) {
	in, err := os.ReadFile("testdata/tracefs_sock.txt")
	if err != nil {
		b.Fatal(err)
	}
	var evs []collect.StateEvent
	var names commNames
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		evs, _, _, _ = parseTraceLines(in, fixtureAt, &names, evs[:0])
	}
}
