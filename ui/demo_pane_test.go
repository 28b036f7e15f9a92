package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/demo"
	"socktop/internal/waitfor"
)

func scenario(t *testing.T, name string) *demo.Scenario {
	t.Helper()
	sc, ok := demo.Find(name)
	if !ok {
		t.Fatalf("no scenario %q in the catalogue", name)
	}
	return sc
}

// startDemo starts sc for real (loopback sockets, fast lifetimes) and
// hands the model the message its start Cmd would have produced.
func startDemo(t *testing.T, h *harness, sc *demo.Scenario, reuse bool) *demoRun {
	t.Helper()
	h.m.demos.fast = true
	msg, ok := h.m.demos.startCmd(sc, reuse, nil)().(demoStartedMsg)
	if !ok || msg.err != nil {
		t.Fatalf("start %s: %v", sc.Name, msg.err)
	}
	t.Cleanup(msg.run.Stop)
	h.send(msg)
	return h.m.demos.runs[len(h.m.demos.runs)-1]
}

// joined is the screen with its lines joined by spaces, so text the pane
// wrapped can be looked for whole.
func joined(screen string) string {
	var words []string
	for _, l := range strings.Split(screen, "\n") {
		words = append(words, strings.Fields(l)...)
	}
	return strings.Join(words, " ")
}

func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// With three demos at 120x40 the table takes only the lines its rows
// need; the pane shows each demo's lesson, the host's notes and every
// promise with its reason, and scrolls with [ and ].
func TestDemoPaneSpaceAndLessons(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(fixture())
	runs := []*demoRun{
		startDemo(t, h, scenario(t, "polite-close"), false),
		startDemo(t, h, scenario(t, "server-restart"), false),
		startDemo(t, h, scenario(t, "server-crash"), false),
	}
	checkFrame(t, h.m.frame, 120, 40)
	hs := h.m.hs
	if want := max(len(h.m.rows)+1, 2); hs.table > want {
		t.Errorf("table has %d lines for %d rows: %d blank", hs.table, len(h.m.rows), hs.table-want)
	}
	if hs.log == 0 {
		t.Errorf("the transitions pane is gone with demos running")
	}
	if hs.demo != hs.body-hs.log-hs.table {
		t.Errorf("the pane got %d lines, the table left it %d", hs.demo, hs.body-hs.log-hs.table)
	}
	// The whole document, scrolled through, holds every lesson, reason
	// and note.
	var seen strings.Builder
	for range 100 {
		seen.WriteString(h.screen() + "\n")
		if h.m.demos.pane.scroll+h.m.demos.pane.room() >= len(h.m.demos.pane.doc) {
			break
		}
		before := h.m.demos.pane.scroll
		h.key("]")
		if h.m.demos.pane.scroll <= before {
			t.Fatalf("] did not scroll: %d -> %d", before, h.m.demos.pane.scroll)
		}
	}
	all := joined(seen.String())
	for _, r := range runs {
		if !strings.Contains(all, words(r.sc.Lesson)) {
			t.Errorf("the pane never shows the lesson of %s", r.sc.Name)
		}
		for _, ps := range r.status {
			if !strings.Contains(all, words(ps.Why)) {
				t.Errorf("the pane never shows why %s promises %q", r.sc.Name, ps.Promise)
			}
		}
		if len(r.notes) == 0 && r.sc.Name == "server-crash" {
			t.Errorf("server-crash has no sysctl note")
		}
		for _, n := range r.notes {
			if !strings.Contains(all, words(n)) {
				t.Errorf("the pane never shows the note %q", n)
			}
		}
		if !strings.Contains(all, words(r.sc.Title)) {
			t.Errorf("the title of %s is cut", r.sc.Name)
		}
	}
	// [ goes back to the top; the footer and the help offer the keys.
	for h.m.demos.pane.scroll > 0 {
		h.key("[")
	}
	if !strings.Contains(h.screen(), "Demo #1 polite-close") {
		t.Errorf("[ did not scroll back to the first demo:\n%s", h.screen())
	}
	if !strings.Contains(h.screen(), "[ ] scroll demo") {
		t.Errorf("footer does not offer the scroll keys:\n%s", h.screen())
	}
	h.key("?")
	if s := h.screen(); !strings.Contains(s, "demo pane down") || !strings.Contains(s, "demo pane up") {
		t.Errorf("help does not list the scroll keys:\n%s", s)
	}
}

// At 100x30 the transitions pane stays beside the demo pane.
func TestDemoPaneKeepsLogAt100x30(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.feed(fixture())
	startDemo(t, h, scenario(t, "polite-close"), false)
	checkFrame(t, h.m.frame, 100, 30)
	if h.m.hs.log == 0 || !strings.Contains(h.screen(), "Transitions") {
		t.Fatalf("no transitions pane at 100x30 with a demo:\n%s", h.screen())
	}
}

// r pressed many times before the re-run has started starts it once;
// the run it replaced says it is restarting, the new one has a number of
// its own.
func TestReuseAddrBurstStartsOneRun(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(fixture())
	first := startDemo(t, h, scenario(t, "server-restart"), false)
	if h.key("r") != nil || !strings.Contains(h.screen(), "has just started") {
		t.Fatalf("r before the run was in any snapshot:\n%s", h.screen())
	}
	h.feed(fixture())
	var cmds []tea.Cmd
	for range 20 {
		if cmd := h.key("r"); cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	if len(cmds) != 1 {
		t.Fatalf("20 presses of r started %d runs, want 1", len(cmds))
	}
	if !strings.Contains(h.screen(), "already restarting") || !strings.Contains(joined(h.screen()), "restarting with SO_REUSEADDR on") {
		t.Errorf("no word that a restart is on its way:\n%s", h.screen())
	}
	msg := cmds[0]().(demoStartedMsg)
	if msg.err != nil {
		t.Fatal(msg.err)
	}
	t.Cleanup(msg.run.Stop)
	h.send(msg)
	if len(h.m.demos.runs) != 1 || h.m.demos.runs[0].run != msg.run || !h.m.demos.runs[0].reuse {
		t.Fatalf("after the re-run: %d runs, want the new one with SO_REUSEADDR on", len(h.m.demos.runs))
	}
	waitfor.Recv(t, 30*time.Second, "the replaced run to stop", first.run.Done(), closed, nil)
	if s := h.screen(); !strings.Contains(s, "Demo #2 server-restart") || strings.Contains(s, "Demo #1") {
		t.Errorf("the re-run is not told apart from the first:\n%s", s)
	}
	// Once it has arrived and a refresh has shown it, r works again.
	if h.key("r") != nil {
		t.Fatal("r flipped a run no snapshot has shown yet")
	}
	h.feed(fixture())
	if h.key("r") == nil {
		t.Fatal("r after the re-run did nothing")
	}
}

// r and x say why they do nothing, and the footer offers r only when a
// running demo depends on SO_REUSEADDR.
func TestDemoKeysFeedback(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(fixture())
	if h.key("r") != nil || !strings.Contains(h.screen(), "r: no demo is running") {
		t.Errorf("r with no demo:\n%s", h.screen())
	}
	if h.key("x") != nil || !strings.Contains(h.screen(), "x: no demo is running") {
		t.Errorf("x with no demo:\n%s", h.screen())
	}
	h.key("j") // any key clears the message
	if strings.Contains(h.screen(), "no demo is running") {
		t.Errorf("the message outlived the next key")
	}
	startDemo(t, h, scenario(t, "polite-close"), false)
	if strings.Contains(h.screen(), "SO_REUSEADDR") {
		t.Errorf("footer offers r with only polite-close running:\n%s", h.screen())
	}
	if h.key("r") != nil || !strings.Contains(h.screen(), "none of the running demos depends on SO_REUSEADDR") {
		t.Errorf("r with only polite-close:\n%s", h.screen())
	}
	startDemo(t, h, scenario(t, "server-restart"), false)
	h.key("j")
	if !strings.Contains(h.screen(), "r flip SO_REUSEADDR") {
		t.Errorf("footer does not offer r with server-restart running:\n%s", h.screen())
	}
}

// x pressed while a demo is still starting stops that demo when it
// arrives.
func TestStopWhileStarting(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.m.demos.fast = true
	cmd := h.m.demos.startCmd(scenario(t, "polite-close"), false, nil)
	h.key("x")
	msg := cmd().(demoStartedMsg)
	t.Cleanup(msg.run.Stop)
	stop := h.send(msg)
	if len(h.m.demos.runs) != 0 || stop == nil {
		t.Fatalf("a demo started before x was kept: %d runs", len(h.m.demos.runs))
	}
	for _, m := range run(stop) {
		h.send(m)
	}
	select {
	case <-msg.run.Done():
	default:
		t.Fatal("the late demo was not stopped")
	}
}

// Promises read as what they are: a state seen, a call made, a state
// confirmed absent.
func TestPromiseWording(t *testing.T) {
	st := DefaultStyles(true)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		ps   demo.PromiseStatus
		want string
	}{
		{demo.PromiseStatus{Promise: demo.Promise{Role: demo.Client, State: collect.StateTimeWait}, Seen: true, At: at}, "✓ client TIME_WAIT seen at 03:04:05"},
		{demo.PromiseStatus{Promise: demo.Promise{Role: demo.Client, State: collect.StateTimeWait, Absent: true}, Seen: true, At: at}, "✓ no TIME_WAIT, confirmed by 03:04:05"},
		{demo.PromiseStatus{Promise: demo.Promise{Role: demo.Client, State: collect.StateTimeWait, Absent: true}}, "○ no TIME_WAIT (checking)"},
		{demo.PromiseStatus{Promise: demo.Promise{Role: demo.Server, Call: "bind(", Result: "EADDRINUSE"}, Seen: true, At: at}, "✓ server bind(...) = EADDRINUSE at 03:04:05"},
		{demo.PromiseStatus{Promise: demo.Promise{Role: demo.Server, State: collect.StateSynRecv}, Note: "tcp_syncookies=2"}, "✗ server SYN_RECV (tcp_syncookies=2)"},
		{demo.PromiseStatus{Promise: demo.Promise{Role: demo.Server, Path: []collect.State{collect.StateCloseWait, collect.StateLastAck}}, Unchecked: true, Note: "not checked"},
			"– server CLOSE_WAIT -> LAST_ACK (not checked)"},
	}
	for _, c := range cases {
		if got := promiseLine(&st, c.ps); got != c.want {
			t.Errorf("promiseLine = %q, want %q", got, c.want)
		}
	}
}
