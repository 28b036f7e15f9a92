package ui

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"socktop/collect"
	"socktop/output"
)

// logEntry is one observed state transition and the socket it happened
// to, kept so the log can be shown under whatever filter is current.
type logEntry struct {
	at       time.Time
	key      collect.Key
	from, to collect.State
	sock     collect.Socket
}

// maxLog bounds the transition log.
const maxLog = 500

// logView is the transition log pane, newest first, showing the entries
// the current filter matches.
type logView struct {
	width, height int
	styles        *Styles
	entries       []logEntry // oldest first; drawn from the end
	shown         []int      // indices of the entries the filter matches
}

// SetSize sets the pane's size, its title line included.
func (l *logView) SetSize(w, h int) { l.width, l.height = w, h }

// setSocket keeps a copy of s, owners included, so the log holds nothing
// of the snapshot it came from. Without s the entry is judged by its key
// and states alone.
func (l *logEntry) setSocket(s *collect.Socket) {
	if s == nil {
		l.sock = collect.Socket{Proto: l.key.Proto, Family: familyOf(l.key), State: l.to, Local: l.key.Local, Remote: l.key.Remote}
		if l.to == collect.StateUnknown {
			l.sock.State = l.from
		}
		return
	}
	l.sock = *s
	l.sock.Owners = slices.Clone(s.Owners)
	l.sock.Info = nil
}

// add appends an entry; s is the socket the transition happened to (the
// new one, or the gone one).
func (l *logView) add(e logEntry, s *collect.Socket) {
	e.setSocket(s)
	l.entries = append(l.entries, e)
	if len(l.entries) > maxLog {
		n := copy(l.entries, l.entries[len(l.entries)-maxLog:])
		clear(l.entries[n:])
		l.entries = l.entries[:n]
	}
}

// refilter picks the entries match keeps; the model calls it whenever the
// entries or the filter change, so Render does no matching.
func (l *logView) refilter(match func(*collect.Socket) bool) {
	l.shown = l.shown[:0]
	for i := range l.entries {
		if match(&l.entries[i].sock) {
			l.shown = append(l.shown, i)
		}
	}
}

// stateName is a state for the log: "-" for appeared or gone.
func stateName(s collect.State) string {
	if s == collect.StateUnknown {
		return "-"
	}
	return s.Canonical().String()
}

// jumpNote explains a jump when there is room.
const jumpNote = " (jump: states between refreshes not seen)"

// transText draws a transition: "A -> B" for one step of the state
// diagram, "(new) -> B" and "A -> (gone)" for a socket that appeared or
// went, and "A ⇢ B (jump...)" for a TCP change that is no single step:
// the socket went through states no refresh caught. long says whether
// there is room for the jump's explanation.
func transText(st *Styles, proto collect.Proto, from, to collect.State, long bool) string {
	switch {
	case from == collect.StateUnknown:
		return st.Dim.Render("(new)") + " -> " + st.state(to, stateName(to))
	case to == collect.StateUnknown:
		return st.state(from, stateName(from)) + " -> " + st.Dim.Render("(gone)")
	case proto == collect.TCP && !collect.IsEdge(from, to):
		note := " (jump)"
		if long {
			note = jumpNote
		}
		return st.state(from, stateName(from)) + " ⇢ " + st.state(to, stateName(to)) + st.Dim.Render(note)
	}
	return st.state(from, stateName(from)) + " -> " + st.state(to, stateName(to))
}

// Render draws the title and the newest shown entries that fit.
func (l *logView) Render(width int) string {
	if l.height <= 0 {
		return ""
	}
	st := l.styles
	lines := make([]string, 0, l.height)
	lines = append(lines, truncLine(st.Title.Render("Transitions")+st.Dim.Render(" (newest first, "+strconv.Itoa(len(l.shown))+")"), width))
	for i := len(l.shown) - 1; i >= 0 && len(lines) < l.height; i-- {
		e := &l.entries[l.shown[i]]
		fam := familyOf(e.key)
		t := e.at.Format("15:04:05") + " " + e.key.Proto.String() + " " +
			output.FormatAddr(e.key.Local, fam) + " " + output.FormatAddr(e.key.Remote, fam) + " "
		t += transText(st, e.key.Proto, e.from, e.to, len(t)+len(stateName(e.from))+3+len(stateName(e.to))+len(jumpNote) <= width)
		lines = append(lines, truncLine(t, width))
	}
	return strings.Join(lines, "\n")
}
