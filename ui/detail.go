package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"socktop/collect"
	"socktop/output"
)

// histEntry is one state a connection went through.
type histEntry struct {
	at       time.Time
	from, to collect.State
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
	h.byKey[t.Key] = append(e, histEntry{at: t.At, from: t.From, to: t.To})
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
}

// SetSize sets the view's size.
func (d *detailView) SetSize(w, h int) { d.width, d.height = w, h }

// Render draws the fields, one per line, cut to the view's height.
func (d *detailView) Render(width int) string {
	st := d.styles
	s := &d.sock
	var lines []string
	add := func(label, value string) {
		lines = append(lines, fmt.Sprintf("  %-13s %s", label, value))
	}
	title := "Socket " + s.Proto.String() + " " + output.FormatAddr(s.Local, s.Family) + " -> " + output.FormatAddr(s.Remote, s.Family)
	if d.gone {
		title += "  " + st.Gone.Render("[gone]")
	}
	lines = append(lines, st.Title.Render(title))
	add("State", st.state(s.State, s.State.Canonical().String())+st.Dim.Render(" (ss: "+s.State.SSName()+")"))
	add("Proto", s.Proto.String()+", IPv"+strconv.Itoa(int(s.Family)))
	add("Local", output.FormatAddr(s.Local, s.Family))
	add("Foreign", output.FormatAddr(s.Remote, s.Family))
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
	lines = append(lines, "", st.Title.Render("States seen"))
	if len(d.hist) == 0 && !d.gone {
		if d.histFull {
			lines = append(lines, st.Dim.Render("  none kept: the history holds the connections that changed last"))
		} else {
			lines = append(lines, st.Dim.Render("  no transition seen since socktop started"))
		}
	}
	for _, h := range d.hist {
		long := 2+12+2+len(stateName(h.from))+3+len(stateName(h.to))+len(jumpNote) <= width
		lines = append(lines, "  "+h.at.Format("15:04:05.000")+"  "+transText(st, s.Proto, h.from, h.to, long))
	}
	if d.gone && (len(d.hist) == 0 || d.hist[len(d.hist)-1].to != collect.StateUnknown) {
		lines = append(lines, "  "+strings.Repeat(" ", len("15:04:05.000"))+"  "+
			transText(st, s.Proto, s.State.Canonical(), collect.StateUnknown, false)+st.Dim.Render("  not in the newest snapshot"))
	}
	if d.height > 0 && len(lines) > d.height {
		lines = lines[:d.height]
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return strings.Join(lines, "\n")
}
