package ui

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/internal/synth"
)

// scriptSource hands out prepared snapshots in order (the last one
// repeatedly) and fails the test when it is called while Update runs:
// collection must happen in the Cmd Update returns, never in Update.
type scriptSource struct {
	t        *testing.T
	mu       sync.Mutex
	snaps    []collect.Snapshot
	calls    int
	updating *atomic.Bool
}

func (s *scriptSource) Snapshot(context.Context) (collect.Snapshot, error) {
	if s.updating != nil && s.updating.Load() {
		s.t.Errorf("Source.Snapshot called from within Update")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	i := min(s.calls-1, len(s.snaps)-1)
	return s.snaps[i], nil
}

func (s *scriptSource) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// harness drives a model the way the bubbletea loop does, but by hand.
type harness struct {
	t        *testing.T
	m        *model
	src      *scriptSource
	updating atomic.Bool
}

func newHarness(t *testing.T, cfg Config, snaps ...collect.Snapshot) *harness {
	t.Helper()
	h := &harness{t: t}
	h.src = &scriptSource{t: t, snaps: snaps, updating: &h.updating}
	if cfg.Source == nil {
		cfg.Source = h.src
	}
	if cfg.Host == "" {
		cfg.Host = "testhost"
	}
	reg := &demoRegistry{}
	t.Cleanup(reg.stopAll)
	m, err := newModel(context.Background(), cfg, reg)
	if err != nil {
		t.Fatalf("newModel: %v", err)
	}
	// Ticks come back at once: tests decide when to deliver them.
	m.after = func(_ time.Duration, msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }
	h.m = m
	return h
}

// send runs Update with the source armed against synchronous calls.
func (h *harness) send(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	h.updating.Store(true)
	_, cmd := h.m.Update(msg)
	h.updating.Store(false)
	return cmd
}

// run executes a Cmd (and the Cmds of a batch) and returns the messages.
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, run(c)...)
		}
		return out
	}
	if msg == nil {
		return nil
	}
	return []tea.Msg{msg}
}

// key sends a key press given as its string form ("j", "enter", "space").
func (h *harness) key(k string) tea.Cmd {
	h.t.Helper()
	return h.send(keyMsg(k))
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// typeText types a string into whatever has focus.
func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// feed delivers one snapshot as if a collection had returned it.
func (h *harness) feed(s collect.Snapshot) {
	h.t.Helper()
	h.send(snapMsg{snap: s})
}

// screen is the current frame without escape sequences.
func (h *harness) screen() string { return ansi.Strip(h.m.frame) }

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
	t0  = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func tcpSock(state collect.State, lport, rport uint16) collect.Socket {
	s := collect.Socket{Proto: collect.TCP, Family: 4, State: state, Local: ap(lo4, lport), Remote: ap(lo4, rport)}
	if state == collect.StateListen {
		s.Remote = ap(netip.IPv4Unspecified(), 0)
	}
	return s
}

// fixture is a fixed table for the golden views: the synthetic proxy table
// plus UDP sockets, a socket with no owner and one with several.
func fixture() collect.Snapshot {
	s := *synth.Table(40, 7)
	s.Sockets = append([]collect.Socket(nil), s.Sockets...)
	s.Source = "netlink"
	s.Owners = collect.OwnersComplete
	udp := collect.Socket{Proto: collect.UDP, Family: 4, State: collect.StateUnconn,
		Local: ap(lo4, 5353), Remote: ap(netip.IPv4Unspecified(), 0), Inode: 4242,
		Owners: []collect.Owner{{PID: 501, Name: "avahi-daemon"}}}
	udp6 := collect.Socket{Proto: collect.UDP, Family: 6, State: collect.StateEstablished,
		Local: ap(lo6, 40000), Remote: ap(lo6, 53), Inode: 4243,
		Owners: []collect.Owner{{PID: 600, Name: "resolved"}, {PID: 601, Name: "resolved"}, {PID: 602, Name: "resolved"}}}
	cw := tcpSock(collect.StateCloseWait, 8080, 51000)
	cw.RecvQ = 1
	cw.Owners = []collect.Owner{{PID: 4000, Name: "leaky-server-with-a-long-name"}}
	s.Sockets = append(s.Sockets, udp, udp6, cw)
	return s
}

// fixtureNext is fixture one second later: a socket closed into TIME_WAIT,
// one gone, one new, one queue changed.
func fixtureNext() collect.Snapshot {
	s := fixture()
	s.Taken = s.Taken.Add(time.Second)
	socks := s.Sockets
	// Find an ESTABLISHED one to move to FIN_WAIT_2, drop the first
	// TIME_WAIT, bump the CLOSE_WAIT queue and add a SYN_SENT.
	var out []collect.Socket
	moved, dropped := false, false
	for _, x := range socks {
		switch {
		case !moved && x.State == collect.StateEstablished && x.Proto == collect.TCP:
			x.State, x.Timer, x.TimerLeft, x.Owners, x.Inode = collect.StateFinWait2, collect.TimerTimeWait, 59*time.Second, nil, 0
			moved = true
		case !dropped && x.State == collect.StateTimeWait:
			dropped = true
			continue
		case x.State == collect.StateCloseWait:
			x.RecvQ = 2
		}
		out = append(out, x)
	}
	syn := tcpSock(collect.StateSynSent, 52000, 9)
	syn.SendQ, syn.Timer, syn.TimerLeft, syn.Retrans = 1, collect.TimerOn, 796*time.Millisecond, 2
	s.Sockets = append(out, syn)
	return s
}

// promptLines finds the prompt's input line (the last one starting with
// the prompt's "/") and the line under it, where a parse error's caret
// goes.
func promptLines(screen string) (input, under string) {
	lines := strings.Split(screen, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], promptPrefix) {
			if i+1 < len(lines) {
				return lines[i], lines[i+1]
			}
			return lines[i], ""
		}
	}
	return "", ""
}
