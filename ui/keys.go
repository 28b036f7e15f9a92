package ui

import (
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"

	"socktop/demo"
)

// KeyMap is every key binding of the view, in one place, so the help screen
// (bubbles/help) and the key handling can never disagree. The mouse wheel
// is in it too: a wheel event matches a binding by its name ("wheelup"),
// as a key press does.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	WheelUp, WheelDown                      key.Binding
	Detail, Back, ClearFilter               key.Binding
	Filter, Sort, SortReverse               key.Binding
	Pause, Faster, Slower                   key.Binding
	Demos, ReuseAddr, StopDemo              key.Binding
	Closed, Segments, Peer                  key.Binding
	DemoScrollUp, DemoScrollDown            key.Binding
	Diagram                                 key.Binding
	Kill                                    key.Binding
	Help, Quit                              key.Binding
	// StartDemo stands for every scenario key in the list's footer;
	// Scenarios holds one binding per scenario, in the catalogue's order.
	StartDemo key.Binding
	Scenarios []key.Binding
	// Prompt is the `/` filter prompt's own keys.
	Prompt PromptKeyMap
}

// PromptKeyMap is the keys of the `/` filter prompt. Apply, Cancel and
// Quit are the prompt's; the rest edit the line, in bubbles/textinput.
type PromptKeyMap struct {
	Apply, Cancel, Quit                         key.Binding
	CharLeft, CharRight, WordLeft, WordRight    key.Binding
	LineStart, LineEnd, Paste                   key.Binding
	DeleteLeft, DeleteRight, DeleteWordLeft     key.Binding
	DeleteWordRight, DeleteToStart, DeleteToEnd key.Binding
}

// DefaultKeyMap returns the htop/k9s-style bindings of the architecture
// note, with readline's editing keys at the prompt, and a key for each
// scenario of the catalogue.
func DefaultKeyMap(catalogue []*demo.Scenario) KeyMap {
	// Brackets scroll the demo pane because every letter near j/k
	// already means something to the table, and the pane scrolls while
	// the table keeps its selection.
	k := KeyMap{
		Up: bind("up", "up", "k"), Down: bind("down", "down", "j"),
		PageUp: bind("page up", "pgup", "ctrl+b"), PageDown: bind("page down", "pgdown", "ctrl+f"),
		Top: bind("first row", "g", "home"), Bottom: bind("last row", "G", "end"),
		WheelUp: bind("scroll up", "wheelup"), WheelDown: bind("scroll down", "wheeldown"),

		Detail: bind("detail", "enter"), Back: bind("back", "esc"), ClearFilter: bind("clear filter", "esc"),
		Filter: bind("filter", "/"), Sort: bind("sort column", "s"), SortReverse: bind("reverse sort", "S"),
		Pause: bind("pause", "space"), Faster: bind("faster", "+", "="), Slower: bind("slower", "-", "_"),
		Help: bind("help", "?"), Quit: bind("quit", "q", "ctrl+c"),
		Closed: bind("closed conns", "c"), Segments: bind("segments", "w"),
		Peer: bind("other end", "p"),

		Demos: bind("demos", "d"), ReuseAddr: bind("flip SO_REUSEADDR", "r"), StopDemo: bind("stop demos", "x"),
		DemoScrollUp: bind("demo pane up", "["), DemoScrollDown: bind("demo pane down", "]"),
		Diagram: bind("state diagram", "D"),
		Kill:    bind("kill row(s)", "K"),

		Prompt: PromptKeyMap{
			Apply: bind("apply", "enter"), Cancel: bind("cancel", "esc"), Quit: bind("quit", "ctrl+c"),
			CharLeft: bind("char left", "left", "ctrl+b"), CharRight: bind("char right", "right", "ctrl+f"),
			WordLeft:  bind("word left", "alt+b", "alt+left", "ctrl+left"),
			WordRight: bind("word right", "alt+f", "alt+right", "ctrl+right"),
			LineStart: bind("line start", "home", "ctrl+a"), LineEnd: bind("line end", "end", "ctrl+e"),
			DeleteLeft: bind("delete left", "backspace", "ctrl+h"), DeleteRight: bind("delete right", "delete", "ctrl+d"),
			DeleteWordLeft:  bind("delete word left", "ctrl+w", "alt+backspace", "ctrl+backspace"),
			DeleteWordRight: bind("delete word right", "alt+d", "alt+delete", "ctrl+delete"),
			DeleteToStart:   bind("delete to start", "ctrl+u"), DeleteToEnd: bind("delete to end", "ctrl+k"),
			Paste: bind("paste clipboard", "ctrl+v"),
		},
	}
	keys := make([]string, len(catalogue))
	for i, sc := range catalogue {
		keys[i] = sc.Key
		k.Scenarios = append(k.Scenarios, bind(sc.Name, sc.Key))
	}
	k.StartDemo = key.NewBinding(key.WithKeys(keys...), key.WithHelp("key", "start"))
	return k
}

// bind makes a binding whose help shows its first key, short enough for
// the footer; the help screen shows them all (see allKeys).
func bind(desc string, keys ...string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(keyLabel(keys[0]), desc))
}

// keyNames are the glyphs and abbreviations the help shows for key names.
var keyNames = map[string]string{
	"wheelup": "wheel↑", "wheeldown": "wheel↓", "pgdown": "pgdn",
	"up": "↑", "down": "↓", "left": "←", "right": "→",
	"backspace": "bksp", "delete": "del",
}

// keyLabel is how the help names one key: "alt+left" is alt+←.
func keyLabel(k string) string {
	mods, name := "", k
	if i := strings.LastIndexByte(k, '+'); i > 0 && i < len(k)-1 {
		mods, name = k[:i+1], k[i+1:]
	}
	if n, ok := keyNames[name]; ok {
		name = n
	}
	return mods + name
}

// allKeys is b with every one of its keys in its help, for the help
// screen, where the footer's one key would hide the others (home, end).
func allKeys(b key.Binding) key.Binding {
	labels := make([]string, len(b.Keys()))
	for i, k := range b.Keys() {
		labels[i] = keyLabel(k)
	}
	b.SetHelp(strings.Join(labels, "/"), b.Help().Desc)
	return b
}

// ShortHelp is the one-line help of the footer, most wanted first; the
// footer drops from the end of it (keeping help and quit) when the
// terminal is narrow.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Filter, k.Sort, k.Pause, k.Detail, k.Demos, k.Help, k.Quit}
}

// FullHelp is the help screen's table keys, one column per group, every
// key of each binding named.
func (k KeyMap) FullHelp() [][]key.Binding {
	g := withAllKeys([][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Peer},
		{k.Detail, k.Back, k.Filter, k.ClearFilter, k.Sort, k.SortReverse, k.Closed, k.Segments, k.Kill},
		{k.Pause, k.Faster, k.Slower, k.Help, k.Quit},
		{k.Demos, k.ReuseAddr, k.StopDemo, k.DemoScrollUp, k.DemoScrollDown, k.Diagram},
	})
	g[0] = append(g[0], both(k.WheelUp, k.WheelDown, keyLabel("wheelup")+"/"+keyLabel("down"), "scroll"))
	return g
}

// demoScroll is the footer's one entry for both demo pane scroll keys.
func (k KeyMap) demoScroll() key.Binding {
	return both(k.DemoScrollUp, k.DemoScrollDown, "[ ]", "scroll demo")
}

// listScroll is the scenario list's footer entry for its line keys.
func (k KeyMap) listScroll() key.Binding {
	up, down, _, _, _, _ := k.listMoves()
	return both(up, down, keyLabel("up")+keyLabel("down"), "scroll")
}

// listMoves are the scenario list's scroll keys: the table's, less the
// single letters (k, j, g, G), which are scenario keys there.
func (k KeyMap) listMoves() (up, down, pageUp, pageDown, top, bottom key.Binding) {
	return noLetters(k.Up), noLetters(k.Down), noLetters(k.PageUp), noLetters(k.PageDown), noLetters(k.Top), noLetters(k.Bottom)
}

// noLetters is b without its one-character keys.
func noLetters(b key.Binding) key.Binding {
	var keys []string
	for _, k := range b.Keys() {
		if len([]rune(k)) > 1 {
			keys = append(keys, k)
		}
	}
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(keyLabel(keys[0]), b.Help().Desc))
}

// both is one help entry for a pair of bindings that go opposite ways.
func both(a, b key.Binding, label, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(slices.Concat(a.Keys(), b.Keys())...), key.WithHelp(label, desc))
}

// FullHelp is the help screen's section on the prompt: moving, then
// deleting.
func (p PromptKeyMap) FullHelp() [][]key.Binding {
	return withAllKeys([][]key.Binding{
		{p.Apply, p.Cancel, p.CharLeft, p.CharRight, p.WordLeft, p.WordRight, p.LineStart, p.LineEnd},
		{p.DeleteLeft, p.DeleteRight, p.DeleteWordLeft, p.DeleteWordRight, p.DeleteToStart, p.DeleteToEnd, p.Paste, p.Quit},
	})
}

func withAllKeys(groups [][]key.Binding) [][]key.Binding {
	for _, g := range groups {
		for i := range g {
			g[i] = allKeys(g[i])
		}
	}
	return groups
}

// textinput is the editing part of the map in the form the line editor
// takes. It offers no suggestions, so tab, up and down stay unbound.
func (p PromptKeyMap) textinput() textinput.KeyMap {
	return textinput.KeyMap{
		CharacterForward: p.CharRight, CharacterBackward: p.CharLeft,
		WordForward: p.WordRight, WordBackward: p.WordLeft,
		DeleteWordBackward: p.DeleteWordLeft, DeleteWordForward: p.DeleteWordRight,
		DeleteAfterCursor: p.DeleteToEnd, DeleteBeforeCursor: p.DeleteToStart,
		DeleteCharacterBackward: p.DeleteLeft, DeleteCharacterForward: p.DeleteRight,
		LineStart: p.LineStart, LineEnd: p.LineEnd, Paste: p.Paste,
	}
}
