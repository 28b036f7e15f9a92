//go:build linux

package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/demo"
	"socktop/internal/kerneltest"
)

// As nobody, a scenario of the catalogue that needs root is marked in the
// picker, and its key brings the runner's refusal to the demo pane as an
// explanation, with nothing started.
func TestDemoNeedsRootAsNobody(t *testing.T) {
	var sc *demo.Scenario
	for _, s := range demo.Catalogue() {
		if s.NeedsRoot != "" {
			sc = s
			break
		}
	}
	if sc == nil {
		t.Skip("no scenario of this build needs root")
	}
	if !kerneltest.AsNobody(t) {
		return
	}
	if demo.RootMissing(sc) == "" {
		t.Fatalf("as uid 65534 nothing is missing to run %s", sc.Name)
	}
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.feed(fixture())
	h.key("d")
	h.key("end")
	if !strings.Contains(h.screen(), rootMark) {
		t.Errorf("the picker does not mark %s:\n%s", sc.Name, h.screen())
	}
	cmd := h.key(sc.Key)
	if cmd == nil {
		t.Fatalf("%s: no start", sc.Key)
	}
	for _, msg := range run(cmd) {
		h.send(msg)
	}
	if len(h.m.demos.runs) != 0 || h.m.demos.refused == nil || h.m.demos.refused.sc != sc {
		t.Fatalf("%d runs, refused %v; want the refusal of %s", len(h.m.demos.runs), h.m.demos.refused, sc.Name)
	}
	if h.m.demos.err != "" {
		t.Errorf("shown as an error: %q", h.m.demos.err)
	}
	doc := strings.Join(strings.Fields(strings.Join(h.m.demos.pane.doc, " ")), " ")
	for _, want := range []string{"needs root", sc.NeedsRoot, "sudo socktop demo run " + sc.Name} {
		if !strings.Contains(doc, want) {
			t.Errorf("the pane does not say %q:\n%s", want, strings.Join(h.m.demos.pane.doc, "\n"))
		}
	}
}
