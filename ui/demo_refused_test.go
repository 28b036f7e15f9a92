package ui

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/demo"
)

// needsRootScenario is a scenario that needs root, as the runner refuses
// it: it has no steps, so nothing could start even by mistake.
func needsRootScenario() *demo.Scenario {
	return &demo.Scenario{Name: "host-crash", Key: "m", Section: demo.SectionCrashes,
		Title:     "Server host crash: nothing is sent",
		NeedsRoot: "creates a network namespace and a veth pair",
		Lesson:    "The server lives in a namespace the scenario makes; its link goes down and the client retransmits."}
}

// A scenario refused for want of root is explained in the demo pane: what
// it needs and why, how to run it, and its lesson; not as an error. x
// closes the explanation; another refusal replaces it; a failure of
// another kind is still an error.
func TestDemoNeedsRootExplained(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.feed(fixture())
	sc := needsRootScenario()
	err := fmt.Errorf("%w: %s %s, and uid 65534 lacks CAP_SYS_ADMIN and CAP_NET_ADMIN: run it as root", demo.ErrNeedsRoot, sc.Name, sc.NeedsRoot)
	h.send(demoStartedMsg{sc: sc, err: err})
	if h.m.demos.err != "" {
		t.Errorf("the refusal is shown as an error: %q", h.m.demos.err)
	}
	if !h.m.demos.active() || h.m.hs.demo == 0 {
		t.Fatalf("no demo pane for the explanation (pane height %d):\n%s", h.m.hs.demo, h.screen())
	}
	checkFrame(t, h.m.frame, 80, 24)
	doc := strings.Join(strings.Fields(strings.Join(h.m.demos.pane.doc, " ")), " ")
	for _, want := range []string{"not started", "needs root", sc.NeedsRoot, "CAP_SYS_ADMIN", "sudo socktop demo run host-crash", "retransmits"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the pane does not say %q:\n%s", want, strings.Join(h.m.demos.pane.doc, "\n"))
		}
	}
	if strings.Contains(doc, demo.ErrNeedsRoot.Error()+":") {
		t.Errorf("the pane repeats the error's prefix:\n%s", doc)
	}
	if !strings.Contains(h.screen(), "host-crash needs root") {
		t.Errorf("the footer does not point at the pane:\n%s", h.screen())
	}
	// x closes it, and the pane goes.
	h.key("x")
	if h.m.demos.active() || h.m.hs.demo != 0 || !strings.Contains(h.screen(), "x: closed") {
		t.Errorf("x left the explanation (active %v, pane %d):\n%s", h.m.demos.active(), h.m.hs.demo, h.screen())
	}
	// Any other failure is still an error, not an explanation.
	h.send(demoStartedMsg{sc: sc, err: errors.New("bind: permission denied")})
	if h.m.demos.refused != nil || !strings.Contains(h.m.demos.err, "permission denied") {
		t.Errorf("an ordinary failure: refused %v, err %q", h.m.demos.refused, h.m.demos.err)
	}
}
