package segments

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"socktop/collect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const us = time.Microsecond

// politeFixture is a polite close as the capture and the tracker give
// it: the server's ISN at the top of sequence space, so its relative
// numbers wrap; a segment of another connection that the diagram
// leaves out; a sampled TIME_WAIT.
func politeFixture(client, server netip.AddrPort) ([]Segment, Sides) {
	var c, s uint32 = 1_000_000_000, 4_294_967_295
	seg := func(d time.Duration, fromClient bool, f Flags, seq, ack uint32, n int, win uint16) Segment {
		src, dst := client, server
		if !fromClient {
			src, dst = server, client
		}
		return Segment{Time: at(d), Src: src, Dst: dst, Flags: f, Seq: seq, Ack: ack, Len: n, Win: win}
	}
	other := seg(200*us, true, ACK, 7, 7, 0, 9)
	other.Src = netip.AddrPortFrom(client.Addr(), client.Port()+1)
	segs := []Segment{
		seg(0, true, SYN, c, 0, 0, 65495),
		seg(20*us, false, SYN|ACK, s, c+1, 0, 65483),
		seg(40*us, true, ACK, c+1, s+1, 0, 512),
		seg(100*us, true, PSH|ACK, c+1, s+1, 5, 512),
		seg(150*us, false, ACK, s+1, c+6, 0, 512),
		other,
		seg(300*us, true, FIN|ACK, c+6, s+1, 0, 512),
		seg(315*us, false, ACK, s+1, c+7, 0, 512),
		seg(1100*us, false, FIN|ACK, s+1, c+7, 0, 512),
		seg(1150*us, true, ACK, c+7, s+2, 0, 512),
	}
	k := collect.Kernel
	sides := Sides{
		Client: client, Server: server,
		ClientPath: []collect.Step{
			{State: collect.StateSynSent, At: at(-12 * us), Source: k},
			{State: collect.StateEstablished, At: at(30 * us), Source: k},
			{State: collect.StateFinWait1, At: at(290 * us), Source: k},
			{State: collect.StateFinWait2, At: at(320 * us), Source: k},
			{State: collect.StateTimeWait, At: at(1200 * us), Source: collect.Sampled},
		},
		ServerPath: []collect.Step{
			{State: collect.StateListen, At: at(-2500 * time.Millisecond), Source: k},
			{State: collect.StateSynRecv, At: at(10 * us), Source: k},
			{State: collect.StateEstablished, At: at(50 * us), Source: k},
			{State: collect.StateCloseWait, At: at(310 * us), Source: k},
			{State: collect.StateLastAck, At: at(1090 * us), Source: k},
			{State: collect.StateClosed, At: at(1160 * us), Source: k},
			{State: collect.StateClosed}, // no time: left out
		},
	}
	return segs, sides
}

// abortiveFixture starts after the handshake (no SYN seen), names no
// sides, and ends in an RST.
func abortiveFixture() []Segment {
	c := netip.MustParseAddrPort("127.1.2.3:40112")
	s := netip.MustParseAddrPort("127.1.2.3:5000")
	return []Segment{
		{Time: at(0), Src: c, Dst: s, Flags: PSH | ACK, Seq: 3000, Ack: 9000, Len: 2, Win: 512},
		{Time: at(2 * time.Second), Src: s, Dst: c, Flags: ACK, Seq: 9000, Ack: 3002, Win: 512},
		{Time: at(150 * time.Second), Src: c, Dst: s, Flags: RST | ACK, Seq: 3002, Ack: 9000},
	}
}

var goldenWidths = []int{100, 80, 60, 40, 24}

// TestDiagramGolden compares the diagram's text at several widths with
// the golden files; go test ./collect/segments -update rewrites them.
func TestDiagramGolden(t *testing.T) {
	v4c, v4s := netip.MustParseAddrPort("127.1.2.3:40112"), netip.MustParseAddrPort("127.1.2.3:5000")
	polite, sides := politeFixture(v4c, v4s)
	polite6, sides6 := politeFixture(netip.MustParseAddrPort("[::1]:40112"), netip.MustParseAddrPort("[::1]:5000"))
	cases := []struct {
		name  string
		segs  []Segment
		sides Sides
	}{
		{"polite", polite, sides},
		{"polite_ipv6", polite6, sides6},
		{"polite_no_states", polite, Sides{Client: v4c, Server: v4s}},
		{"abortive_no_syn", abortiveFixture(), Sides{}},
		{"empty", nil, Sides{Client: v4c, Server: v4s}},
	}
	for _, tc := range cases {
		var b strings.Builder
		for _, w := range goldenWidths {
			fmt.Fprintf(&b, "=== width %d\n", w)
			for _, line := range Diagram(tc.segs, tc.sides, w) {
				b.WriteString(line + "\n")
			}
		}
		checkGolden(t, "diagram_"+tc.name, b.String())
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./collect/segments -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run go test ./collect/segments -update after checking the change):\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

// TestDiagramNumbers: seq and ack are relative to each side's ISN, across
// the wrap of sequence space, and absolute when no SYN was seen.
func TestDiagramNumbers(t *testing.T) {
	polite, sides := politeFixture(netip.MustParseAddrPort("127.1.2.3:40112"), netip.MustParseAddrPort("127.1.2.3:5000"))
	text := strings.Join(Diagram(polite, sides, 80), "\n")
	for _, want := range []string{
		"SYN seq 0 win 65495", "SYN,ACK seq 0 ack 1 win 65483", "ACK,PSH seq 1 ack 1 len 5 win 512",
		"ACK seq 1 ack 6 win 512", "FIN,ACK seq 1 ack 7", "ACK seq 7 ack 2 win 512",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagram lacks %q:\n%s", want, text)
		}
	}
	text = strings.Join(Diagram(abortiveFixture(), Sides{}, 80), "\n")
	for _, want := range []string{"no SYN was captured", "ACK,PSH seq 3000 ack 9000 len 2", "RST,ACK seq 3002 ack 9000"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagram lacks %q:\n%s", want, text)
		}
	}
}

// TestDiagramFits: at every width every line fits, carries no escape
// sequence and no trailing space; from 40 columns on, each segment of the
// connection has one arrow, in order, and each timed state shows once.
func TestDiagramFits(t *testing.T) {
	client, server := netip.MustParseAddrPort("[::1]:40112"), netip.MustParseAddrPort("[::1]:5000")
	segs, sides := politeFixture(client, server)
	for w := 1; w <= 140; w++ {
		lines := Diagram(segs, sides, w)
		if len(lines) == 0 {
			t.Fatalf("width %d: no lines", w)
		}
		var arrows []string
		states := map[string]int{}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > w {
				t.Errorf("width %d: line of %d columns: %q", w, n, l)
			}
			if strings.ContainsRune(l, 0x1b) || strings.HasSuffix(l, " ") {
				t.Errorf("width %d: line %q has an escape or a trailing space", w, l)
			}
			if strings.Contains(l, "->|") || strings.Contains(l, "|<-") {
				arrows = append(arrows, l)
			}
			for _, f := range strings.Fields(l) {
				f = strings.Trim(f, "|")
				states[f]++
			}
		}
		if w < 40 {
			continue
		}
		var want []Segment
		for _, s := range segs {
			if s.Src == client || s.Dst == client {
				want = append(want, s)
			}
		}
		if len(arrows) != len(want) {
			t.Fatalf("width %d: %d arrows for %d segments:\n%s", w, len(arrows), len(want), strings.Join(lines, "\n"))
		}
		for i, s := range want {
			toServer := strings.HasSuffix(arrows[i], ">|")
			if !strings.Contains(arrows[i], s.Flags.String()+" ") || toServer != (s.Src == client) {
				t.Errorf("width %d: arrow %d %q is not %s from %s", w, i, arrows[i], s.Flags, s.Src)
			}
		}
		for _, p := range [][]collect.Step{sides.ClientPath, sides.ServerPath} {
			for _, st := range p {
				if st.At.IsZero() {
					continue
				}
				name := st.State.String()
				if st.Source != collect.Kernel {
					name = sampledMark + name
				}
				if states[name] == 0 {
					t.Errorf("width %d: state %s not shown:\n%s", w, name, strings.Join(lines, "\n"))
				}
			}
		}
	}
}

// BenchmarkDiagram is one layout of a polite close, nine segments and
// eleven states, at 80 columns.
func BenchmarkDiagram(b *testing.B) {
	segs, sides := politeFixture(netip.MustParseAddrPort("127.1.2.3:40112"), netip.MustParseAddrPort("127.1.2.3:5000"))
	b.ReportAllocs()
	for b.Loop() {
		Diagram(segs, sides, 80)
	}
}
