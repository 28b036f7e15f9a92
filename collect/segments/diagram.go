package segments

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"socktop/collect"
)

// The diagram's lane (the space between the two columns) must hold at
// least this much for the state names to stand outside the columns;
// narrower, they move into the lane on rows of their own.
const minOutsideLane = 30

// sampledMark prefixes a state that was not reported by the kernel: it
// was entered up to a refresh before the time shown.
const sampledMark = "~"

// row is one line of the diagram body: a segment, or a state change of
// one side.
type row struct {
	at    time.Time
	seg   *Segment
	state string
	// client: the segment was sent by the client, or the state is the
	// client's.
	client bool
}

// Diagram lays out the time-sequence diagram of one connection: the
// client's column on the left, the server's on the right, one arrow per
// segment (flags, seq and ack relative to each side's ISN, length,
// window), each side's state changes beside its column, in time order,
// with the time since the first segment on the left. Lines are at most
// width columns wide, without colour and without trailing spaces.
//
// When sides does not name both ends, the client is the sender of the
// first SYN without ACK, or else of the first segment. Segments of other
// connections are left out. A side whose SYN was not captured has its
// seq (and the peer's ack) shown absolute, and a note says so; a state
// that was not reported by the kernel is marked with "~".
func Diagram(segs []Segment, sides Sides, width int) []string {
	if width <= 0 {
		return nil
	}
	client, server := sides.Client, sides.Server
	if !client.IsValid() || !server.IsValid() {
		client, server = guessSides(segs)
	}
	var rows []row
	var cISN, sISN uint32
	var cSYN, sSYN bool
	for i := range segs {
		s := &segs[i]
		fromClient := s.Src == client && s.Dst == server
		if !fromClient && !(s.Src == server && s.Dst == client) {
			continue
		}
		if s.Flags&SYN != 0 {
			if fromClient && !cSYN {
				cISN, cSYN = s.Seq, true
			} else if !fromClient && !sSYN {
				sISN, sSYN = s.Seq, true
			}
		}
		rows = append(rows, row{at: s.Time, seg: s, client: fromClient})
	}
	nsegs := len(rows)
	sampled := false
	for _, p := range []struct {
		path   []collect.Step
		client bool
	}{{sides.ClientPath, true}, {sides.ServerPath, false}} {
		for _, st := range p.path {
			if st.At.IsZero() {
				continue // no time, no place in a time sequence
			}
			name := st.State.String()
			if st.Source != collect.Kernel {
				name, sampled = sampledMark+name, true
			}
			rows = append(rows, row{at: st.At, state: name, client: p.client})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return a.at.Compare(b.at) })

	var t0 time.Time
	for _, r := range rows {
		if r.seg != nil {
			t0 = r.at
			break
		}
	}
	if t0.IsZero() && len(rows) > 0 {
		t0 = rows[0].at
	}
	times := make([]string, len(rows))
	l := &layout{width: width}
	for i, r := range rows {
		times[i] = relTime(r.at.Sub(t0))
		l.timeW = max(l.timeW, utf8.RuneCountInString(times[i]))
		if r.seg == nil {
			l.labelW = max(l.labelW, len(r.state))
		}
	}
	l.plan()

	lines := []string{l.header(client, server)}
	var notes []string
	if nsegs == 0 {
		notes = append(notes, "no segments captured")
	} else {
		switch {
		case !cSYN && !sSYN:
			notes = append(notes, "no SYN was captured: seq and ack are absolute")
		case !cSYN:
			notes = append(notes, "the client's SYN was not captured: its seq and the server's ack are absolute")
		case !sSYN:
			notes = append(notes, "the server's SYN was not captured: its seq and the client's ack are absolute")
		}
	}
	if sampled {
		notes = append(notes, sampledMark+" state first seen in a snapshot: entered up to a refresh earlier")
	}
	for _, n := range notes {
		lines = append(lines, wrap(n, width)...)
	}
	for i, r := range rows {
		var line string
		if r.seg != nil {
			s := r.seg
			var seq, ack uint32
			if r.client {
				seq, ack = rel(s.Seq, cISN, cSYN), rel(s.Ack, sISN, sSYN)
			} else {
				seq, ack = rel(s.Seq, sISN, sSYN), rel(s.Ack, cISN, cSYN)
			}
			line = l.arrow(times[i], s, seq, ack, r.client)
		} else {
			line = l.stateRow(times[i], r.state, r.client)
		}
		lines = append(lines, line)
	}
	for i := range lines {
		lines[i] = fit(lines[i], width)
	}
	return lines
}

// guessSides picks the client as the sender of the first SYN without
// ACK, or else of the first segment.
func guessSides(segs []Segment) (client, server netip.AddrPort) {
	for i := range segs {
		if segs[i].Flags&(SYN|ACK) == SYN {
			return segs[i].Src, segs[i].Dst
		}
	}
	if len(segs) > 0 {
		return segs[0].Src, segs[0].Dst
	}
	return netip.AddrPort{}, netip.AddrPort{}
}

// rel returns n relative to isn when isn is known.
func rel(n, isn uint32, known bool) uint32 {
	if known {
		return n - isn // wraps as sequence space does
	}
	return n
}

// relTime formats d in µs below a millisecond, in ms below a second, in
// seconds above.
func relTime(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d < time.Millisecond:
		return sign + strconv.FormatInt(int64(d/time.Microsecond), 10) + "µs"
	case d < time.Second:
		return sign + strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
	case d < 100*time.Second:
		return sign + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	}
	return sign + strconv.FormatFloat(d.Seconds(), 'f', 0, 64) + "s"
}

// layout is where the diagram's parts go across the width: the time
// column, the state names (outside the columns or in the lane), the two
// columns and the lane between them.
type layout struct {
	width, timeW, labelW int
	outside              bool
	lane                 int
}

// plan fits the parts into the width, giving up the outside state names
// first and then the time column.
func (l *layout) plan() {
	timeCol := l.timeW + 1
	if l.labelW > 0 {
		l.lane = l.width - timeCol - 2*(l.labelW+1) - 2
		if l.lane >= minOutsideLane {
			l.outside = true
			return
		}
	}
	l.lane = l.width - timeCol - 2
	if l.lane < 8 {
		l.timeW = 0
		l.lane = max(l.width-2, 1)
	}
}

// prefix is the time column of a line.
func (l *layout) prefix(t string) string {
	if l.timeW == 0 {
		return ""
	}
	return padLeft(t, l.timeW) + " "
}

// header names the two ends above their columns.
func (l *layout) header(client, server netip.AddrPort) string {
	c, s := "client", "server"
	if client.IsValid() {
		c += " " + client.String()
	}
	if server.IsValid() {
		s += " " + server.String()
	}
	lead := l.prefix("time")
	if l.timeW < len("time") {
		lead = strings.Repeat(" ", utf8.RuneCountInString(lead))
	}
	room := l.width - utf8.RuneCountInString(lead)
	if len(c)+1+len(s) > room {
		c, s = "client", "server"
	}
	gap := max(room-len(c)-len(s), 1)
	return lead + c + strings.Repeat(" ", gap) + s
}

// arrow draws one segment across the lane, the label at its tail.
func (l *layout) arrow(t string, s *Segment, seq, ack uint32, toServer bool) string {
	avail := l.lane - 5 // a dash and a space before the label, a space, a dash and the head after
	label := segLabel(s, seq, ack, avail)
	var lane string
	switch {
	case label == "":
		lane = strings.Repeat("-", max(l.lane-1, 0))
		if toServer {
			lane += ">"
		} else {
			lane = "<" + lane
		}
	case toServer:
		lane = "- " + label + " "
		lane += strings.Repeat("-", l.lane-len(lane)-1) + ">"
	default:
		tail := " " + label + " -"
		lane = "<" + strings.Repeat("-", l.lane-len(tail)-1) + tail
	}
	return l.prefix(t) + l.leftSide("") + "|" + lane + "|" + l.rightSide("")
}

// stateRow shows a state one side entered, beside its column.
func (l *layout) stateRow(t, state string, client bool) string {
	if l.outside {
		if client {
			return l.prefix(t) + l.leftSide(state) + "|" + strings.Repeat(" ", l.lane) + "|"
		}
		return l.prefix(t) + l.leftSide("") + "|" + strings.Repeat(" ", l.lane) + "|" + l.rightSide(state)
	}
	state = fit(state, l.lane)
	if client {
		return l.prefix(t) + "|" + padRight(state, l.lane) + "|"
	}
	return l.prefix(t) + "|" + padLeft(state, l.lane) + "|"
}

// leftSide is the client's state column (outside layout), right-aligned.
func (l *layout) leftSide(state string) string {
	if !l.outside {
		return ""
	}
	return padLeft(state, l.labelW) + " "
}

// rightSide is the server's state column (outside layout).
func (l *layout) rightSide(state string) string {
	if !l.outside || state == "" {
		return ""
	}
	return " " + state
}

// segLabel is the longest description of s that fits in avail columns:
// all of it, then without the window, then the flags and length, then
// the flags alone; "" when not even those fit.
func segLabel(s *Segment, seq, ack uint32, avail int) string {
	flags := s.Flags.String()
	if flags == "" {
		flags = "no flags"
	}
	ln := ""
	if s.Len > 0 {
		ln = fmt.Sprintf(" len %d", s.Len)
	}
	nums := fmt.Sprintf(" seq %d", seq)
	if s.Flags&ACK != 0 {
		nums += fmt.Sprintf(" ack %d", ack)
	}
	for _, c := range []string{
		flags + nums + ln + fmt.Sprintf(" win %d", s.Win),
		flags + nums + ln,
		flags + ln,
		flags,
	} {
		if len(c) <= avail {
			return c
		}
	}
	return ""
}

// wrap breaks text into lines of at most width columns at spaces.
func wrap(text string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			out = append(out, line)
			line = w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

// fit cuts s to width columns and drops trailing spaces.
func fit(s string, width int) string {
	if utf8.RuneCountInString(s) > width {
		n := 0
		for i := range s {
			if n == width {
				s = s[:i]
				break
			}
			n++
		}
	}
	return strings.TrimRight(s, " ")
}

func padLeft(s string, w int) string {
	return strings.Repeat(" ", max(w-utf8.RuneCountInString(s), 0)) + s
}

func padRight(s string, w int) string {
	return s + strings.Repeat(" ", max(w-utf8.RuneCountInString(s), 0))
}
