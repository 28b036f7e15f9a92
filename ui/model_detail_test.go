package ui

// Tests of the root model: the help screen and the detail view.

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
)

func TestHelpAndDetailKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("?")
	if h.m.mode != modeHelp || !strings.Contains(h.screen(), "reverse sort") {
		t.Fatalf("? did not show the full help:\n%s", h.screen())
	}
	h.key("esc")
	if h.m.mode != modeTable {
		t.Fatalf("esc did not leave help")
	}
	h.selectRow("CLOSE_WAIT", func(s *collect.Socket) bool { return s.State == collect.StateCloseWait })
	cmd := h.key("enter")
	if h.m.mode != modeDetail {
		t.Fatalf("enter did not open the detail view")
	}
	if cmd != nil {
		t.Fatalf("no InfoSource, yet the detail view started a fetch")
	}
	scr := h.screen()
	for _, want := range []string{"CLOSE_WAIT", "leaky-server-with-a-long-name/4000", "Recv-Q", "not available"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("detail lacks %q:\n%s", want, scr)
		}
	}
	h.key("esc")
	if h.m.mode != modeTable {
		t.Fatalf("esc did not leave the detail view")
	}
	if cmd := h.key("q"); cmd == nil || cmd() != tea.Quit() {
		t.Fatalf("q does not quit")
	}
}

// infoSource answers Info for one key and records being called.
type infoSource struct {
	want  collect.Key
	calls int
}

func (s *infoSource) Info(_ context.Context, k collect.Key) (*collect.TCPInfo, error) {
	s.calls++
	if k != s.want {
		return nil, collect.ErrNotFound
	}
	return &collect.TCPInfo{RTT: 120 * time.Microsecond, RTTVar: 30 * time.Microsecond, Cwnd: 10, BytesAcked: 1234, BytesReceived: 99}, nil
}

func TestDetailFetchesInfoInCmd(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	info := &infoSource{want: a.Key()}
	h := newHarness(t, Config{Info: info})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a}})
	cmd := h.key("enter")
	if info.calls != 0 {
		t.Fatalf("Update called Info itself")
	}
	if !strings.Contains(h.screen(), "fetching") {
		t.Fatalf("no fetching notice:\n%s", h.screen())
	}
	msgs := run(cmd)
	if info.calls != 1 || len(msgs) != 1 {
		t.Fatalf("the Cmd did not fetch: calls=%d msgs=%v", info.calls, msgs)
	}
	h.send(msgs[0])
	scr := h.screen()
	for _, want := range []string{"120µs ± 30µs", "Cwnd", "1234", "99"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("detail lacks %q:\n%s", want, scr)
		}
	}
}

// The detail view stays on its socket when it goes away, marked gone, and
// refreshes tcp_info after each snapshot while the socket is there.
func TestDetailFollowsItsSocket(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	info := &infoSource{want: a.Key()}
	h := newHarness(t, Config{Info: info})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	for _, msg := range run(h.key("enter")) {
		h.send(msg)
	}
	if info.calls != 1 {
		t.Fatalf("Info calls %d, want 1", info.calls)
	}
	cmd := h.send(snapMsg{snap: collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a, b}}})
	if run(cmd); info.calls != 2 {
		t.Fatalf("a refresh did not refetch tcp_info: %d calls", info.calls)
	}
	for i := 2; i < 2+markRefreshes+1; i++ {
		h.feed(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Sockets: []collect.Socket{b}})
	}
	if h.m.detail.sock.Key() != a.Key() || !h.m.detail.gone {
		t.Fatalf("detail shows %v gone=%v, want %v gone", h.m.detail.sock.Key(), h.m.detail.gone, a.Key())
	}
	if !strings.Contains(h.screen(), "[gone]") || !strings.Contains(h.screen(), ":3000") {
		t.Fatalf("detail does not say gone:\n%s", h.screen())
	}
}

// In the detail view the table's keys do nothing: the selection stays, so
// a refresh cannot show one socket's tcp_info under another's name.
func TestDetailIgnoresTableKeys(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{Info: &infoSource{want: a.Key()}})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	for _, msg := range run(h.key("enter")) {
		h.send(msg)
	}
	for _, k := range []string{"j", "G", "s", "/"} {
		h.key(k)
	}
	h.feed(collect.Snapshot{Taken: t0.Add(time.Second), Sockets: []collect.Socket{a, b}})
	if h.m.mode != modeDetail || h.m.selKey != a.Key() || h.m.detail.sock.Key() != a.Key() || h.m.prompt.active {
		t.Fatalf("after table keys: mode %v, selected %v, detail %v, prompt %v; want the detail of %v",
			h.m.mode, h.m.selKey, h.m.detail.sock.Key(), h.m.prompt.active, a.Key())
	}
	if h.m.detail.info == nil || !strings.Contains(h.screen(), ":3000") {
		t.Fatalf("detail lost its tcp_info or its socket:\n%s", h.screen())
	}
}

// Enter opens the row that is shown selected, even when the key of a
// socket that went is still remembered.
func TestOpenDetailUsesSelectedRow(t *testing.T) {
	a := tcpSock(collect.StateEstablished, 3000, 40000)
	b := tcpSock(collect.StateEstablished, 3001, 40001)
	h := newHarness(t, Config{})
	h.feed(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{a, b}})
	h.key("enter")
	for i := 1; i <= markRefreshes+1; i++ { // a goes, then its gone row too
		h.feed(collect.Snapshot{Taken: t0.Add(time.Duration(i) * time.Second), Sockets: []collect.Socket{b}})
	}
	h.key("esc")
	h.key("enter")
	if h.m.detail.sock.Key() != b.Key() || h.m.selKey != b.Key() {
		t.Fatalf("enter opened %v (selKey %v), want the shown row %v", h.m.detail.sock.Key(), h.m.selKey, b.Key())
	}
}
