package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/group"
)

// The group table by port and by state, after the fixture's two
// refreshes, in colour and under NO_COLOR.
func TestGroupViewGolden(t *testing.T) {
	for _, c := range []struct {
		name  string
		keys  []string
		w, h  int
		check string
	}{
		{"group_port", []string{"b"}, 80, 24, "Port"},
		{"group_state", []string{"b", "b", "b", "b"}, 80, 24, "State"},
		{"group_process_narrow", []string{"b", "b", "b"}, 60, 16, "Process"},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkGoldens(t, c.name, c.w, c.h, func(t *testing.T, noColor bool) *harness {
				hs := newHarness(t, Config{NoColor: noColor})
				hs.send(tea.WindowSizeMsg{Width: c.w, Height: c.h})
				hs.feed(fixture())
				hs.feed(fixtureNext())
				for _, k := range c.keys {
					hs.key(k)
				}
				if !strings.Contains(hs.screen(), c.check+"  ") && !strings.Contains(hs.screen(), c.check+" ") {
					t.Fatalf("no %s column:\n%s", c.check, hs.screen())
				}
				return hs
			})
		})
	}
}

// b cycles the key round port, remote, process, state, container and
// back to the socket table.
func TestGroupKeyCycles(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	for _, want := range []group.By{group.ByPort, group.ByRemote, group.ByProcess, group.ByState, group.ByContainer, 0} {
		h.key("b")
		if h.m.group.by != want {
			t.Fatalf("by %v, want %v", h.m.group.by, want)
		}
	}
	if !strings.Contains(h.screen(), "Local") {
		t.Errorf("after the last b the socket table is not back:\n%s", h.screen())
	}
}

// The group counts are those of the filtered rows, and enter on a group
// narrows the table to exactly its sockets through the filter.
func TestGroupDrillDown(t *testing.T) {
	h := newHarness(t, Config{})
	snap := fixture()
	h.feed(snap)
	h.key("b") // by port
	if len(h.m.group.groups) == 0 {
		t.Fatal("no groups")
	}
	// The biggest group is first.
	top := h.m.group.groups[0]
	for _, g := range h.m.group.groups[1:] {
		if g.Count > top.Count {
			t.Fatalf("group %s (%d) sorted after %s (%d)", g.Key, g.Count, top.Key, top.Count)
		}
	}
	h.key("enter")
	want := "sport = :" + strings.TrimPrefix(top.Key.String(), ":")
	if h.m.group.on() || h.m.filterText != want {
		t.Fatalf("after enter: group view %v, filter %q; want the table under %q", h.m.group.on(), h.m.filterText, want)
	}
	if len(h.m.rows) != top.Count {
		t.Errorf("%d rows under %q, the group had %d", len(h.m.rows), want, top.Count)
	}
	for _, r := range h.m.rows {
		if r.s.Local.Port() != top.Key.Port {
			t.Errorf("row %v is not on port %d", r.s.Key(), top.Key.Port)
		}
	}
	// Grouping again works on the filtered rows, and drilling down joins
	// the new group's filter to the one in force.
	h.key("b")
	h.key("b") // by remote
	if n := len(h.m.group.groups); n == 0 {
		t.Fatal("no remote groups under the filter")
	}
	sum := 0
	for _, g := range h.m.group.groups {
		sum += g.Count
	}
	if sum != len(h.m.rows) {
		t.Errorf("remote groups add up to %d, %d rows", sum, len(h.m.rows))
	}
	g := h.m.group.groups[h.m.group.selected]
	h.key("enter")
	if g.Key.Special == group.Keyed {
		if !strings.HasPrefix(h.m.filterText, "("+want+") and dst ") {
			t.Errorf("filter %q: want (%s) and dst ...", h.m.filterText, want)
		}
		if len(h.m.rows) != g.Count {
			t.Errorf("%d rows, the group had %d", len(h.m.rows), g.Count)
		}
	}
}

// A group no filter selects alone (sockets nobody holds) keeps the view
// and the filter, and says why.
func TestGroupDrillDownNoFilter(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("b")
	h.key("b")
	h.key("b") // by process
	i := -1
	for j, g := range h.m.group.groups {
		if g.Key.Special == group.NoKey {
			i = j
		}
	}
	if i < 0 {
		t.Fatal("the fixture has no unowned sockets")
	}
	h.m.group.selected = i
	h.key("enter")
	if !h.m.group.on() || h.m.filterText != "" || !strings.Contains(h.screen(), "no filter selects the group -") {
		t.Errorf("group view %v, filter %q, screen:\n%s", h.m.group.on(), h.m.filterText, h.screen())
	}
}

// T answers "who holds the TIME_WAITs" in one key: the TIME_WAITs,
// grouped by port.
func TestTimeWaitsKey(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("T")
	if h.m.filterText != "state time-wait" || h.m.group.by != group.ByPort {
		t.Fatalf("filter %q, by %v", h.m.filterText, h.m.group.by)
	}
	tw := 0
	for _, s := range fixture().Sockets {
		if s.State == collect.StateTimeWait {
			tw++
		}
	}
	sum := 0
	for _, g := range h.m.group.groups {
		sum += g.Count
		if g.Count != g.States[collect.StateTimeWait] {
			t.Errorf("group %s has sockets in other states: %v", g.Key, g.States)
		}
	}
	if tw == 0 || sum != tw {
		t.Errorf("groups add up to %d TIME_WAITs, the fixture has %d", sum, tw)
	}
	if !strings.Contains(h.screen(), "TIME-WAIT") {
		t.Errorf("no TIME-WAIT column:\n%s", h.screen())
	}
}

// s cycles count, key and rate; S turns the order round; the selection
// stays on its group across a refresh.
func TestGroupSort(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("b")
	h.key("s") // by key
	gs := h.m.group.groups
	for i := 1; i < len(gs); i++ {
		if gs[i-1].Key.Port >= gs[i].Key.Port && gs[i].Key.Special == group.Keyed {
			t.Fatalf("ports out of order: %s before %s", gs[i-1].Key, gs[i].Key)
		}
	}
	if !strings.Contains(h.screen(), "Port▲") {
		t.Errorf("the key column does not show the sort:\n%s", h.screen())
	}
	h.key("S")
	if !strings.Contains(h.screen(), "Port▼") || h.m.group.groups[0].Key.Special != group.NoKey && h.m.group.groups[0].Key.Port < h.m.group.groups[len(h.m.group.groups)-1].Key.Port {
		t.Errorf("S did not reverse:\n%s", h.screen())
	}
	h.key("j")
	sel := h.m.group.groups[h.m.group.selected].Key
	h.feed(fixtureNext())
	if got := h.m.group.groups[h.m.group.selected].Key; got != sel {
		t.Errorf("selection moved from %s to %s on a refresh", sel, got)
	}
	h.key("esc")
	if h.m.group.on() {
		t.Error("esc did not close the group table")
	}
}

// Rates show as columns when sockets carry them, and a group none of
// whose sockets has one shows "?", not 0.
func TestGroupRatesColumns(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 30})
	snap := fixture()
	for i := range snap.Sockets {
		if snap.Sockets[i].State == collect.StateEstablished && snap.Sockets[i].Proto == collect.TCP {
			snap.Sockets[i].Rate = &collect.Rate{Send: 2048, Recv: 1024}
		}
	}
	h.feed(snap)
	h.key("b")
	h.key("b")
	h.key("b")
	h.key("b") // by state
	scr := h.screen()
	if !strings.Contains(scr, "Send") || !strings.Contains(scr, "Recv") {
		t.Fatalf("no rate columns:\n%s", scr)
	}
	_, table, _ := strings.Cut(scr, "Count")
	for _, l := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(strings.TrimLeft(l, " >"))
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "LISTEN":
			if !strings.Contains(l, " ? ") && !strings.HasSuffix(strings.TrimSpace(l), "?") {
				t.Errorf("LISTEN has no rated socket but shows %q", l)
			}
		case "ESTABLISHED":
			if !strings.Contains(l, "K/s") {
				t.Errorf("ESTABLISHED row %q lacks its rates", l)
			}
		}
	}
}
