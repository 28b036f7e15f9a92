package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/output"
)

// histEntry is one state a connection went through.
type histEntry struct {
	at       time.Time
	from, to collect.State
	source   collect.Origin
}

// Bounds of the per-connection history: entries per connection and
// connections remembered (the oldest connection is forgotten first).
const (
	maxHistPerKey = 32
	maxHistKeys   = 4096
)

// history keeps, per connection, the transitions seen, bounded both ways:
// a ring of keys evicts the connection seen first.
type history struct {
	byKey map[collect.Key][]histEntry
	ring  []collect.Key
	next  int // ring slot to reuse once the ring is full
}

func newHistory() *history { return &history{byKey: map[collect.Key][]histEntry{}} }

func (h *history) add(t collect.Transition) {
	e, ok := h.byKey[t.Key]
	if !ok {
		if len(h.ring) < maxHistKeys {
			h.ring = append(h.ring, t.Key)
		} else {
			delete(h.byKey, h.ring[h.next])
			h.ring[h.next] = t.Key
			h.next = (h.next + 1) % maxHistKeys
		}
	}
	if len(e) >= maxHistPerKey {
		e = append(e[:0], e[1:]...)
	}
	h.byKey[t.Key] = append(e, histEntry{at: t.At, from: t.From, to: t.To, source: t.Source})
}

// detailView shows every field of one socket, its owners, its tcp_info and
// the states its connection went through.
type detailView struct {
	width, height int
	styles        *Styles

	sock     collect.Socket
	gone     bool
	info     *collect.TCPInfo
	infoErr  error
	fetching bool
	noInfo   string // why there is no tcp_info (UDP, no InfoSource)
	hist     []histEntry
	histFull bool                  // the history has forgotten connections
	coverage collect.OwnerCoverage // of the snapshot the socket is from
	// path is the tracker's path of the connection, peerPath its peer's
	// when both ends are on this host; now is the newest snapshot's time,
	// which the time in the current state runs to.
	path, peerPath []collect.Step
	now            time.Time
	seg            *segState
	offset         int // lines scrolled past

	// listener is a copy of the listener's health; isListener says the
	// socket is a TCP listener the health was found for.
	listener   collect.ListenerHealth
	isListener bool
	// peer is the other end, when peerStatus is PeerFound; zero else.
	peer       collect.Socket
	peerStatus collect.PeerStatus
	// cgroup is the path of the socket's cgroup, once a cgroupCmd for
	// its id has answered (ok false until then, or when it has none).
	cgroup cgroupMsg
}

// detailLabel is the width of the detail view's label column; a line is
// two spaces, the label, a space and the value.
const detailLabel = 13

// SetSize sets the view's size.
func (d *detailView) SetSize(w, h int) { d.width, d.height = w, h }

// Render draws the fields, one per line, cut to the view's height.
func (d *detailView) Render(width int) string {
	st := d.styles
	s := &d.sock
	var lines []string
	add := func(label, value string) {
		lines = append(lines, fmt.Sprintf("  %-*s %s", detailLabel, label, value))
	}
	title := "Socket " + s.Proto.String() + " " + output.FormatAddr(s.Local, s.Family) + " -> " + output.FormatAddr(s.Remote, s.Family)
	if s.Proto == collect.Unix {
		title = unixTitle(s)
	}
	if d.gone {
		title += "  " + st.Gone.Render("[gone]")
	}
	lines = append(lines, st.Title.Render(title))
	add("State", st.state(s.State, s.State.Canonical().String())+st.Dim.Render(" (ss: "+s.State.SSName()+")"))
	if m := stateMeaning(s); m != "" {
		wrapField(func(label, value string) { add(label, st.Dim.Render(value)) }, "Meaning", m, width)
	}
	if s.Proto == collect.Unix {
		d.unixFields(add)
	} else {
		add("Proto", s.Proto.String()+", IPv"+strconv.Itoa(int(s.Family)))
		add("Local", output.FormatAddr(s.Local, s.Family))
		add("Foreign", output.FormatAddr(s.Remote, s.Family))
		d.peerField(add)
	}
	if v := netnsText(s.NetNS); v != "" {
		add("NetNS", v)
	}
	unknown := st.Dim.Render("unknown") + st.Dim.Render(" (this source cannot tell)")
	known := func(f collect.Fields, label, value string) {
		if !s.Known(f) {
			add(label, unknown)
			return
		}
		add(label, value)
	}
	known(collect.FieldRecvQ, "Recv-Q", strconv.FormatUint(uint64(s.RecvQ), 10))
	known(collect.FieldSendQ, "Send-Q", strconv.FormatUint(uint64(s.SendQ), 10))
	if d.isListener {
		listenerLines(st, &d.listener, add)
	}
	known(collect.FieldTimer, "Timer", output.FormatTimer(s))
	known(collect.FieldRetrans, "Retrans", strconv.Itoa(int(s.Retrans)))
	known(collect.FieldUID, "UID", strconv.FormatUint(uint64(s.UID), 10))
	inode := strconv.FormatUint(uint64(s.Inode), 10)
	if s.Inode == 0 {
		inode += st.Dim.Render(" (no file descriptor: TIME_WAIT, orphan or not yet accepted)")
	}
	known(collect.FieldInode, "Inode", inode)
	switch {
	case !s.Known(collect.FieldCookie):
		add("Cookie", unknown)
	case s.Cookie != 0:
		add("Cookie", strconv.FormatUint(s.Cookie, 10))
	}
	if s.Proto != collect.Unix {
		markCgroupFields(st, s, d.cgroup, add)
	}
	switch {
	case len(s.Owners) == 0 && !s.Known(collect.FieldOwners):
		why := " (owners were not looked up)"
		if d.coverage == collect.OwnersPartial {
			why = " (some processes could not be read: run as root to see them all)"
		}
		add("Owners", st.Dim.Render("unknown"+why))
	case len(s.Owners) == 0:
		add("Owners", "-"+st.Dim.Render(" (no process holds a descriptor)"))
	}
	for i, o := range s.Owners {
		label := ""
		if i == 0 {
			label = "Owners"
		}
		add(label, string(output.AppendOwner(nil, o)))
	}
	info := d.info
	if info == nil {
		info = s.Info
	}
	switch {
	case s.State.Canonical() == collect.StateListen && s.Proto == collect.TCP:
		add("tcp_info", st.Dim.Render("none for a listener: it has no peer, so no RTT or window"))
	case info != nil && !d.gone:
		if info.RTT == 0 && info.RTTVar == 0 {
			add("RTT", st.Dim.Render("not measured yet"))
		} else {
			add("RTT", info.RTT.String()+" ± "+info.RTTVar.String())
		}
		add("Cwnd", strconv.FormatUint(uint64(info.Cwnd), 10))
		add("Retransmits", strconv.Itoa(int(info.Retransmits))+" (total "+strconv.FormatUint(uint64(info.TotalRetrans), 10)+")")
		add("Bytes acked", strconv.FormatUint(info.BytesAcked, 10))
		add("Bytes recvd", strconv.FormatUint(info.BytesReceived, 10))
	case d.gone:
		add("tcp_info", st.Dim.Render("the socket is gone"))
	case d.fetching:
		add("tcp_info", st.Dim.Render("fetching…"))
	case errors.Is(d.infoErr, collect.ErrNotFound):
		add("tcp_info", st.Dim.Render("none: the kernel has none for this socket (gone, TIME_WAIT or half-open)"))
	case d.infoErr != nil:
		add("tcp_info", st.Error.Render(d.infoErr.Error()))
	case d.noInfo != "":
		add("tcp_info", st.Dim.Render(d.noInfo))
	}
	lines = append(lines, d.peerLines()...)
	if len(d.path) > 0 {
		// The path follows the socket's fields, as the states seen do
		// without one: the fields are what a detail view is opened for
		// first, and the view scrolls.
		lines = append(lines, "", st.Title.Render("Path")+st.Dim.Render(" (entered, learnt from, time in the state)"))
		lines = append(lines, pathLines(st, d.path, d.now, d.gone)...)
		lines = append(lines, d.segLines(width)...)
		return d.cut(lines, width)
	}
	lines = append(lines, "", st.Title.Render("States seen"))
	if len(d.hist) == 0 && !d.gone {
		if d.histFull {
			lines = append(lines, st.Dim.Render("  none kept: the history holds the connections that changed last"))
		} else {
			lines = append(lines, st.Dim.Render("  no transition seen since socktop started"))
		}
	}
	for _, h := range d.hist {
		lines = append(lines, "  "+paddedTime(h.at, h.source)+"  "+transText(st, s.Proto, h.from, h.to, h.source))
	}
	if d.gone && (len(d.hist) == 0 || d.hist[len(d.hist)-1].to != collect.StateUnknown) {
		lines = append(lines, "  "+strings.Repeat(" ", len(kernelTime))+"  "+
			transText(st, s.Proto, s.State.Canonical(), collect.StateUnknown, collect.Sampled)+st.Dim.Render("  not in the newest snapshot"))
	}
	lines = append(lines, d.segLines(width)...)
	return d.cut(lines, width)
}

// cut fits the lines to the view from its scroll offset: its height,
// and width cells each.
func (d *detailView) cut(lines []string, width int) string {
	if d.height > 0 {
		d.offset = min(d.offset, max(len(lines)-d.height, 0))
		lines = lines[d.offset:]
	}
	if d.height > 0 && len(lines) > d.height {
		lines = lines[:d.height]
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return strings.Join(lines, "\n")
}

// pathLines draws a path, one step a line: when the state was entered
// (microseconds for a kernel step), where the step came from, the state,
// and the time spent in it. A sampled step was entered up to a refresh
// before it was seen, so a time that ends at one is at most what is
// shown, and one that starts at one at least. The last state's time runs
// to now while the connection lives.
func pathLines(st *Styles, path []collect.Step, now time.Time, gone bool) []string {
	out := make([]string, 0, len(path))
	for i, p := range path {
		name := stateName(p.State)
		// A sampled step that is not an arc of the diagram skipped states
		// no snapshot caught: it is drawn as a jump, never as an edge.
		jump := i > 0 && p.Source == collect.Sampled && path[i-1].State != collect.StateUnknown &&
			!collect.IsEdge(path[i-1].State, p.State)
		mark := "  "
		if jump {
			mark = "⇢ "
		}
		line := "  " + paddedTime(p.At, p.Source) + "  " + fmt.Sprintf("%-7s", p.Source.String()) + " " + mark +
			st.state(p.State, name) + strings.Repeat(" ", max(len("ESTABLISHED")-len(name), 0))
		var dur string
		switch {
		case i+1 < len(path):
			next := path[i+1]
			dur = boundMark(p.Source, next.Source) + fmtDur(next.At.Sub(p.At))
		case p.State.Canonical() != collect.StateClosed && !gone && !now.IsZero() && !now.Before(p.At):
			// Now is a snapshot's time, not a step: only the start
			// can make the time inexact.
			dur = boundMark(p.Source, collect.Kernel) + fmtDur(now.Sub(p.At)) + " so far"
		}
		if dur != "" {
			line += "  " + dur
		}
		if jump {
			line += st.Dim.Render("  (between refreshes)")
		}
		out = append(out, line)
	}
	return out
}

// boundMark says how exact the time between two steps is: exact between
// kernel steps, at most when it ends at a sampled step (entered up to a
// refresh before it was seen), at least when it starts at one, and
// about when both are sampled.
func boundMark(from, to collect.Origin) string {
	switch {
	case from == collect.Kernel && to == collect.Kernel:
		return ""
	case from == collect.Kernel:
		return "≤ "
	case to == collect.Kernel:
		return "≥ "
	}
	return "~ "
}

// fmtDur writes a duration with the resolution that matters at its size:
// microseconds below a millisecond, three decimals below a minute.
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "?"
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	}
	return d.Round(time.Second).String()
}

// segLines is the segments section: how to start a capture, its state,
// or the time-sequence diagram of what it saw.
func (d *detailView) segLines(width int) []string {
	st := d.styles
	sg := d.seg
	if d.sock.Proto != collect.TCP || sg == nil {
		return nil
	}
	out := []string{"", st.Title.Render("Segments")}
	switch {
	case sg.err != nil:
		out = append(out, "  "+st.Error.Render(sg.err.Error()))
	case sg.starting:
		out = append(out, st.Dim.Render("  starting the capture…"))
	case sg.capture == nil:
		out[1] += st.Dim.Render(" (w captures this connection's segments on loopback)")
		return out
	case len(sg.segs) == 0:
		out[1] += st.Dim.Render(" (capturing; w stops)")
		out = append(out, st.Dim.Render("  none seen yet: they show as the connection sends"))
	default:
		out[1] += st.Dim.Render(" (capturing; w stops)")
		sides := segSides(&d.sock, sg.segs, d.path, d.peerPath)
		for _, l := range segments.Diagram(sg.segs, sides, max(width-2, 1)) {
			out = append(out, "  "+l)
		}
		if len(out) == 2 {
			out = append(out, st.Dim.Render("  "+strconv.Itoa(len(sg.segs))+" segments, no diagram drawn"))
		}
	}
	return out
}

// markCgroupFields adds the socket's fwmark and cgroup, each when set or
// unknown (a mark of 0 and no cgroup take no line), as ss -e prints them.
// cg is the cgroup's path as a cgroupCmd found it: until it answers for
// the socket's id, the id stands alone.
func markCgroupFields(st *Styles, s *collect.Socket, cg cgroupMsg, add func(label, value string)) {
	switch {
	case !s.Known(collect.FieldMark):
		add("Fwmark", st.Dim.Render("unknown (the kernel reports marks only to CAP_NET_ADMIN: run as root; older kernels never report a TIME_WAIT socket's)"))
	case s.Mark != 0:
		add("Fwmark", "0x"+strconv.FormatUint(uint64(s.Mark), 16))
	}
	switch {
	case !s.Known(collect.FieldCgroup):
		add("Cgroup", st.Dim.Render("unknown (the kernel did not report it)"))
	case s.CgroupID == 0:
	default:
		id := st.Dim.Render(" (id " + strconv.FormatUint(s.CgroupID, 10) + ")")
		if cg.ok && cg.id == s.CgroupID {
			add("Cgroup", cg.path+id)
		} else {
			add("Cgroup", "?"+id)
		}
	}
}
