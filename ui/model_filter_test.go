package ui

// Tests of the root model: the filter prompt.

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/filter"
)

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
