package ui

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/filter"
)

func rowKeys(m *model) []collect.Key {
	var ks []collect.Key
	for _, r := range m.rows {
		ks = append(ks, r.s.Key())
	}
	return ks
}

func TestInitCollectsInCmdNotInUpdate(t *testing.T) {
	h := newHarness(t, Config{}, fixture())
	cmd := h.m.Init()
	if h.src.Calls() != 0 {
		t.Fatalf("Init called the source itself")
	}
	var snap *snapMsg
	var tick *tickMsg
	for _, msg := range run(cmd) {
		switch msg := msg.(type) {
		case snapMsg:
			snap = &msg
		case tickMsg:
			tick = &msg
		}
	}
	if snap == nil || tick == nil {
		t.Fatalf("Init's Cmd gave snap=%v tick=%v, want both", snap, tick)
	}
	if h.src.Calls() != 1 {
		t.Fatalf("source called %d times, want 1 (by the Cmd)", h.src.Calls())
	}
	// Feeding the result and a tick: Update must not call the source; the
	// tick's Cmd does.
	h.send(*snap)
	cmd = h.send(*tick)
	if h.src.Calls() != 1 {
		t.Fatalf("Update called the source")
	}
	msgs := run(cmd)
	if h.src.Calls() != 2 {
		t.Fatalf("the tick's Cmd did not collect: %d calls", h.src.Calls())
	}
	if len(msgs) != 2 {
		t.Fatalf("tick Cmd gave %d messages, want a snapshot and the next tick", len(msgs))
	}
}

func TestAtMostOneCollectionInFlight(t *testing.T) {
	h := newHarness(t, Config{}, fixture())
	h.m.Init() // marks a collection in flight; its result is never delivered
	cmd := h.send(tickMsg{gen: h.m.gen})
	for _, msg := range run(cmd) {
		if _, ok := msg.(snapMsg); ok {
			t.Fatalf("a second collection started while one was in flight")
		}
	}
	if h.src.Calls() != 0 {
		t.Fatalf("source called %d times", h.src.Calls())
	}
}

func TestStaleTickDropped(t *testing.T) {
	h := newHarness(t, Config{Interval: time.Second}, fixture())
	old := h.m.gen
	cmd := h.key("+")
	if h.m.interval != 500*time.Millisecond {
		t.Fatalf("interval after + = %v, want 500ms", h.m.interval)
	}
	msgs := run(cmd)
	if len(msgs) != 1 || msgs[0].(tickMsg).gen == old {
		t.Fatalf("+ should schedule a tick of a new generation, got %v", msgs)
	}
	if cmd := h.send(tickMsg{gen: old}); cmd != nil {
		t.Fatalf("a stale tick produced a Cmd")
	}
	if cmd := h.send(msgs[0]); cmd == nil {
		t.Fatalf("the current tick produced no Cmd")
	}
}

func TestIntervalSteps(t *testing.T) {
	h := newHarness(t, Config{Interval: time.Second}, fixture())
	want := []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}
	for _, w := range want {
		h.key("-")
		if h.m.interval != w {
			t.Fatalf("after -: %v, want %v", h.m.interval, w)
		}
	}
	for range 10 {
		h.key("+")
	}
	if h.m.interval != 100*time.Millisecond {
		t.Fatalf("floor is %v, want 100ms", h.m.interval)
	}
	if !strings.Contains(h.screen(), "every 100ms") {
		t.Fatalf("header does not show the interval:\n%s", h.screen())
	}
}

func TestNavigationKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.feed(fixture())
	n := len(h.m.rows)
	if n < 20 {
		t.Fatalf("fixture has %d rows", n)
	}
	steps := []struct {
		key  string
		want int
	}{
		{"j", 1}, {"down", 2}, {"k", 1}, {"up", 0}, {"up", 0},
		{"G", n - 1}, {"g", 0}, {"pgdown", h.m.table.visibleRows()}, {"pgup", 0},
	}
	for _, s := range steps {
		h.key(s.key)
		if h.m.selected != s.want {
			t.Fatalf("after %q selected=%d, want %d", s.key, h.m.selected, s.want)
		}
	}
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if h.m.selected != 3 {
		t.Fatalf("wheel down: selected=%d, want 3", h.m.selected)
	}
	h.key("G")
	if h.m.table.offset+h.m.table.visibleRows() != n {
		t.Fatalf("last row not scrolled into view: offset %d rows %d n %d", h.m.table.offset, h.m.table.visibleRows(), n)
	}
}

func TestSortKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("s") // Local -> Foreign
	if h.m.table.sortCol != colForeign {
		t.Fatalf("sort column %v, want Foreign", h.m.table.sortCol)
	}
	for range 4 { // Process, Timer, Proto, State
		h.key("s")
	}
	if h.m.table.sortCol != colState {
		t.Fatalf("sort column %v, want State", h.m.table.sortCol)
	}
	check := func(desc bool) {
		for i := 1; i < len(h.m.rows); i++ {
			c := cmpBy(colState, h.m.rows[i-1].s, h.m.rows[i].s)
			if (!desc && c > 0) || (desc && c < 0) || c == 0 {
				t.Fatalf("rows %d,%d out of order (desc=%v): %v %v", i-1, i, desc, h.m.rows[i-1].s.Key(), h.m.rows[i].s.Key())
			}
		}
	}
	check(false)
	if !strings.Contains(h.screen(), "State▲") {
		t.Fatalf("header row does not show the sort column:\n%s", h.screen())
	}
	h.key("S")
	check(true)
	if !strings.Contains(h.screen(), "State▼") {
		t.Fatalf("header row does not show the reversed sort:\n%s", h.screen())
	}
}

func TestSelectionFollowsSocket(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	c := tcpSock(collect.StateEstablished, 3002, 40002)
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b, c}})
	h.key("j")
	h.key("j")
	if got := h.m.rows[h.m.selected].s.Key(); got != c.Key() {
		t.Fatalf("selected %v, want %v", got, c.Key())
	}
	// Three rows sort before the selected one now.
	x := tcpSock(collect.StateEstablished, 2000, 1)
	y := tcpSock(collect.StateEstablished, 2001, 1)
	z := tcpSock(collect.StateListen, 1000, 0)
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{c, x, a, y, b, z}})
	if got := h.m.rows[h.m.selected].s.Key(); got != c.Key() {
		t.Fatalf("after inserting rows, selected %v, want %v", got, c.Key())
	}
	if h.m.selected != 5 {
		t.Fatalf("selected index %d, want 5", h.m.selected)
	}
	// The selected socket changes state: still selected.
	c2 := c
	c2.State = collect.StateCloseWait
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{c2, x, a, y, b, z}})
	if got := h.m.rows[h.m.selected]; got.s.Key() != c.Key() || got.s.State != collect.StateCloseWait {
		t.Fatalf("after a state change, selected %v %v", got.s.Key(), got.s.State)
	}
}

func TestMarksGoneRowsAndLog(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	if len(h.m.marks) != 0 {
		t.Fatalf("the first snapshot should mark nothing, got %d marks", len(h.m.marks))
	}
	a2 := a
	a2.State = collect.StateFinWait2
	n := tcpSock(collect.StateSynSent, 3005, 9)
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a2, n}})
	if h.m.marks[a.Key()].mark != markChanged || h.m.marks[n.Key()].mark != markNew {
		t.Fatalf("marks: %v", h.m.marks)
	}
	var gone int
	for _, r := range h.m.rows {
		if r.mark == markGone {
			gone++
			if r.s.Key() != b.Key() {
				t.Fatalf("gone row %v, want %v", r.s.Key(), b.Key())
			}
		}
	}
	if gone != 1 {
		t.Fatalf("%d gone rows, want 1", gone)
	}
	scr := h.screen()
	for _, want := range []string{"ESTABLISHED ⇢ FIN_WAIT_2 (jump", "(new) -> SYN_SENT", "ESTABLISHED -> (gone)"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("log pane lacks %q:\n%s", want, scr)
		}
	}
	// Marker characters show the marks without colour.
	if !strings.Contains(scr, "\n*>tcp") || !strings.Contains(scr, "\n+ tcp") || !strings.Contains(scr, "\n- tcp") {
		t.Fatalf("marker column missing:\n%s", scr)
	}
	// The gone row stays for markRefreshes refreshes in all, then goes.
	for i := 2; i <= markRefreshes+1; i++ {
		h.feed(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Sockets: []collect.Socket{a2, n}})
		still := false
		for _, r := range h.m.rows {
			still = still || r.mark == markGone
		}
		if want := i < markRefreshes+1; still != want {
			t.Fatalf("refresh %d: gone row present=%v, want %v", i, still, want)
		}
	}
	if len(h.m.marks) != 0 {
		t.Fatalf("marks should expire, %d left", len(h.m.marks))
	}
	// The history of the connection is kept for the detail view.
	if hist := h.m.hist.byKey[a.Key()]; len(hist) != 1 || hist[0].to != collect.StateFinWait2 {
		t.Fatalf("history of a: %v", hist)
	}
}

func TestPauseFreezesView(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{tcpSock(collect.StateListen, 80, 0)}})
	h.key("space")
	if !strings.Contains(h.screen(), "PAUSED") {
		t.Fatalf("PAUSED not shown:\n%s", h.screen())
	}
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{tcpSock(collect.StateListen, 80, 0), tcpSock(collect.StateListen, 81, 0)}})
	if len(h.m.rows) != 1 {
		t.Fatalf("paused view changed: %d rows", len(h.m.rows))
	}
	// The tick chain goes on while paused.
	if cmd := h.send(tickMsg{gen: h.m.gen}); cmd == nil {
		t.Fatalf("ticks stopped while paused")
	}
	h.key("space")
	if len(h.m.rows) != 2 || strings.Contains(h.screen(), "PAUSED") {
		t.Fatalf("resume did not apply the newest snapshot: %d rows", len(h.m.rows))
	}
}

func TestHelpAndDetailKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("?")
	if h.m.mode != modeHelp || !strings.Contains(h.screen(), "reverse sort") {
		t.Fatalf("? did not show the full help:\n%s", h.screen())
	}
	h.key("esc")
	if h.m.mode != modeTable {
		t.Fatalf("esc did not leave help")
	}
	for i, r := range h.m.rows {
		if r.s.State == collect.StateCloseWait {
			h.m.selected, h.m.selKey = i, r.s.Key()
		}
	}
	cmd := h.key("enter")
	if h.m.mode != modeDetail {
		t.Fatalf("enter did not open the detail view")
	}
	if cmd != nil {
		t.Fatalf("no InfoSource, yet the detail view started a fetch")
	}
	scr := h.screen()
	for _, want := range []string{"CLOSE_WAIT", "leaky-server-with-a-long-name/4000", "Recv-Q", "not available"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("detail lacks %q:\n%s", want, scr)
		}
	}
	h.key("esc")
	if h.m.mode != modeTable {
		t.Fatalf("esc did not leave the detail view")
	}
	if cmd := h.key("q"); cmd == nil || cmd() != tea.Quit() {
		t.Fatalf("q does not quit")
	}
}

// infoSource answers Info for one key and records being called.
type infoSource struct {
	want  collect.Key
	calls int
}

func (s *infoSource) Info(_ context.Context, k collect.Key) (*collect.TCPInfo, error) {
	s.calls++
	if k != s.want {
		return nil, collect.ErrNotFound
	}
	return &collect.TCPInfo{RTT: 120 * time.Microsecond, RTTVar: 30 * time.Microsecond, Cwnd: 10, BytesAcked: 1234, BytesReceived: 99}, nil
}

func TestDetailFetchesInfoInCmd(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	info := &infoSource{want: a.Key()}
	h := newHarness(t, Config{Info: info})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a}})
	cmd := h.key("enter")
	if info.calls != 0 {
		t.Fatalf("Update called Info itself")
	}
	if !strings.Contains(h.screen(), "fetching") {
		t.Fatalf("no fetching notice:\n%s", h.screen())
	}
	msgs := run(cmd)
	if info.calls != 1 || len(msgs) != 1 {
		t.Fatalf("the Cmd did not fetch: calls=%d msgs=%v", info.calls, msgs)
	}
	h.send(msgs[0])
	scr := h.screen()
	for _, want := range []string{"120µs ± 30µs", "Cwnd", "1234", "99"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("detail lacks %q:\n%s", want, scr)
		}
	}
}

func TestFilterPrompt(t *testing.T) {
	h := newHarness(t, Config{Filter: "tcp"})
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.feed(fixture())
	for _, r := range h.m.rows {
		if r.s.Proto != collect.TCP {
			t.Fatalf("initial filter not applied: %v", r.s.Key())
		}
	}
	all := len(fixture().Sockets)
	h.key("/")
	if !h.m.prompt.active {
		t.Fatalf("/ did not open the prompt")
	}
	// Replace the text with a good filter.
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typeText("udp")
	h.key("enter")
	if h.m.prompt.active || h.m.filterText != "udp" || len(h.m.rows) != 2 {
		t.Fatalf("filter udp: active=%v text=%q rows=%d", h.m.prompt.active, h.m.filterText, len(h.m.rows))
	}
	if !strings.Contains(h.screen(), "filter: udp") {
		t.Fatalf("header does not show the filter:\n%s", h.screen())
	}
	// A bad one: the prompt stays, the error names the column, the old
	// filter stays in force.
	h.key("/")
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typeText("sport = :80 and bogus")
	h.key("enter")
	if !h.m.prompt.active || h.m.prompt.err == nil {
		t.Fatalf("bad filter closed the prompt")
	}
	if !errors.Is(h.m.prompt.err, filter.ErrBad) {
		t.Fatalf("prompt error %v does not wrap filter.ErrBad", h.m.prompt.err)
	}
	var fe *filter.Error
	errors.As(h.m.prompt.err, &fe)
	if fe.Col != 17 {
		t.Fatalf("error column %d, want 17 (bogus)", fe.Col)
	}
	if h.m.filterText != "udp" || len(h.m.rows) != 2 {
		t.Fatalf("bad filter replaced the old one: %q", h.m.filterText)
	}
	inputLine, caretLine := promptLines(h.screen())
	if i := strings.Index(caretLine, "^"); i < 0 || inputLine[i:i+5] != "bogus" {
		t.Fatalf("caret not under the bad word:\n%s\n%s", inputLine, caretLine)
	}
	// Leading spaces count: the caret stays under the bad word.
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typeText("   state bogus")
	h.key("enter")
	inputLine, caretLine = promptLines(h.screen())
	if i := strings.Index(caretLine, "^"); i < 0 || i+5 > len(inputLine) || inputLine[i:i+5] != "bogus" {
		t.Fatalf("with leading spaces the caret is not under the bad word:\n%s\n%s", inputLine, caretLine)
	}
	// esc cancels the prompt, keeping the filter; esc again clears it.
	h.key("esc")
	if h.m.prompt.active || h.m.filterText != "udp" {
		t.Fatalf("esc in the prompt: active=%v filter=%q", h.m.prompt.active, h.m.filterText)
	}
	h.key("esc")
	if h.m.filterText != "" || len(h.m.rows) != all {
		t.Fatalf("esc in the table did not clear the filter: %q %d rows", h.m.filterText, len(h.m.rows))
	}
}

func TestQuitFromPrompt(t *testing.T) {
	h := newHarness(t, Config{})
	h.key("/")
	h.typeText("q")
	if h.m.prompt.input.Value() != "q" {
		t.Fatalf("q in the prompt should type, got %q", h.m.prompt.input.Value())
	}
	if cmd := h.key("ctrl+c"); cmd == nil || cmd() != tea.Quit() {
		t.Fatalf("ctrl+c in the prompt does not quit")
	}
}

func TestCollectErrorShown(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(snapMsg{err: errors.New("netlink: permission denied")})
	if !strings.Contains(h.screen(), "permission denied") {
		t.Fatalf("error not shown:\n%s", h.screen())
	}
}

// The packed sort keys must order rows exactly as the plain comparison
// does, for every column, both ways, IPv4 and IPv6 mixed.
func TestSortKeysAgreeWithCompare(t *testing.T) {
	snap := fixture()
	extra := fixtureNext()
	socks := append(snap.Sockets, extra.Sockets...)
	for col := range numColumns {
		for _, desc := range []bool{false, true} {
			rows := make([]row, len(socks))
			for i := range socks {
				rows[i] = row{s: &socks[i]}
			}
			var s sorter
			rows = s.sortRows(rows, col, desc)
			for i := 1; i < len(rows); i++ {
				c := cmpBy(col, rows[i-1].s, rows[i].s)
				if desc {
					c = -c
				}
				if c > 0 {
					t.Fatalf("%v desc=%v: rows %d and %d out of order: %+v / %+v", col, desc, i-1, i, *rows[i-1].s, *rows[i].s)
				}
			}
		}
	}
}

// The detail view stays on its socket when it goes away, marked gone, and
// refreshes tcp_info after each snapshot while the socket is there.
func TestDetailFollowsItsSocket(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	info := &infoSource{want: a.Key()}
	h := newHarness(t, Config{Info: info})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	for _, msg := range run(h.key("enter")) {
		h.send(msg)
	}
	if info.calls != 1 {
		t.Fatalf("Info calls %d, want 1", info.calls)
	}
	cmd := h.send(snapMsg{snap: collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a, b}}})
	if run(cmd); info.calls != 2 {
		t.Fatalf("a refresh did not refetch tcp_info: %d calls", info.calls)
	}
	for i := 2; i < 2+markRefreshes+1; i++ {
		h.feed(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Sockets: []collect.Socket{b}})
	}
	if h.m.detail.sock.Key() != a.Key() || !h.m.detail.gone {
		t.Fatalf("detail shows %v gone=%v, want %v gone", h.m.detail.sock.Key(), h.m.detail.gone, a.Key())
	}
	if !strings.Contains(h.screen(), "[gone]") || !strings.Contains(h.screen(), ":3000") {
		t.Fatalf("detail does not say gone:\n%s", h.screen())
	}
}

// A table with more distinct addresses than the packed key can rank is
// sorted by the plain comparison, in the same order.
func TestSortManyAddresses(t *testing.T) {
	socks := make([]collect.Socket, maxRanks+100)
	for i := range socks {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		socks[len(socks)-1-i] = collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished,
			Local: netip.AddrPortFrom(a, 80), Remote: netip.AddrPortFrom(lo4, uint16(i))}
	}
	rows := make([]row, len(socks))
	for i := range socks {
		rows[i] = row{s: &socks[i]}
	}
	var s sorter
	rows = s.sortRows(rows, colLocal, false)
	for i := 1; i < len(rows); i++ {
		if cmpBy(colLocal, rows[i-1].s, rows[i].s) >= 0 {
			t.Fatalf("rows %d and %d out of order", i-1, i)
		}
	}
}

func TestPasteIntoPrompt(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("/")
	h.send(tea.PasteMsg{Content: "state\nlistening "})
	h.key("enter")
	if h.m.filterText != "state listening" {
		t.Fatalf("pasted filter %q", h.m.filterText)
	}
	for _, r := range h.m.rows {
		if r.s.State != collect.StateListen && r.s.State != collect.StateUnconn {
			t.Fatalf("row %v in %v passed state listening", r.s.Key(), r.s.State)
		}
	}
}

func TestLogFollowsFilter(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{Filter: "sport = :3000"})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	a2, b2 := a, b
	a2.State = collect.StateTimeWait
	b2.State = collect.StateCloseWait
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a2, b2}})
	if len(h.m.log.entries) != 1 || h.m.log.entries[0].key != a.Key() {
		t.Fatalf("log = %+v, want only the transition of port 3000", h.m.log.entries)
	}
	// A socket that goes is judged by what it was, so a port filter keeps
	// its last transition.
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{b2}})
	if n := len(h.m.log.entries); n != 2 || h.m.log.entries[1].to != collect.StateUnknown {
		t.Fatalf("log = %+v, want the TIME_WAIT -> gone of port 3000 added", h.m.log.entries)
	}
	if hist := h.m.hist.byKey[b.Key()]; len(hist) != 0 {
		t.Fatalf("history of a filtered-out connection: %+v", hist)
	}
	if hist := h.m.hist.byKey[a.Key()]; len(hist) != 2 {
		t.Fatalf("history of port 3000 = %+v, want 2 transitions", hist)
	}
	scr := h.screen()
	if !strings.Contains(scr, "ESTABLISHED ⇢ TIME_WAIT") || strings.Contains(scr, "CLOSE_WAIT") {
		t.Fatalf("screen shows transitions outside the filter:\n%s", scr)
	}
}

// Under churn only the newest transitions are kept, in order, whatever the
// ring's wrap-around.
func TestRecordTransitionsKeepsNewestInOrder(t *testing.T) {
	n := maxHistKeys + 1234
	prev := collect.Snapshot{Taken: t0}
	cur := collect.Snapshot{Taken: t0.Add(time.Second)}
	for i := 0; i < n; i++ {
		s := tcpSock(collect.StateEstablished, 3000, uint16(10000+i))
		prev.Sockets = append(prev.Sockets, s)
		s.State = collect.StateTimeWait
		cur.Sockets = append(cur.Sockets, s)
	}
	h := newHarness(t, Config{Filter: "sport = :3000"})
	h.feed(prev)
	h.feed(cur)
	if got := len(h.m.log.entries); got != maxLog {
		t.Fatalf("log holds %d entries, want %d", got, maxLog)
	}
	for i, e := range h.m.log.entries {
		want := cur.Sockets[n-maxLog+i].Key()
		if e.key != want || e.to != collect.StateTimeWait {
			t.Fatalf("log entry %d = %v %v, want %v TIME_WAIT", i, e.key, e.to, want)
		}
	}
	if _, ok := h.m.hist.byKey[cur.Sockets[n-1].Key()]; !ok {
		t.Fatalf("the newest transition is not in the history")
	}
	if _, ok := h.m.hist.byKey[cur.Sockets[0].Key()]; ok {
		t.Fatalf("the oldest transition should have been dropped from the history")
	}
}

// In the detail view the table's keys do nothing: j used to move the
// selection under it, and the next refresh showed one socket's tcp_info
// under another's name.
func TestDetailIgnoresTableKeys(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{Info: &infoSource{want: a.Key()}})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	for _, msg := range run(h.key("enter")) {
		h.send(msg)
	}
	for _, k := range []string{"j", "G", "s", "/"} {
		h.key(k)
	}
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a, b}})
	if h.m.mode != modeDetail || h.m.selKey != a.Key() || h.m.detail.sock.Key() != a.Key() || h.m.prompt.active {
		t.Fatalf("after table keys: mode %v, selected %v, detail %v, prompt %v; want the detail of %v",
			h.m.mode, h.m.selKey, h.m.detail.sock.Key(), h.m.prompt.active, a.Key())
	}
	if h.m.detail.info == nil || !strings.Contains(h.screen(), ":3000") {
		t.Fatalf("detail lost its tcp_info or its socket:\n%s", h.screen())
	}
}

// Enter opens the row that is shown selected, even when the key of a
// socket that went is still remembered.
func TestOpenDetailUsesSelectedRow(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	h.key("enter")
	for i := 1; i <= markRefreshes+1; i++ { // a goes, then its gone row too
		h.feed(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Sockets: []collect.Socket{b}})
	}
	h.key("esc")
	h.key("enter")
	if h.m.detail.sock.Key() != b.Key() || h.m.selKey != b.Key() {
		t.Fatalf("enter opened %v (selKey %v), want the shown row %v", h.m.detail.sock.Key(), h.m.selKey, b.Key())
	}
}

// A panic or a failed event loop is an error for main (exit 1); quitting
// through a signal or an interrupt is not.
func TestRunErr(t *testing.T) {
	panicked := fmt.Errorf("%w: %w", tea.ErrProgramKilled, tea.ErrProgramPanic)
	signalled := fmt.Errorf("%w: %w", tea.ErrProgramKilled, context.Canceled)
	cases := []struct {
		err    error
		failed bool
	}{
		{nil, false},
		{panicked, true},
		{signalled, false},
		{tea.ErrInterrupted, false},
		{tea.ErrProgramKilled, true},
		{errors.New("tty gone"), true},
	}
	for _, c := range cases {
		if got := runErr(c.err) != nil; got != c.failed {
			t.Errorf("runErr(%v) failed=%v, want %v", c.err, got, c.failed)
		}
	}
}
