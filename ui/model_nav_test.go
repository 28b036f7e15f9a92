package ui

// Tests of the root model: moving the selection: keys, the wheel, and a selection that follows its socket.

import (
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
)

func TestNavigationKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.feed(fixture())
	n := len(h.m.rows)
	if n < 20 {
		t.Fatalf("fixture has %d rows", n)
	}
	steps := []struct {
		key  string
		want int
	}{
		{"j", 1}, {"down", 2}, {"k", 1}, {"up", 0}, {"up", 0},
		{"G", n - 1}, {"g", 0}, {"pgdown", h.m.table.visibleRows()}, {"pgup", 0},
	}
	for _, s := range steps {
		h.key(s.key)
		if h.m.selected != s.want {
			t.Fatalf("after %q selected=%d, want %d", s.key, h.m.selected, s.want)
		}
	}
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if h.m.selected != 3 {
		t.Fatalf("wheel down: selected=%d, want 3", h.m.selected)
	}
	h.key("G")
	if h.m.table.offset+h.m.table.visibleRows() != n {
		t.Fatalf("last row not scrolled into view: offset %d rows %d n %d", h.m.table.offset, h.m.table.visibleRows(), n)
	}
}

func TestSelectionFollowsSocket(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	c := tcpSock(collect.StateEstablished, 3002, 40002)
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b, c}})
	h.key("j")
	h.key("j")
	if got := h.m.rows[h.m.selected].s.Key(); got != c.Key() {
		t.Fatalf("selected %v, want %v", got, c.Key())
	}
	// Three rows sort before the selected one now.
	x := tcpSock(collect.StateEstablished, 2000, 1)
	y := tcpSock(collect.StateEstablished, 2001, 1)
	z := tcpSock(collect.StateListen, 1000, 0)
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{c, x, a, y, b, z}})
	if got := h.m.rows[h.m.selected].s.Key(); got != c.Key() {
		t.Fatalf("after inserting rows, selected %v, want %v", got, c.Key())
	}
	if h.m.selected != 5 {
		t.Fatalf("selected index %d, want 5", h.m.selected)
	}
	// The selected socket changes state: still selected.
	c2 := c
	c2.State = collect.StateCloseWait
	h.feed(collect.Snapshot{Taken: t0.Add(2 * time.Second), Sockets: []collect.Socket{c2, x, a, y, b, z}})
	if got := h.m.rows[h.m.selected]; got.s.Key() != c.Key() || got.s.State != collect.StateCloseWait {
		t.Fatalf("after a state change, selected %v %v", got.s.Key(), got.s.State)
	}
}

// selectRow moves the selection the way a user does, g then j, until the
// selected row is the first that match accepts; it fails the test if no
// row does.
func (h *harness) selectRow(what string, match func(*collect.Socket) bool) {
	h.t.Helper()
	h.key("g")
	for range h.m.rows {
		if match(h.m.rows[h.m.selected].s) {
			return
		}
		h.key("j")
	}
	h.t.Fatalf("no row is %s", what)
}

// selectRow reaches a row by keys, from wherever the selection was, and
// the model's remembered key follows.
func TestSelectRowPressesKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("G")
	h.selectRow("UNCONN", func(s *collect.Socket) bool { return s.State == collect.StateUnconn })
	if s := h.m.rows[h.m.selected].s; s.State != collect.StateUnconn || h.m.selKey != s.Key() {
		t.Fatalf("selected %v %v (selKey %v), want the UNCONN row", s.Key(), s.State, h.m.selKey)
	}
}
