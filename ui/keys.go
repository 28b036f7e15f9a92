package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key binding of the view, in one place, so the help screen
// (bubbles/help) and the key handling can never disagree.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Detail, Back, ClearFilter               key.Binding
	Filter, Sort, SortReverse               key.Binding
	Pause, Faster, Slower                   key.Binding
	Demos, ReuseAddr, StopDemo              key.Binding
	DemoScrollUp, DemoScrollDown            key.Binding
	Help, Quit                              key.Binding
}

// DefaultKeyMap returns the htop/k9s-style bindings of the architecture note.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:      key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown:    key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Top:         key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "first row")),
		Bottom:      key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "last row")),
		Detail:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "detail")),
		Back:        key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		ClearFilter: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort column")),
		SortReverse: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Pause:       key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "pause")),
		Faster:      key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "faster")),
		Slower:      key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "slower")),
		Demos:       key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "demos")),
		ReuseAddr:   key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "flip SO_REUSEADDR")),
		StopDemo:    key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "stop demos")),
		// Brackets, because every letter near j/k already means something
		// to the table, and the pane scrolls while the table keeps its
		// selection.
		DemoScrollUp:   key.NewBinding(key.WithKeys("["), key.WithHelp("[", "demo pane up")),
		DemoScrollDown: key.NewBinding(key.WithKeys("]"), key.WithHelp("]", "demo pane down")),
		Help:           key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:           key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the one-line help of the footer, most wanted first; the
// footer drops from the end of it (keeping help and quit) when the
// terminal is narrow.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Filter, k.Sort, k.Pause, k.Detail, k.Demos, k.Help, k.Quit}
}

// FullHelp is the help screen, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Detail, k.Back, k.Filter, k.ClearFilter, k.Sort, k.SortReverse},
		{k.Pause, k.Faster, k.Slower, k.Help, k.Quit},
		{k.Demos, k.ReuseAddr, k.StopDemo, k.DemoScrollUp, k.DemoScrollDown},
	}
}
