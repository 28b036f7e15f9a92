package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// The help screen names every key of every binding: the prompt's
// editing keys, home and end, the mouse wheel.
func TestGoldenHelp(t *testing.T) {
	checkGoldens(t, "help_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := goldenModel(t, 80, 24, noColor)
		h.key("?")
		return h
	})
	h := goldenModel(t, 80, 24, true)
	h.key("?")
	for _, want := range []string{"g/home", "G/end", "wheel↑/↓", "At the / prompt",
		"alt+b/alt+←", "ctrl+w", "home/ctrl+a", "end/ctrl+e", "ctrl+u", "ctrl+k", "ctrl+v", "q/ctrl+c"} {
		if !strings.Contains(h.screen(), want) {
			t.Errorf("the help screen lacks %q:\n%s", want, h.screen())
		}
	}
}

// The mouse wheel and the prompt's keys go through the KeyMap: a binding
// taken out of it takes the behaviour with it.
func TestKeysThroughKeyMap(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.feed(fixture())
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if h.m.selected != 3 {
		t.Fatalf("wheel down: row %d selected, want 3", h.m.selected)
	}
	h.m.keys.WheelDown.SetEnabled(false)
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if h.m.selected != 3 {
		t.Errorf("wheel down with its binding disabled moved to row %d", h.m.selected)
	}
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if h.m.selected != 0 {
		t.Errorf("wheel up: row %d selected, want 0", h.m.selected)
	}

	h.m.keys.Prompt.Apply.SetKeys("ctrl+j")
	h.key("/")
	h.typeText("udp")
	h.key("enter")
	if !h.m.prompt.active {
		t.Fatalf("enter applied the filter although the prompt binds ctrl+j")
	}
	h.send(ctrl('j'))
	if h.m.prompt.active || h.m.filterText != "udp" {
		t.Errorf("ctrl+j: prompt open %v, filter %q; want udp applied", h.m.prompt.active, h.m.filterText)
	}
}
