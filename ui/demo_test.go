package ui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/demo"
	"socktop/internal/waitfor"
)

// loop runs Cmds the way bubbletea does, each in its own goroutine, and
// hands their messages back to the test goroutine, which alone calls
// Update.
type loop struct {
	msgs chan tea.Msg
	done chan struct{}
}

func newLoop(t *testing.T) *loop {
	l := &loop{msgs: make(chan tea.Msg, 256), done: make(chan struct{})}
	t.Cleanup(func() { close(l.done) })
	return l
}

func (l *loop) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				l.exec(c)
			}
			return
		}
		if msg == nil {
			return
		}
		select {
		case l.msgs <- msg:
		case <-l.done:
		}
	}()
}

// until feeds messages to Update until cond holds.
func (l *loop) until(t *testing.T, h *harness, what string, cond func() bool) {
	t.Helper()
	if cond() {
		return
	}
	waitfor.Recv(t, 60*time.Second, what, l.msgs, func(msg tea.Msg, _ bool) bool {
		l.exec(h.send(msg))
		return cond()
	}, h.screen)
}

// A demo run from the view, on real sockets and the real collector: the
// table filters itself to the demo's port, the narration shows the calls
// and ticks the promises off, x stops it and gives the filter back.
func TestDemoFromTheView(t *testing.T) {
	src, err := collect.NewSource("auto", collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Source: src, Interval: 100 * time.Millisecond, NoColor: true, Filter: "tcp"})
	h.m.after = func(d time.Duration, msg tea.Msg) tea.Cmd {
		return tea.Tick(d, func(time.Time) tea.Msg { return msg })
	}
	h.m.demos.fast = true
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	l := newLoop(t)
	l.exec(h.m.Init())

	h.key("d")
	if h.m.mode != modeDemos || !strings.Contains(h.screen(), "polite-close") {
		t.Fatalf("d did not list the scenarios:\n%s", h.screen())
	}
	var sc *demo.Scenario
	for _, s := range demo.Catalogue() {
		if s.Name == "polite-close" {
			sc = s
		}
	}
	if sc == nil {
		t.Fatal("no polite-close scenario in the catalogue")
	}
	l.exec(h.key(sc.Key))
	l.until(t, h, "the demo to start", func() bool { return len(h.m.demos.runs) == 1 })
	r := h.m.demos.runs[0]
	ports := r.run.Ports()
	if len(ports) == 0 {
		t.Fatal("the run has no ports")
	}
	port := ports[0]
	if !strings.Contains(h.m.filterText, "sport = :"+itoa(port)) {
		t.Fatalf("filter %q does not select the demo's port %d", h.m.filterText, port)
	}
	allSeen := func() bool {
		if len(r.status) == 0 {
			return false
		}
		for _, ps := range r.status {
			if !ps.Seen && !ps.Unchecked {
				return false
			}
		}
		return true
	}
	l.until(t, h, "every promise to be kept", allSeen)
	for _, row := range h.m.rows {
		if row.s.Local.Port() != port && row.s.Remote.Port() != port {
			t.Fatalf("row %v is not on the demo's port %d", row.s.Key(), port)
		}
	}
	scr := h.screen()
	for _, want := range []string{"Demo #1 polite-close", "✓ client TIME_WAIT", "TIME_WAIT"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("screen lacks %q:\n%s", want, scr)
		}
	}
	if len(r.events) == 0 {
		t.Fatalf("no narration events")
	}

	// x stops it; the user's filter comes back.
	l.exec(h.key("x"))
	l.until(t, h, "the demo to stop", func() bool { return len(h.m.demos.runs) == 0 })
	select {
	case <-r.run.Done():
	default:
		t.Fatal("x left the run going")
	}
	if h.m.filterText != "tcp" {
		t.Fatalf("filter after the demo: %q, want the user's tcp back", h.m.filterText)
	}
}

// Run's deferred stopAll ends runs the view never heard of (started but
// their message not yet delivered) as well as known ones.
func TestRegistryStopsEveryRun(t *testing.T) {
	var sc *demo.Scenario
	for _, s := range demo.Catalogue() {
		if s.Name == "polite-close" {
			sc = s
		}
	}
	reg := &demoRegistry{}
	d := demoState{ctx: t.Context(), reg: reg, fast: true}
	msg := d.startCmd(sc, false, nil)().(demoStartedMsg)
	if msg.err != nil {
		t.Fatal(msg.err)
	}
	reg.stopAll()
	waitfor.Recv(t, 30*time.Second, "stopAll to stop the run", msg.run.Done(), closed, nil)
	// After stopAll, a start that completes late is stopped at once.
	late := d.startCmd(sc, false, nil)().(demoStartedMsg)
	if late.err == nil {
		t.Fatal("a run started after stopAll was accepted")
	}
}

// closed accepts the close of a done channel.
func closed(_ struct{}, open bool) bool { return !open }

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// r re-runs the newest scenario that depends on SO_REUSEADDR with the flag
// flipped, stopping the old run.
func TestDemoReuseAddrToggle(t *testing.T) {
	src, err := collect.NewSource("auto", collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Source: src, Interval: 100 * time.Millisecond})
	h.m.after = func(d time.Duration, msg tea.Msg) tea.Cmd {
		return tea.Tick(d, func(time.Time) tea.Msg { return msg })
	}
	h.m.demos.fast = true
	l := newLoop(t)
	l.exec(h.m.Init())
	var sc *demo.Scenario
	for _, s := range demo.Catalogue() {
		if s.UsesReuseAddr {
			sc = s
			break
		}
	}
	if sc == nil {
		t.Skip("no scenario in the catalogue uses SO_REUSEADDR")
	}
	h.key("d")
	l.exec(h.key(sc.Key))
	// r waits until a refresh has shown the run.
	l.until(t, h, "the demo to start and show", func() bool { return len(h.m.demos.runs) == 1 && h.m.demos.runs[0].observed })
	first := h.m.demos.runs[0]
	if first.reuse != sc.ReuseAddr {
		t.Fatalf("started with reuse=%v, want the scenario's default %v", first.reuse, sc.ReuseAddr)
	}
	l.exec(h.key("r"))
	l.until(t, h, "the re-run", func() bool {
		return len(h.m.demos.runs) == 1 && h.m.demos.runs[0].run != first.run
	})
	if h.m.demos.runs[0].reuse == first.reuse {
		t.Fatalf("r did not flip SO_REUSEADDR")
	}
	select {
	case <-first.run.Done():
	default:
		t.Fatal("the old run was not stopped")
	}
	want := "SO_REUSEADDR off"
	if h.m.demos.runs[0].reuse {
		want = "SO_REUSEADDR on"
	}
	if !strings.Contains(h.screen(), want) {
		t.Fatalf("pane does not say %q:\n%s", want, h.screen())
	}
}
