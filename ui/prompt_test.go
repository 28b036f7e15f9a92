package ui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/filter"
)

// promptHarness is the view at w x h with the `/` prompt open and text
// typed into it.
func promptHarness(t *testing.T, w, ht int, text string) *harness {
	t.Helper()
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: w, Height: ht})
	h.feed(fixture())
	h.key("/")
	h.typeText(text)
	return h
}

func alt(r rune) tea.KeyPressMsg  { return tea.KeyPressMsg{Code: r, Mod: tea.ModAlt} }
func ctrl(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Mod: tea.ModCtrl} }

// checkInput asserts the prompt's text and the cursor's place in it
// (in runes).
func checkInput(t *testing.T, h *harness, after, value string, pos int) {
	t.Helper()
	in := &h.m.prompt.input
	if in.Value() != value || in.Position() != pos {
		t.Errorf("after %s: %q with the cursor at %d, want %q at %d", after, in.Value(), in.Position(), value, pos)
	}
}

// Word motions and readline's deletions work at the prompt.
func TestPromptWordMotion(t *testing.T) {
	const text = "sport = :80 and bogus"
	h := promptHarness(t, 100, 30, text)
	h.send(alt('b'))
	checkInput(t, h, "alt+b", text, strings.Index(text, "bogus"))
	h.send(alt('b'))
	checkInput(t, h, "alt+b twice", text, strings.Index(text, "and"))
	h.send(ctrl('w'))
	checkInput(t, h, "ctrl+w", "sport = and bogus", len("sport = "))
	h.send(alt('f'))
	checkInput(t, h, "alt+f", "sport = and bogus", len("sport = and"))
	h.send(alt('d'))
	checkInput(t, h, "alt+d", "sport = and", len("sport = and"))
	h.send(tea.KeyPressMsg{Code: tea.KeyHome})
	checkInput(t, h, "home", "sport = and", 0)
	h.send(tea.KeyPressMsg{Code: tea.KeyEnd})
	checkInput(t, h, "end", "sport = and", len("sport = and"))
	h.send(ctrl('a'))
	h.send(ctrl('k'))
	checkInput(t, h, "ctrl+a ctrl+k", "", 0)
	// A ctrl or alt chord the prompt does not bind types nothing.
	h.typeText("tcp")
	h.send(ctrl('x'))
	h.send(tea.KeyPressMsg{Code: 'z', Mod: tea.ModAlt, Text: "z"})
	checkInput(t, h, "ctrl+x alt+z", "tcp", 3)
	// The screen shows what the editor holds, the cursor after it.
	if input, _ := promptLines(h.screen()); input != "/tcp" {
		t.Errorf("prompt line %q, want /tcp", input)
	}
	if x := h.m.View().Cursor.X; x != len("/tcp") {
		t.Errorf("cursor at column %d, want %d", x, len("/tcp"))
	}
}

// A paste is one message, inserted at the cursor on one line.
func TestPromptPasteAtCursor(t *testing.T) {
	h := promptHarness(t, 100, 30, "sport = :80")
	h.send(tea.KeyPressMsg{Code: tea.KeyHome})
	h.send(tea.PasteMsg{Content: "tcp\n\tand  "})
	checkInput(t, h, "a paste at the start", "tcp and sport = :80", len("tcp and "))
	h.key("enter")
	if h.m.prompt.active || h.m.filterText != "tcp and sport = :80" {
		t.Fatalf("pasted filter: prompt open %v, filter %q", h.m.prompt.active, h.m.filterText)
	}
}

// The text scrolls by terminal cells: with wide characters the cursor
// stays on screen, at the cell after the text before it.
func TestPromptCursorWideChars(t *testing.T) {
	for _, text := range []string{"proc " + strings.Repeat("名", 100), "proc " + strings.Repeat("🚀", 60) + " x"} {
		h := promptHarness(t, 80, 24, text)
		checkFrame(t, h.m.frame, 80, 24)
		input, _ := promptLines(h.screen())
		x := h.m.View().Cursor.X
		if w := ansi.StringWidth(input); x != w || x >= 80 {
			t.Errorf("%.12q…: cursor at column %d, the text ends at %d (width 80):\n%s", text, x, w, input)
		}
		if !strings.HasSuffix(text, strings.TrimPrefix(input, promptPrefix)) || len(input) < 60 {
			t.Errorf("%.12q…: the prompt shows %q, not the end of the text", text, input)
		}
	}
}

// The caret under a filter error stands under the column where it broke,
// after wide characters, also when the text is scrolled.
func TestPromptErrorCaretWideChars(t *testing.T) {
	for _, text := range []string{
		"proc 名前 and bogus",
		"proc 🚀 bogus",
		"proc " + strings.Repeat("名", 50) + " bogus",
	} {
		h := promptHarness(t, 80, 24, text)
		h.key("enter")
		var fe *filter.Error
		if !errors.As(h.m.prompt.err, &fe) {
			t.Fatalf("%.12q…: error %v, want a FilterError", text, h.m.prompt.err)
		}
		input, under := promptLines(h.screen())
		bad := strings.Index(input, "bogus")
		if bad < 0 {
			t.Fatalf("%.12q…: the prompt does not show bogus: %q", text, input)
		}
		if caret, want := strings.Index(under, "^"), ansi.StringWidth(input[:bad]); caret != want {
			t.Errorf("%.12q…: caret at cell %d, bogus at cell %d:\n%s\n%s", text, caret, want, input, under)
		}
	}
}
