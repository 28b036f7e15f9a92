package ui

// Tests of the root model: the refresh cycle: collections run in Cmds, ticks, the interval, pause and errors.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
)

func TestInitCollectsInCmdNotInUpdate(t *testing.T) {
	h := newHarness(t, Config{}, fixture())
	cmd := h.m.Init()
	if h.src.Calls() != 0 {
		t.Fatalf("Init called the source itself")
	}
	var snap *snapMsg
	var tick *tickMsg
	for _, msg := range run(cmd) {
		switch msg := msg.(type) {
		case snapMsg:
			snap = &msg
		case tickMsg:
			tick = &msg
		}
	}
	if snap == nil || tick == nil {
		t.Fatalf("Init's Cmd gave snap=%v tick=%v, want both", snap, tick)
	}
	if h.src.Calls() != 1 {
		t.Fatalf("source called %d times, want 1 (by the Cmd)", h.src.Calls())
	}
	// Feeding the result and a tick: Update must not call the source; the
	// tick's Cmd does.
	h.send(*snap)
	cmd = h.send(*tick)
	if h.src.Calls() != 1 {
		t.Fatalf("Update called the source")
	}
	msgs := run(cmd)
	if h.src.Calls() != 2 {
		t.Fatalf("the tick's Cmd did not collect: %d calls", h.src.Calls())
	}
	if len(msgs) != 2 {
		t.Fatalf("tick Cmd gave %d messages, want a snapshot and the next tick", len(msgs))
	}
}

func TestAtMostOneCollectionInFlight(t *testing.T) {
	h := newHarness(t, Config{}, fixture())
	h.m.Init() // marks a collection in flight; its result is never delivered
	cmd := h.send(tickMsg{gen: h.m.gen})
	for _, msg := range run(cmd) {
		if _, ok := msg.(snapMsg); ok {
			t.Fatalf("a second collection started while one was in flight")
		}
	}
	if h.src.Calls() != 0 {
		t.Fatalf("source called %d times", h.src.Calls())
	}
}

func TestStaleTickDropped(t *testing.T) {
	h := newHarness(t, Config{Interval: time.Second}, fixture())
	old := h.m.gen
	cmd := h.key("+")
	if h.m.interval != 500*time.Millisecond {
		t.Fatalf("interval after + = %v, want 500ms", h.m.interval)
	}
	msgs := run(cmd)
	if len(msgs) != 1 || msgs[0].(tickMsg).gen == old {
		t.Fatalf("+ should schedule a tick of a new generation, got %v", msgs)
	}
	if cmd := h.send(tickMsg{gen: old}); cmd != nil {
		t.Fatalf("a stale tick produced a Cmd")
	}
	if cmd := h.send(msgs[0]); cmd == nil {
		t.Fatalf("the current tick produced no Cmd")
	}
}

func TestIntervalSteps(t *testing.T) {
	h := newHarness(t, Config{Interval: time.Second}, fixture())
	want := []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}
	for _, w := range want {
		h.key("-")
		if h.m.interval != w {
			t.Fatalf("after -: %v, want %v", h.m.interval, w)
		}
	}
	for range 10 {
		h.key("+")
	}
	if h.m.interval != 100*time.Millisecond {
		t.Fatalf("floor is %v, want 100ms", h.m.interval)
	}
	if !strings.Contains(h.screen(), "every 100ms") {
		t.Fatalf("header does not show the interval:\n%s", h.screen())
	}
}

func TestPauseFreezesView(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{tcpSock(collect.StateListen, 80, 0)}})
	h.key("space")
	if !strings.Contains(h.screen(), "PAUSED") {
		t.Fatalf("PAUSED not shown:\n%s", h.screen())
	}
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{tcpSock(collect.StateListen, 80, 0), tcpSock(collect.StateListen, 81, 0)}})
	if len(h.m.rows) != 1 {
		t.Fatalf("paused view changed: %d rows", len(h.m.rows))
	}
	// The tick chain goes on while paused.
	if cmd := h.send(tickMsg{gen: h.m.gen}); cmd == nil {
		t.Fatalf("ticks stopped while paused")
	}
	h.key("space")
	if len(h.m.rows) != 2 || strings.Contains(h.screen(), "PAUSED") {
		t.Fatalf("resume did not apply the newest snapshot: %d rows", len(h.m.rows))
	}
}

func TestCollectErrorShown(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(snapMsg{err: errors.New("netlink: permission denied")})
	if !strings.Contains(h.screen(), "permission denied") {
		t.Fatalf("error not shown:\n%s", h.screen())
	}
}

// A panic or a failed event loop is an error for main (exit 1); quitting
// through a signal or an interrupt is not.
func TestRunErr(t *testing.T) {
	panicked := fmt.Errorf("%w: %w", tea.ErrProgramKilled, tea.ErrProgramPanic)
	signalled := fmt.Errorf("%w: %w", tea.ErrProgramKilled, context.Canceled)
	cases := []struct {
		err    error
		failed bool
	}{
		{nil, false},
		{panicked, true},
		{signalled, false},
		{tea.ErrInterrupted, false},
		{tea.ErrProgramKilled, true},
		{errors.New("tty gone"), true},
	}
	for _, c := range cases {
		if got := runErr(c.err) != nil; got != c.failed {
			t.Errorf("runErr(%v) failed=%v, want %v", c.err, got, c.failed)
		}
	}
}
