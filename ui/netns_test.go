package ui

// Tests of the live view across network namespaces (--all-netns, -N): the
// NetNS column, its sort, the header and the detail view.

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
)

var (
	nsHost = collect.NetNS{Inode: 4026531840, Name: collect.HostNetNSName}
	nsWeb  = collect.NetNS{Inode: 4026532301, Name: "web-1"}
	nsBare = collect.NetNS{Inode: 4026532299} // no name found
)

// netnsFixture is fixture with its sockets spread over three namespaces
// in runs, as an --all-netns snapshot lists them: the host's, a named
// one's and one without a name.
func netnsFixture() collect.Snapshot {
	s := fixture()
	for i := range s.Sockets {
		switch {
		case i < len(s.Sockets)/2:
			s.Sockets[i].NetNS = nsHost
		case i < len(s.Sockets)-3:
			s.Sockets[i].NetNS = nsWeb
		default:
			s.Sockets[i].NetNS = nsBare
		}
	}
	return s
}

// headerRow is the table's title row of the screen.
func headerRow(t *testing.T, screen string) string {
	t.Helper()
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, "Proto") && strings.Contains(l, "State") {
			return l
		}
	}
	t.Fatalf("no table header row:\n%s", screen)
	return ""
}

func TestNetNSColumnWhenSeveral(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 140, Height: 30})
	h.feed(fixture())
	if row := headerRow(t, h.screen()); strings.Contains(row, "NetNS") {
		t.Errorf("one namespace: the table shows NetNS: %q", row)
	}
	if strings.Contains(h.screen(), "netns") {
		t.Errorf("one namespace: the header names one:\n%s", h.screen())
	}
	h.feed(netnsFixture())
	screen := h.screen()
	if row := headerRow(t, screen); !strings.Contains(row, "NetNS") {
		t.Errorf("three namespaces: no NetNS column: %q", row)
	}
	if first := strings.SplitN(screen, "\n", 2)[0]; !strings.Contains(first, "netns 3") {
		t.Errorf("header does not count the namespaces: %q", first)
	}
	for _, cell := range []string{"host", "web-1"} {
		if !strings.Contains(screen, " "+cell+" ") {
			t.Errorf("no %q cell:\n%s", cell, screen)
		}
	}
	// Narrowed to one namespace by the filter, the column stays: the
	// snapshot still spans three.
	h.key("/")
	h.typeText("netns web-1")
	h.key("enter")
	if row := headerRow(t, h.screen()); !strings.Contains(row, "NetNS") {
		t.Errorf("filtered to one namespace of three: no NetNS column: %q", row)
	}
}

// TestNetNSHeaderOne: -N NAME shows one other namespace: the header
// names it and the table has no NetNS column.
func TestNetNSHeaderOne(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 140, Height: 30})
	s := fixture()
	for i := range s.Sockets {
		s.Sockets[i].NetNS = nsWeb
	}
	h.feed(s)
	screen := h.screen()
	if first := strings.SplitN(screen, "\n", 2)[0]; !strings.Contains(first, "netns web-1") {
		t.Errorf("header does not name the namespace: %q", first)
	}
	if row := headerRow(t, screen); strings.Contains(row, "NetNS") {
		t.Errorf("one namespace: NetNS column: %q", row)
	}
	for i := range s.Sockets {
		s.Sockets[i].NetNS = nsHost
	}
	h.feed(s)
	if first := strings.SplitN(h.screen(), "\n", 2)[0]; strings.Contains(first, "netns") {
		t.Errorf("socktop's own namespace alone is named: %q", first)
	}
}

// TestNetNSSortKey: s reaches NetNS only while the column is shown, and
// sorts by name, then inode (a namespace without a name first).
func TestNetNSSortKey(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 140, Height: 30})
	h.feed(fixture())
	for range 2 * numColumns {
		h.key("s")
		if h.m.table.sortCol == colNetNS {
			t.Fatal("s sorts by NetNS, which the table does not show")
		}
	}
	h = newHarness(t, Config{}) // no gone rows of the first snapshot
	h.send(tea.WindowSizeMsg{Width: 140, Height: 30})
	h.feed(netnsFixture())
	reached := false
	for range numColumns {
		h.key("s")
		if h.m.table.sortCol == colNetNS {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatal("s never sorts by NetNS while the table shows it")
	}
	if row := headerRow(t, h.screen()); !strings.Contains(row, "NetNS▲") {
		t.Errorf("header row does not mark the NetNS sort: %q", row)
	}
	var order []collect.NetNS
	for _, r := range h.m.rows {
		if len(order) == 0 || order[len(order)-1] != r.s.NetNS {
			order = append(order, r.s.NetNS)
		}
	}
	want := []collect.NetNS{nsBare, nsHost, nsWeb}
	if len(order) != len(want) {
		t.Fatalf("namespaces in runs %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("namespaces in order %v, want %v", order, want)
		}
	}
	h.key("S")
	if first, last := h.m.rows[0].s.NetNS, h.m.rows[len(h.m.rows)-1].s.NetNS; first != nsWeb || last != nsBare {
		t.Errorf("reversed: first %v, last %v", first, last)
	}
}

// The packed NetNS key orders rows as the plain comparison does.
func TestNetNSSortAgreesWithCompare(t *testing.T) {
	socks := netnsFixture().Sockets
	same := collect.NetNS{Inode: nsWeb.Inode + 1, Name: nsWeb.Name} // a name given twice
	socks = append(socks, socks[0], socks[1])
	socks[len(socks)-1].NetNS, socks[len(socks)-2].NetNS = same, same
	for _, desc := range []bool{false, true} {
		rows := sortedRows(socks, colNetNS, desc)
		for i := 1; i < len(rows); i++ {
			c := cmpBy(colNetNS, rows[i-1].s, rows[i].s)
			if desc {
				c = -c
			}
			if c > 0 {
				t.Fatalf("desc=%v: rows %d and %d out of order: %v / %v", desc, i-1, i, rows[i-1].s.NetNS, rows[i].s.NetNS)
			}
		}
	}
}

func TestNetNSDetail(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.feed(netnsFixture())
	h.selectRow("in web-1", func(s *collect.Socket) bool { return s.NetNS == nsWeb })
	h.key("enter")
	if !strings.Contains(h.screen(), "NetNS         web-1 (inode 4026532301)") {
		t.Errorf("detail view does not name the namespace:\n%s", h.screen())
	}
	h.key("esc")
	h.selectRow("unnamed", func(s *collect.Socket) bool { return s.NetNS == nsBare })
	h.key("enter")
	if !strings.Contains(h.screen(), "NetNS         inode 4026532299") {
		t.Errorf("detail view does not give the unnamed namespace's inode:\n%s", h.screen())
	}
}

func TestGoldenNetNS(t *testing.T) {
	checkGoldens(t, "netns_120x30", 120, 30, func(t *testing.T, noColor bool) *harness {
		h := newHarness(t, Config{NoColor: noColor})
		h.send(tea.WindowSizeMsg{Width: 120, Height: 30})
		h.feed(netnsFixture())
		return h
	})
}
