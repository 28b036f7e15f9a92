package ui

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"socktop/demo"
)

// courseCatalogue is the full catalogue of 24 scenarios, by the
// names, keys and sections the course map gives them, with titles of
// the lengths the real ones have (some too long for 80 columns), so the
// picker's layout is tested with every scenario before they all land.
// They have no steps: starting one fails at once, opening nothing.
func courseCatalogue() []*demo.Scenario {
	type e struct {
		name, key string
		sec       demo.Section
		root      string
	}
	list := []e{
		{"polite-close", "1", demo.SectionCalls, ""}, {"server-restart", "2", demo.SectionReuseAddr, ""},
		{"server-crash", "3", demo.SectionCrashes, ""}, {"leaky-server", "4", demo.SectionStates, ""},
		{"half-close", "5", demo.SectionClose, ""}, {"listen-overflow", "6", demo.SectionCalls, ""},
		{"half-open", "7", demo.SectionStates, ""}, {"slow-reader", "8", demo.SectionLinger, ""},
		{"late-close", "9", demo.SectionStates, ""}, {"simultaneous-close", "a", demo.SectionStates, ""},
		{"abortive-close", "b", demo.SectionLinger, ""}, {"udp", "c", demo.SectionKinds, ""},
		{"closed", "d", demo.SectionCalls, ""}, {"shared-close", "e", demo.SectionClose, ""},
		{"closewait-write", "f", demo.SectionCrashes, ""}, {"accept-abort", "g", demo.SectionClose, ""},
		{"nonblocking-connect", "h", demo.SectionNonBlocking, ""}, {"udp-truncate", "i", demo.SectionKinds, ""},
		{"udp-refused", "j", demo.SectionKinds, ""}, {"prefork-server", "k", demo.SectionServers, ""},
		{"fork-server", "l", demo.SectionServers, ""}, {"host-crash", "m", demo.SectionCrashes, "creates a network namespace"},
		{"busy-server", "n", demo.SectionStates, ""}, {"buffer-sizes", "o", demo.SectionMeasure, "creates a network namespace for its lan setting"},
	}
	out := make([]*demo.Scenario, len(list))
	for i, s := range list {
		title := "The lesson of " + s.name
		if i%3 == 0 {
			title += ": a title long enough that eighty columns must cut it short"
		}
		out[i] = &demo.Scenario{Name: s.name, Key: s.key, Title: title, Section: s.sec, NeedsRoot: s.root}
	}
	return out
}

// withCatalogue gives the harness's model another catalogue, and the
// key map that goes with it.
func withCatalogue(h *harness, list []*demo.Scenario, root bool) {
	h.m.demos.catalogue = list
	h.m.keys = DefaultKeyMap(list)
	h.m.demos.list.refuses = map[*demo.Scenario]string{}
	for _, sc := range list {
		if sc.NeedsRoot != "" && !root {
			h.m.demos.list.refuses[sc] = "uid 65534 is not root"
		}
	}
}

// pickerAt opens the picker on a w x h terminal.
func pickerAt(t *testing.T, w, h int, list []*demo.Scenario, root, noColor bool) *harness {
	t.Helper()
	hs := newHarness(t, Config{NoColor: noColor})
	if list != nil {
		withCatalogue(hs, list, root)
	}
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	hs.feed(fixture())
	hs.key("d")
	if hs.m.mode != modeDemos {
		t.Fatalf("d: mode %v", hs.m.mode)
	}
	return hs
}

// scrollThrough reads the picker from the top down, a line at a time,
// checking every frame fills w x h, and returns every line it showed.
func scrollThrough(t *testing.T, h *harness, w, hgt int) map[string]bool {
	t.Helper()
	shown := map[string]bool{}
	for i := 0; ; i++ {
		checkFrame(t, h.m.frame, w, hgt)
		for _, l := range strings.Split(h.screen(), "\n") {
			shown[strings.TrimRight(l, " ")] = true
		}
		before := h.m.demos.list.offset
		h.key("down")
		if h.m.demos.list.offset == before {
			return shown
		}
		if i > 100 {
			t.Fatal("the list scrolls for ever")
		}
	}
}

// At 80x24 the picker groups the scenarios under their sections'
// headings and, scrolled with the arrows, shows every one of them on a
// line of its own that fits the width: the full catalogue of the course,
// and the catalogue of this build.
func TestDemoListReachesEveryScenarioAt80x24(t *testing.T) {
	for _, c := range []struct {
		name string
		list []*demo.Scenario
	}{{"course", courseCatalogue()}, {"catalogue", demo.Catalogue()}} {
		t.Run(c.name, func(t *testing.T) {
			h := pickerAt(t, 80, 24, c.list, false, true)
			if len(c.list) >= 24 && !h.m.demos.list.scrolls() {
				t.Fatalf("%d scenarios and their headings fit in 80x24?\n%s", len(c.list), h.screen())
			}
			if h.m.demos.list.scrolls() && !strings.Contains(h.screen(), "↑↓ scroll") {
				t.Errorf("the footer does not offer scrolling:\n%s", h.screen())
			}
			shown := scrollThrough(t, h, 80, 24)
			lines := slices.Collect(func(yield func(string) bool) {
				for l := range shown {
					if !yield(l) {
						return
					}
				}
			})
			for _, g := range demo.Grouped(c.list) {
				if !shown[string(g.Section)] {
					t.Errorf("no heading %q", g.Section)
				}
				for _, sc := range g.Scenarios {
					prefix := "  " + sc.Key + "  " + sc.Name + " "
					if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) }) {
						t.Errorf("%s (%s) never shown", sc.Name, sc.Key)
					}
				}
			}
			// The last page ends the list: the indicator says the last row.
			if h.m.demos.list.scrolls() {
				n := len(h.m.demos.list.rows)
				if want := "-" + strconv.Itoa(n) + " of " + strconv.Itoa(n) + " "; !strings.Contains(h.screen(), want) {
					t.Errorf("the bottom of the list does not say row %d of %d:\n%s", n, n, h.screen())
				}
			}
		})
	}
}

// The headings come in the course's order, each right above its own
// scenarios.
func TestDemoListHeadingsAboveTheirScenarios(t *testing.T) {
	h := pickerAt(t, 120, 60, courseCatalogue(), true, true)
	var cur demo.Section
	var order []demo.Section
	for _, r := range h.m.demos.list.rows {
		if r.sc == nil {
			cur = r.section
			order = append(order, cur)
			continue
		}
		if r.sc.Section != cur {
			t.Errorf("%s (%s) under %q", r.sc.Name, r.sc.Section, cur)
		}
	}
	if !slices.Equal(order, demo.Sections()) {
		t.Errorf("headings %q, want %q", order, demo.Sections())
	}
	// Everything fits at 120x60: no indicator, no scroll key offered.
	if strings.Contains(h.screen(), "scenarios: rows") || strings.Contains(h.screen(), "↑↓ scroll") {
		t.Errorf("a list that fits offers scrolling:\n%s", h.screen())
	}
}

// In the list j, k and g start their scenarios, not scroll: the arrows
// and page keys scroll instead. Keys the list keeps for itself (quit,
// back, the arrows and page keys) are no scenario's key.
func TestDemoListKeysDoNotCollide(t *testing.T) {
	for _, list := range [][]*demo.Scenario{courseCatalogue(), demo.Catalogue()} {
		k := DefaultKeyMap(list)
		for _, sc := range list {
			msg := keyMsg(sc.Key)
			for _, b := range []key.Binding{k.Quit, k.Back, k.listScroll(), k.PageUp, k.PageDown} {
				if key.Matches(msg, b) {
					t.Errorf("scenario %s's key %q is also %q (%s)", sc.Name, sc.Key, b.Keys(), b.Help().Desc)
				}
			}
		}
	}
	course := courseCatalogue()
	for _, name := range []string{"accept-abort", "udp-refused", "prefork-server"} {
		i := slices.IndexFunc(course, func(sc *demo.Scenario) bool { return sc.Name == name })
		sc := course[i]
		h := pickerAt(t, 80, 24, course, true, true)
		h.key("down")
		cmd := h.key(sc.Key)
		if cmd == nil || h.m.mode != modeTable {
			t.Fatalf("%s in the list: mode %v, want %s started", sc.Key, h.m.mode, sc.Name)
		}
		// The start fails at once (the scenario has no steps), but it was
		// this scenario's start.
		for _, msg := range run(cmd) {
			if m, ok := msg.(demoStartedMsg); ok && m.sc != sc {
				t.Errorf("%s started %s", sc.Key, m.sc.Name)
			}
		}
	}
	h := pickerAt(t, 80, 24, course, true, true)
	for _, c := range []struct {
		key  string
		want func(off, last int) bool
	}{
		{"down", func(off, _ int) bool { return off == 1 }},
		{"pgdown", func(off, _ int) bool { return off > 1 }},
		{"end", func(off, last int) bool { return off == last }},
		{"up", func(off, last int) bool { return off == last-1 }},
		{"home", func(off, _ int) bool { return off == 0 }},
	} {
		h.key(c.key)
		l := &h.m.demos.list
		if last := l.lastOffset(); !c.want(l.offset, last) || h.m.mode != modeDemos {
			t.Errorf("%s: offset %d of %d, mode %v", c.key, l.offset, last, h.m.mode)
		}
	}
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if h.m.demos.list.offset != 3 {
		t.Errorf("the wheel moved the list to %d, want 3", h.m.demos.list.offset)
	}
	h.key("esc")
	h.key("d")
	if h.m.demos.list.offset != 0 {
		t.Errorf("the list opens scrolled to %d", h.m.demos.list.offset)
	}
}

// Without root the scenarios that need it are marked; as root they are
// not.
func TestDemoListMarksRoot(t *testing.T) {
	for _, root := range []bool{false, true} {
		h := pickerAt(t, 80, 24, courseCatalogue(), root, true)
		h.key("end")
		var marked []string
		for _, l := range strings.Split(h.screen(), "\n") {
			if strings.Contains(l, rootMark) {
				marked = append(marked, strings.Fields(l)[1])
			}
		}
		want := []string{"host-crash", "buffer-sizes"}
		if root {
			want = nil
		}
		if !slices.Equal(marked, want) {
			t.Errorf("root %v: marked %q, want %q\n%s", root, marked, want, h.screen())
		}
	}
}

// The picker with the course's 24 scenarios at 80x24, top and bottom,
// as not root (the root-needing ones marked).
func TestGoldenDemoList(t *testing.T) {
	for _, c := range []struct {
		name string
		keys []string
		w, h int
	}{
		{"demo_list_80x24", nil, 80, 24},
		{"demo_list_80x24_end", []string{"end"}, 80, 24},
		{"demo_list_40x15", []string{"pgdown"}, 40, 15},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkGoldens(t, c.name, c.w, c.h, func(t *testing.T, noColor bool) *harness {
				h := pickerAt(t, c.w, c.h, courseCatalogue(), false, noColor)
				for _, k := range c.keys {
					h.key(k)
				}
				return h
			})
		})
	}
}
