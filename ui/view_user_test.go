package ui

import (
	"errors"
	"github.com/charmbracelet/x/ansi"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/filter"
	"socktop/output"
)

// unknownSnap is what gopsutil with --no-owners gives: no queues, timer,
// uid, inode, retrans or cookie, and no owners looked up.
func unknownSnap(owners collect.OwnerCoverage) collect.Snapshot {
	all := collect.FieldRecvQ | collect.FieldSendQ | collect.FieldUID | collect.FieldInode |
		collect.FieldTimer | collect.FieldRetrans | collect.FieldCookie | collect.FieldOwners
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	a.Unknown = all
	b := tcpSock(collect.StateListen, 3001, 0)
	b.Unknown = all &^ collect.FieldOwners
	b.Owners = []collect.Owner{{PID: 42, Name: "srv"}}
	return collect.Snapshot{Taken: t0, Source: "gopsutil", Owners: owners, Sockets: []collect.Socket{a, b}}
}

func rowLine(t *testing.T, screen, addr string) string {
	t.Helper()
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, addr) && strings.Contains(l, "tcp") {
			return l
		}
	}
	t.Fatalf("no row with %s:\n%s", addr, screen)
	return ""
}

// A field the source could not fill shows as ? in the table and
// "unknown" in the detail view, never as 0 or "-"; the header says when
// owners were not looked up, or only partly.
func TestUnknownFieldsShownAsUnknown(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.feed(unknownSnap(collect.OwnersNotLooked))
	scr := h.screen()
	f := strings.Fields(rowLine(t, scr, "127.0.0.1:3000"))
	// tcp ESTABLISHED ? ? local foreign ? ?
	if len(f) != 8 || f[2] != "?" || f[3] != "?" || f[6] != "?" || f[7] != "?" {
		t.Errorf("unknown queues, owners and timer not shown as ?: %q", f)
	}
	f = strings.Fields(rowLine(t, scr, "127.0.0.1:3001"))
	if len(f) < 7 || f[2] != "?" || f[6] != "srv/42" {
		t.Errorf("the listener row: %q", f)
	}
	if !strings.Contains(scr, "owners not looked up") {
		t.Errorf("header does not say owners were not looked up:\n%s", scr)
	}
	h.key("g")
	h.key("enter")
	scr = h.screen()
	for _, label := range []string{"Recv-Q", "Send-Q", "Timer", "Retrans", "UID", "Inode", "Cookie", "Owners"} {
		line := ""
		for _, l := range strings.Split(scr, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), label+" ") {
				line = l
			}
		}
		if !strings.Contains(line, "unknown") {
			t.Errorf("detail %s = %q, want unknown:\n%s", label, line, scr)
		}
	}

	p := newHarness(t, Config{NoColor: true})
	p.feed(unknownSnap(collect.OwnersPartial))
	if !strings.Contains(p.screen(), "owners partial") {
		t.Errorf("header does not say owners are partial:\n%s", p.screen())
	}
	p.key("g")
	p.key("enter")
	if !strings.Contains(p.screen(), "some processes could not be read") {
		t.Errorf("detail does not say why the owners are unknown:\n%s", p.screen())
	}
	// A complete scan and no owner is a real "-".
	c := newHarness(t, Config{NoColor: true})
	s := tcpSock(collect.StateTimeWait, 3000, 40000)
	c.feed(collect.Snapshot{Taken: t0, Owners: collect.OwnersComplete, Sockets: []collect.Socket{s}})
	if f := strings.Fields(rowLine(t, c.screen(), "127.0.0.1:3000")); f[len(f)-1] != "-" || strings.Contains(c.screen(), "owners") {
		t.Errorf("a socket nobody holds: %q\n%s", f, c.screen())
	}
}

// The log shows what the current filter matches, whatever the filter was
// when the transitions were recorded, and its title counts what it shows.
func TestLogRefilters(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{NoColor: true})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	a2, b2 := a, b
	a2.State, b2.State = collect.StateFinWait1, collect.StateCloseWait
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a2, b2}})
	if !strings.Contains(h.screen(), "Transitions (newest first, 2;") {
		t.Fatalf("log before the filter:\n%s", h.screen())
	}
	h.key("/")
	h.typeText("sport = :3000")
	h.key("enter")
	scr := h.screen()
	if strings.Contains(scr, "CLOSE_WAIT") || !strings.Contains(scr, "ESTABLISHED -> FIN_WAIT_1") {
		t.Errorf("log under sport = :3000 shows other sockets or lost its own:\n%s", scr)
	}
	if !strings.Contains(scr, "Transitions (newest first, 1;") {
		t.Errorf("log title does not count what it shows:\n%s", scr)
	}
	h.key("esc")
	if !strings.Contains(h.screen(), "Transitions (newest first, 2;") {
		t.Errorf("clearing the filter did not bring the entry back:\n%s", h.screen())
	}
	// An owner filter judges the socket as it was.
	o := tcpSock(collect.StateEstablished, 3002, 40002)
	o.Owners = []collect.Owner{{PID: 7, Name: "nginx"}}
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{a2, b2}})
	h.feed(collect.Snapshot{Taken: t0.Add(3 * time.Second), Sockets: []collect.Socket{a2, b2, o}})
	h.setFilterText("proc nginx")
	if scr := h.screen(); !strings.Contains(scr, "(new) -> ESTABLISHED") || !strings.Contains(scr, "Transitions (newest first, 1;") {
		t.Errorf("log under proc nginx:\n%s", scr)
	}
}

// setFilterText types s at the prompt, in place of what is there.
func (h *harness) setFilterText(s string) {
	h.key("/")
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typeText(s)
	h.key("enter")
}

// A sampled change that is no single step of the state diagram is drawn
// as a jump, never as an arrow that claims a step; appearing and going
// have marks of their own.
func TestLogMarksJumps(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	c := tcpSock(collect.StateEstablished, 3002, 40002)
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b, c}})
	a2, b2 := a, b
	a2.State, b2.State = collect.StateTimeWait, collect.StateCloseWait
	n := tcpSock(collect.StateSynSent, 3005, 9)
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a2, b2, n}})
	scr := h.screen()
	for _, want := range []string{
		"ESTABLISHED ⇢ TIME_WAIT (between refreshes)",
		"ESTABLISHED -> CLOSE_WAIT",
		"(new) -> SYN_SENT",
		"ESTABLISHED -> (gone)",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("log lacks %q:\n%s", want, scr)
		}
	}
	if strings.Contains(scr, "ESTABLISHED -> TIME_WAIT") {
		t.Errorf("a jump drawn as a step:\n%s", scr)
	}
}

// At 80 columns loopback addresses show whole: the empty Timer column
// gives its room first.
func TestNarrowKeepsAddressesWhole(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	var socks []collect.Socket
	ip := netip.MustParseAddr("127.77.0.12")
	for i := range 5 {
		s := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished,
			Local: ap(ip, 46709+uint16(i)), Remote: ap(netip.MustParseAddr("127.77.0.134"), 44321),
			Owners: []collect.Owner{{PID: 1234, Name: "python3"}}}
		socks = append(socks, s)
	}
	h.feed(collect.Snapshot{Taken: t0, Owners: collect.OwnersComplete, Sockets: socks})
	scr := h.screen()
	checkFrame(t, h.m.frame, 80, 24)
	if !strings.Contains(scr, "127.77.0.12:46709") || !strings.Contains(scr, "127.77.0.134:44321") {
		t.Errorf("addresses cut at 80 columns:\n%s", scr)
	}
	if strings.Contains(scr, "Timer") {
		t.Errorf("the empty Timer column kept its room:\n%s", scr)
	}
	// Where even that is not enough, the IP goes whole and the port
	// stays: never a cut IP that reads as another address.
	h.send(tea.WindowSizeMsg{Width: 40, Height: 15})
	scr = h.screen()
	if strings.Contains(scr, "127.77.0…") || strings.Contains(scr, "127.…") || !strings.Contains(scr, "…:46709") {
		t.Errorf("at 40 columns:\n%s", scr)
	}
}

// The column titles do not change while scrolling through rows of
// different widths.
func TestHeadersStableWhileScrolling(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 12})
	var socks []collect.Socket
	for i := range 30 {
		s := tcpSock(collect.StateEstablished, uint16(1000+i), 9)
		if i > 20 {
			s.Local = ap(netip.MustParseAddr("127.100.200.201"), 60000+uint16(i))
			s.Remote = ap(netip.MustParseAddr("127.100.200.202"), 60000)
		}
		s.Owners = []collect.Owner{{PID: 1, Name: "x"}}
		socks = append(socks, s)
	}
	h.feed(collect.Snapshot{Taken: t0, Owners: collect.OwnersComplete, Sockets: socks})
	title := func() string { return strings.Split(h.screen(), "\n")[h.m.hs.header] }
	first := title()
	for range 30 {
		h.key("j")
		if got := title(); got != first {
			t.Fatalf("column titles changed while scrolling:\n%s\n%s", first, got)
		}
	}
}

// The filter stays visible on a short terminal, where the header has two
// lines.
func TestShortHeaderKeepsFilter(t *testing.T) {
	h := newHarness(t, Config{NoColor: true, Filter: "tcp"})
	h.send(tea.WindowSizeMsg{Width: 40, Height: 10})
	h.feed(fixture())
	checkFrame(t, h.m.frame, 40, 10)
	if !strings.Contains(h.screen(), "filter: tcp") {
		t.Errorf("filter not visible at 40x10:\n%s", h.screen())
	}
}

// The sparkline scales from zero: a few sockets more or less on 100,000
// is no full-height swing.
func TestSparklineFromZero(t *testing.T) {
	got := sparkline([]sample{{at: t0, total: 100021}, {at: t0.Add(30 * time.Second), total: 100025}}, 4)
	if strings.ContainsAny(got, "▁▂▃▄▅▆") {
		t.Errorf("100,021 vs 100,025 drawn as %q", got)
	}
	got = sparkline([]sample{{at: t0, total: 0}, {at: t0.Add(30 * time.Second), total: 50}, {at: t0.Add(59 * time.Second), total: 100}}, 3)
	if got != "▁▄█" {
		t.Errorf("0, 50, 100 drawn as %q, want ▁▄█", got)
	}
}

// Keys typed at the prompt redraw only the prompt, and a paste goes in
// at once; the frame is the same as a full redraw would give.
func TestPromptKeysRedrawOnlyThePrompt(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(fixture())
	h.key("/")
	tables := h.m.table.renders
	text := strings.Repeat("sport = :80 or ", 300)
	h.typeText(text)
	if h.m.table.renders != tables {
		t.Errorf("%d key presses at the prompt drew the table %d times", len(text), h.m.table.renders-tables)
	}
	typed := h.m.frame
	h.m.render()
	if h.m.frame != typed {
		t.Errorf("the prompt-only frame differs from a full one:\n%s\n---\n%s", typed, h.m.frame)
	}
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	tables = h.m.table.renders
	h.send(tea.PasteMsg{Content: strings.Repeat("x", 5000)})
	if n := len(h.m.prompt.input.Value()); n != 5000 || h.m.table.renders != tables {
		t.Errorf("paste: %d runes, %d table draws", n, h.m.table.renders-tables)
	}
	// A snapshot arriving while the prompt is open is drawn.
	h.feed(fixtureNext())
	if h.m.table.renders == tables {
		t.Errorf("a refresh under the prompt did not redraw the table")
	}
}

// A filter error is shown whole at 80 columns, also when it breaks near
// the right edge.
func TestPromptErrorWhole(t *testing.T) {
	for _, expr := range []string{"state bogus", strings.Repeat(" ", 60) + "sport = :80 and port"} {
		h := newHarness(t, Config{NoColor: true})
		h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
		h.feed(fixture())
		h.key("/")
		h.typeText(expr)
		h.key("enter")
		checkFrame(t, h.m.frame, 80, 24)
		var fe *filter.Error
		if !errors.As(h.m.prompt.err, &fe) {
			t.Fatalf("%q: error %v", expr, h.m.prompt.err)
		}
		input, under := promptLines(h.screen())
		off := h.m.prompt.scroll(80)
		if i := strings.Index(under, "^"); i < 0 || i > len(input) || fe.Col-1-off != i-len(promptPrefix) {
			t.Errorf("%q: caret at %d, error at column %d:\n%s\n%s", expr, strings.Index(under, "^"), fe.Col, input, under)
		}
		msg := words(fe.Msg)
		if !strings.Contains(joined(h.screen()), msg) {
			t.Errorf("%q: the error %q is cut:\n%s", expr, fe.Msg, h.screen())
		}
	}
}

// The footer keeps q quit at 80 columns, in every mode, demos or not.
func TestFooterKeepsQuit(t *testing.T) {
	h := newHarness(t, Config{NoColor: true, Filter: "tcp"})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.feed(fixture())
	startDemo(t, h, scenario(t, "server-restart"), false)
	for _, k := range []string{"j", "enter", "esc", "?", "esc", "d"} {
		h.key(k)
		lines := strings.Split(h.screen(), "\n")
		if foot := lines[len(lines)-1]; !strings.Contains(foot, "q quit") {
			t.Errorf("after %s the footer hides q quit: %q", k, foot)
		}
	}
}

// The detail view: no RTT on a listener, "esc back" alone, and a gone
// socket's last step shown as gone.
func TestDetailCosmetics(t *testing.T) {
	l := tcpSock(collect.StateListen, 80, 0)
	l.Info = &collect.TCPInfo{}
	e := tcpSock(collect.StateEstablished, 3000, 40000)
	h := newHarness(t, Config{NoColor: true})
	h.feed(collect.Snapshot{Taken: t0, Owners: collect.OwnersComplete, Sockets: []collect.Socket{l, e}})
	h.key("g")
	h.key("enter")
	scr := h.screen()
	if !strings.Contains(scr, "Socket tcp 127.0.0.1:80") || strings.Contains(scr, "0s ± 0s") || !strings.Contains(scr, "none for a listener") {
		t.Errorf("listener detail:\n%s", scr)
	}
	if strings.Contains(scr, "clear filter") || !strings.Contains(scr, "esc back") {
		t.Errorf("detail footer:\n%s", scr)
	}
	h.key("esc")
	h.key("j")
	h.key("enter")
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Owners: collect.OwnersComplete, Sockets: []collect.Socket{l}})
	scr = h.screen()
	if !strings.Contains(scr, "[gone]") || !regexp.MustCompile(`sampled +CLOSED`).MatchString(scr) || strings.Contains(scr, "no transition") {
		t.Errorf("gone socket's detail:\n%s", scr)
	}
}

// addrLen counts what AppendAddr would write, also when its memo of the
// last IPv6 address is hit, missed, or holds an address with a zone.
func TestAddrLen(t *testing.T) {
	var n colNeed
	addrs := []string{"0.0.0.0:0", "127.0.0.1:5", "255.255.255.255:65535", "10.2.30.4:443", "[::]:0", "[::1]:8080",
		"[::1]:8080", "[::1]:1", "[fe80::1:2:3:4]:1", "[::ffff:1.2.3.4]:80", "[fe80::1%eth0]:22", "[fe80::1]:22", "[::]:0"}
	for _, s := range addrs {
		ap := netip.MustParseAddrPort(s)
		for _, fam := range []uint8{4, 6} {
			if got, want := n.addrLen(int(fam)%2, ap, fam), len(output.FormatAddr(ap, fam)); got != want {
				t.Errorf("addrLen(%s, %d) = %d, want %d", s, fam, got, want)
			}
		}
	}
	if got, want := n.addrLen(0, netip.AddrPort{}, 6), len(output.FormatAddr(netip.AddrPort{}, 6)); got != want {
		t.Errorf("addrLen(invalid, 6) = %d, want %d", got, want)
	}
}

// The footer's help line is kept between frames; it must still follow
// what it was built from: a filter set and cleared, the width, the mode.
func TestFooterFollowsItsBindings(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 200, Height: 24})
	h.feed(fixture())
	foot := func() string {
		lines := strings.Split(h.screen(), "\n")
		return lines[len(lines)-1]
	}
	if f := foot(); strings.Contains(f, "clear filter") || !strings.Contains(f, "/ filter") {
		t.Fatalf("no filter yet, footer %q", f)
	}
	h.key("/")
	h.typeText("tcp")
	h.key("enter")
	if f := foot(); !strings.Contains(f, "esc clear filter") {
		t.Errorf("with a filter the footer does not offer to clear it: %q", f)
	}
	h.feed(fixture())
	if f := foot(); !strings.Contains(f, "esc clear filter") {
		t.Errorf("after a refresh the footer lost the clear key: %q", f)
	}
	h.key("esc")
	if f := foot(); strings.Contains(f, "clear filter") {
		t.Errorf("the filter is cleared, the footer still offers it: %q", f)
	}
	wide := foot()
	h.send(tea.WindowSizeMsg{Width: 40, Height: 24})
	if f := foot(); f == wide || ansi.StringWidth(f) > 40 || !strings.Contains(f, "q quit") {
		t.Errorf("at 40 columns the footer is %q (at 200: %q)", f, wide)
	}
	h.key("?")
	if f := foot(); !strings.Contains(f, "esc back") || strings.Contains(f, "/ filter") {
		t.Errorf("the help screen's footer is %q", f)
	}
}

// The header cuts a long notice at the terminal's width; the help screen
// has it whole, wrapped, with what it says last (how to restore it).
func TestHelpShowsNoticesWhole(t *testing.T) {
	long := "exact transitions off, sampled from snapshots instead: BPF refused (operation not permitted); to restore them run as root, or give socktop cap_bpf and cap_perfmon"
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 60, Height: 40})
	snap := fixture()
	snap.Notices = []string{"not root: owners of other users' processes are unknown", long}
	h.feed(snap)
	if strings.Contains(h.screen(), "cap_perfmon") {
		t.Fatalf("the header was expected to cut the notice at 60 columns:\n%s", h.screen())
	}
	h.key("?")
	scr := h.screen()
	var body []string
	for _, l := range strings.Split(scr, "\n") {
		if ansi.StringWidth(l) > 60 {
			t.Errorf("a help line is wider than the terminal: %q", l)
		}
		body = append(body, strings.TrimSpace(l))
	}
	joined := strings.Join(body, " ")
	if !strings.Contains(scr, "What this run cannot show") || !strings.Contains(joined, long) ||
		!strings.Contains(joined, "• not root: owners of other users' processes are unknown") {
		t.Errorf("the help screen does not hold both notices whole:\n%s", scr)
	}
	if !strings.Contains(scr, "At the / prompt") {
		t.Errorf("the keys' help is gone:\n%s", scr)
	}

	quiet := newHarness(t, Config{NoColor: true})
	quiet.send(tea.WindowSizeMsg{Width: 60, Height: 40})
	quiet.feed(fixture())
	quiet.key("?")
	if strings.Contains(quiet.screen(), "What this run cannot show") {
		t.Errorf("a run without notices has a notices title:\n%s", quiet.screen())
	}
}
