package ui

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/output"
)

// logEntry is one observed state transition and the socket it happened
// to, kept so the log can be shown under whatever filter is current.
type logEntry struct {
	at       time.Time
	key      collect.Key
	from, to collect.State
	source   collect.Origin
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
	buf           []logEntry // the array entries is a window onto once full
	shown         []int      // indices of the entries the filter matches
}

// SetSize sets the pane's size, its title line included.
func (l *logView) SetSize(w, h int) { l.width, l.height = w, h }

// setSocket keeps a copy of s, owners included, so the log holds nothing
// of the snapshot it came from. Without s the entry is judged by its key
// and states alone.
func (l *logEntry) setSocket(s *collect.Socket) {
	if s == nil {
		l.sock = keySocket(l.key, l.from, l.to, 0)
		return
	}
	l.sock = *s
	l.sock.Owners = slices.Clone(s.Owners)
	l.sock.Info = nil
}

// unknownOfKey are the fields a key and a transition cannot tell.
const unknownOfKey = collect.FieldRecvQ | collect.FieldSendQ | collect.FieldUID | collect.FieldInode |
	collect.FieldTimer | collect.FieldRetrans | collect.FieldOwners | collect.FieldMark | collect.FieldCgroup

// keySocket is the socket a transition describes, for a connection no
// snapshot listed (it opened and closed between two refreshes) or one
// whose row is not kept: its key, its state after the change (before it,
// for one that went) and its cookie when known; the rest unknown.
func keySocket(k collect.Key, from, to collect.State, cookie uint64) collect.Socket {
	s := collect.Socket{Proto: k.Proto, Family: familyOf(k), State: to, Local: k.Local, Remote: k.Remote,
		Cookie: cookie, Unknown: unknownOfKey}
	if to == collect.StateUnknown {
		s.State = from
	}
	if cookie == 0 {
		s.Unknown |= collect.FieldCookie
	}
	return s
}

// add appends an entry; s is the socket the transition happened to (the
// new one, or the gone one).
func (l *logView) add(e logEntry, s *collect.Socket) {
	e.setSocket(s)
	if len(l.entries) == maxLog {
		// A full log drops its oldest entry by moving its window on, and
		// moves the window back to its array's start only once it reaches
		// the end: moving every entry at every add cost a full log under
		// churn 500 copies a transition.
		l.entries[0] = logEntry{} // let go of its owners
		l.entries = l.entries[1:]
		if len(l.entries) == cap(l.entries) {
			if len(l.buf) != 2*maxLog {
				l.buf = make([]logEntry, 2*maxLog)
			}
			n := copy(l.buf, l.entries)
			clear(l.buf[n:])
			l.entries = l.buf[:n]
		}
	}
	l.entries = append(l.entries, e)
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

// betweenNote says why a sampled change is drawn as a jump.
const betweenNote = " (between refreshes)"

// transText draws a transition: "A -> B" for one step of the state
// diagram, "(new) -> B" and "A -> (gone)" for a socket that appeared or
// went, and "A ⇢ B (between refreshes)" for a sampled TCP change that is
// no single step: the socket went through states no refresh caught. A
// kernel transition is always one step, so it is always an arrow.
func transText(st *Styles, proto collect.Proto, from, to collect.State, src collect.Origin) string {
	switch {
	case from == collect.StateUnknown:
		return st.Dim.Render("(new)") + " -> " + st.state(to, stateName(to))
	case to == collect.StateUnknown:
		return st.state(from, stateName(from)) + " -> " + st.Dim.Render("(gone)")
	case src != collect.Kernel && proto == collect.TCP && !collect.IsEdge(from, to):
		return st.state(from, stateName(from)) + " ⇢ " + st.state(to, stateName(to)) + st.Dim.Render(betweenNote)
	}
	return st.state(from, stateName(from)) + " -> " + st.state(to, stateName(to))
}

// Time layouts: a kernel time has the kernel's microseconds; a sampled
// one is a refresh's time, which milliseconds tell apart at the fastest
// refresh.
const (
	kernelTime  = "15:04:05.000000"
	sampledTime = "15:04:05.000"
)

// stepTime formats when a transition or step happened, as precisely as
// its source knows it.
func stepTime(at time.Time, src collect.Origin) string {
	if src == collect.Kernel {
		return at.Format(kernelTime)
	}
	return at.Format(sampledTime)
}

// paddedTime is stepTime as wide as a kernel time, for columns.
func paddedTime(at time.Time, src collect.Origin) string {
	t := stepTime(at, src)
	return t + strings.Repeat(" ", len(kernelTime)-len(t))
}

// sourceMark is the log's one-letter marker of where an entry came from.
func sourceMark(src collect.Origin) string {
	switch src {
	case collect.Kernel:
		return "k"
	case collect.Sampled:
		return "s"
	}
	return "?"
}

// Render draws the title and the newest shown entries that fit.
func (l *logView) Render(width int) string {
	if l.height <= 0 {
		return ""
	}
	st := l.styles
	lines := make([]string, 0, l.height)
	lines = append(lines, truncLine(st.Title.Render("Transitions")+st.Dim.Render(" (newest first, "+strconv.Itoa(len(l.shown))+"; k kernel, exact; s sampled)"), width))
	for i := len(l.shown) - 1; i >= 0 && len(lines) < l.height; i-- {
		e := &l.entries[l.shown[i]]
		fam := familyOf(e.key)
		head := st.Dim.Render(sourceMark(e.source)) + " " + stepTime(e.at, e.source) + " " + e.key.Proto.String() + " "
		trans := transText(st, e.key.Proto, e.from, e.to, e.source)
		local, remote := output.FormatAddr(e.key.Local, fam), output.FormatAddr(e.key.Remote, fam)
		// When the line is too long the addresses give way, each
		// keeping its port as the table's do, before the transition
		// is cut.
		if over := ansi.StringWidth(head) + len(local) + 1 + len(remote) + 1 + ansi.StringWidth(trans) - width; over > 0 {
			remote = shrinkAddr(remote, &over)
			local = shrinkAddr(local, &over)
		}
		lines = append(lines, truncLine(head+local+" "+remote+" "+trans, width))
	}
	return strings.Join(lines, "\n")
}

// shrinkAddr puts "…" for the IP of an address when *over cells are to be
// saved, and takes what it saved from *over.
func shrinkAddr(a string, over *int) string {
	if *over <= 0 {
		return a
	}
	i := strings.LastIndexByte(a, ':')
	if i <= 0 {
		return a
	}
	short := "…" + a[i:]
	*over -= len(a) - ansi.StringWidth(short)
	return short
}
