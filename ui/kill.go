package ui

import (
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/output"
)

// killState is the K key's question and the kill it leads to. The
// sockets are copied when K is pressed: the kill is of the rows the
// user saw, named by their cookies, whatever the table shows meanwhile.
type killState struct {
	asking bool
	one    collect.Socket   // the selected row
	all    []collect.Socket // the filtered rows, when a filter shows more than one
	// running is set while a kill's Cmd has not answered.
	running bool
}

// killDoneMsg is the answer of a kill's Cmd.
type killDoneMsg struct {
	socks   []collect.Socket
	results []collect.KillResult
}

// killable reports whether Destroy can kill s (TCP and UDP only).
func killable(s *collect.Socket) bool { return s.Proto == collect.TCP || s.Proto == collect.UDP }

// askKill opens the question for the selected row, offering every
// filtered row too when a filter is active.
func (m *model) askKill() {
	switch {
	case m.kill.running:
		m.flash = "kill: the last kill has not answered yet"
		return
	case m.selected < 0 || m.selected >= len(m.rows):
		m.flash = "kill: no row selected"
		return
	}
	one := *m.rows[m.selected].s
	if !killable(&one) {
		m.flash = "kill: only TCP and UDP sockets can be killed"
		return
	}
	m.kill.asking, m.kill.one, m.kill.all = true, one, nil
	if m.filter != nil {
		for i := range m.rows {
			if killable(m.rows[i].s) {
				m.kill.all = append(m.kill.all, *m.rows[i].s)
			}
		}
		if len(m.kill.all) < 2 {
			m.kill.all = nil
		}
	}
	all := ""
	if n := len(m.kill.all); n > 0 {
		all = fmt.Sprintf(" · a: all %d filtered", n)
	}
	m.flash = m.fit(fmt.Sprintf("kill %s? y: yes%s · n: no — the peer gets an RST, the program sees ECONNABORTED",
		killName(&one), all))
}

// killKey answers the question: y kills the row, a the filtered rows,
// ctrl+c quits, any other key is no. The kill runs in a Cmd.
func (m *model) killKey(msg tea.KeyPressMsg) tea.Cmd {
	m.kill.asking = false
	var targets []collect.Socket
	switch {
	case msg.String() == "y":
		targets = []collect.Socket{m.kill.one}
	case msg.String() == "a" && len(m.kill.all) > 0:
		targets = m.kill.all
	case msg.String() == "ctrl+c":
		return tea.Quit
	default:
		m.flash = "not killed"
		return nil
	}
	m.kill.running = true
	m.flash = fmt.Sprintf("killing %s…", countOf(len(targets), "socket"))
	ctx := m.ctx
	return func() tea.Msg {
		return killDoneMsg{socks: targets, results: collect.DestroyAll(ctx, targets)}
	}
}

// killDone puts the kill's result in the flash line and asks for a
// refresh, so the killed rows go.
func (m *model) killDone(msg killDoneMsg) tea.Cmd {
	m.kill.running = false
	killed := 0
	var firstErr error
	for _, r := range msg.results {
		if r.Err == nil {
			killed++
		} else if firstErr == nil {
			firstErr = r.Err
		}
	}
	switch {
	case firstErr == nil && len(msg.socks) == 1:
		m.flash = "killed " + killName(&msg.socks[0])
	case firstErr == nil:
		m.flash = "killed " + countOf(killed, "socket")
	default:
		why := strings.TrimPrefix(firstErr.Error(), "collect: ")
		if errors.Is(firstErr, collect.ErrNeedNetAdmin) {
			why = collect.ErrNeedNetAdmin.Error()
		}
		m.flash = fmt.Sprintf("killed %d of %s: %s", killed, countOf(len(msg.socks), "socket"), why)
	}
	m.flash = m.fit(m.flash)
	if m.inFlight {
		return nil
	}
	return m.collectCmd()
}

// fit cuts a flash line to the terminal's width.
func (m *model) fit(s string) string {
	if m.width <= 0 {
		return s
	}
	return ansi.Truncate(s, m.width, "…")
}

// killName names a socket in the question and the answer.
func killName(s *collect.Socket) string {
	return fmt.Sprintf("%s %s → %s %s", s.Proto, output.FormatAddr(s.Local, s.Family),
		output.FormatAddr(s.Remote, s.Family), s.State)
}

// countOf is "1 socket", "3 sockets".
func countOf(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
