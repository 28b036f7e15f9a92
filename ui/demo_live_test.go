package ui

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/demo"
)

// politeCloseLit is what the diagram shows once polite-close has run
// with kernel events: each side's path line, and the boxes each path
// visited drawn in its brackets (┃ the client's, ║ the server's, ┃…║
// both), "*" where a path is now.
var (
	clientPathLine   = regexp.MustCompile(`━ client .*ESTABLISHED → FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT\*`)
	serverPathLine   = regexp.MustCompile(`═ server .*ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSED\*\s+exact`)
	seqDiagram       = regexp.MustCompile(`(?s)\|- SYN seq 0 .*\|<-+ SYN,ACK seq 0 ack 1 .*\|- FIN,ACK .*\|<-+ FIN,ACK `)
	politeCloseBoxes = []*regexp.Regexp{
		regexp.MustCompile(`┃ESTABLISHED +\d+║`),
		regexp.MustCompile(`┃FIN_WAIT_1 +\d+┃`),
		regexp.MustCompile(`┃FIN_WAIT_2 +\d+┃`),
		regexp.MustCompile(`┃TIME_WAIT\* *\d+┃`),
		regexp.MustCompile(`║CLOSE_WAIT +\d+║`),
		regexp.MustCompile(`║LAST_ACK +\d+║`),
		regexp.MustCompile(`║CLOSED\* *║`),
	}
)

// The done-when of the live view: a learner starts polite-close, the run
// checks its promises against the kernel's events, the demo pane draws
// its segments, and D lights the diagram with both exact paths. Real
// sockets, the real collector and the real event stream; only the
// terminal is the test's.
func TestDemoLightsTheDiagram(t *testing.T) {
	stream, err := events.Open(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	if !stream.Mode().Exact() {
		t.Skipf("kernel events are sampled here, so the paths would be too and this test checks the exact ones: %s",
			strings.Join(stream.Notices(), "; "))
	}
	src, err := collect.NewSource("auto", collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Source: src, Events: stream, Interval: 100 * time.Millisecond, NoColor: true})
	h.m.after = func(d time.Duration, msg tea.Msg) tea.Cmd {
		return tea.Tick(d, func(time.Time) tea.Msg { return msg })
	}
	h.m.demos.fast = true
	h.send(tea.WindowSizeMsg{Width: 120, Height: 60})
	l := newLoop(t)
	l.exec(h.m.Init())

	sc := scenario(t, "polite-close")
	h.key("d")
	l.exec(h.key(sc.Key))
	l.until(t, h, "the demo to start", func() bool { return len(h.m.demos.runs) == 1 })
	r := h.m.demos.runs[0]
	t.Cleanup(r.run.Stop)
	if want := "exact (" + string(stream.Mode()) + ")"; r.checked != want {
		t.Fatalf("the run checks its paths %q, want %q", r.checked, want)
	}
	l.until(t, h, "the run to settle", r.run.Settled)
	// One more refresh, so the pane holds what the run settled on.
	seen := h.m.snap.Taken
	l.until(t, h, "a refresh after the run settled", func() bool { return h.m.snap.Taken.After(seen) })
	for _, ps := range r.status {
		if !ps.Seen && !ps.Unchecked {
			t.Errorf("promise %s not kept: %s", ps.Promise, ps.Note)
		}
	}

	pane := h.screen()
	if !strings.Contains(pane, "checked: exact ("+string(stream.Mode())+")") {
		t.Errorf("the pane does not say how the promises are checked:\n%s", pane)
	}
	if os.Geteuid() == 0 {
		if r.capErr != nil {
			t.Fatalf("root could not capture the demo's segments: %v", r.capErr)
		}
		doc := strings.Join(h.m.demos.pane.doc, "\n")
		if !strings.Contains(doc, "segments: ") || !seqDiagram.MatchString(doc) {
			t.Errorf("the pane has no sequence diagram of the handshake and the close:\n%s", doc)
		}
		// The pane's scroll keys reach the diagram's last arrow, the
		// client's ACK of the server's FIN.
		for range len(h.m.demos.pane.doc) {
			h.key("]")
		}
		if bottom := h.screen(); !regexp.MustCompile(`\|<-+ FIN,ACK .*\n.*\|- ACK `).MatchString(bottom) {
			t.Errorf("] did not scroll the pane to the end of the sequence diagram:\n%s", bottom)
		}
	} else if !strings.Contains(pane, "segments: not captured") {
		t.Errorf("without root the pane does not say the segments are not captured:\n%s", pane)
	}

	h.key("D")
	scr := h.screen()
	if h.m.mode != modeDiagram || !strings.Contains(scr, "demo polite-close #1") {
		t.Fatalf("D did not show the demo's diagram:\n%s", scr)
	}
	for _, re := range []*regexp.Regexp{clientPathLine, serverPathLine} {
		if !re.MatchString(scr) {
			t.Errorf("no path line matching %s:\n%s", re, scr)
		}
	}
	for _, re := range politeCloseBoxes {
		if !re.MatchString(scr) {
			t.Errorf("no lit box matching %s:\n%s", re, scr)
		}
	}
	// The paths are exact: what the run knows from the kernel, the
	// server's every step.
	for _, st := range r.run.Path(demo.Server) {
		if st.Source != collect.Kernel {
			t.Errorf("server step %s learnt %s, want kernel", st.State, st.Source)
		}
	}
}
