package ui

import (
	"strconv"
	"strings"
	"time"

	"socktop/collect"
)

// listenState is the live view's listener health: the queues of each
// listener of the shown snapshot, and the host's listen counters as
// rates between refreshes.
type listenState struct {
	index collect.ListenerIndex
	// health is of the shown snapshot, in its socket order; full counts
	// the listeners whose accept queue is full.
	health []collect.ListenerHealth
	full   int

	// read reads the counters; nil when the view has none to read. It
	// runs in the collection's Cmd, never in Update.
	read func() (collect.ListenCounters, error)
	// of names the namespace the counters are of when it is not the one
	// the table shows alone ("host netns" under --all-netns).
	of string

	prev   collect.ListenCounters
	prevAt time.Time
	rates  collect.ListenRates
	told   bool // the read error was told once
}

// counterReading is one reading of the listen counters, carried by a
// snapMsg.
type counterReading struct {
	read bool // false: nothing was read (no reader)
	c    collect.ListenCounters
	err  error
}

// readCounters is what the collection's Cmd calls.
func readCounters(read func() (collect.ListenCounters, error)) counterReading {
	if read == nil {
		return counterReading{}
	}
	c, err := read()
	return counterReading{read: true, c: c, err: err}
}

// observe takes a reading made at the time of the snapshot at, and
// returns the error to tell once, if any.
func (l *listenState) observe(r counterReading, at time.Time) string {
	if !r.read {
		return ""
	}
	if r.err != nil {
		// Rates need two readings in a row; an error breaks the chain.
		l.prevAt, l.rates = time.Time{}, collect.ListenRates{}
		if l.told {
			return ""
		}
		l.told = true
		return "listen counters: " + r.err.Error()
	}
	if !l.prevAt.IsZero() {
		l.rates = r.c.Rates(&l.prev, l.prevAt, at)
	}
	l.prev, l.prevAt = r.c, at
	return ""
}

// compute finds the health of the snapshot's listeners.
func (l *listenState) compute(snap *collect.Snapshot) {
	l.health = l.index.Health(snap.Sockets)
	l.full = 0
	for i := range l.health {
		if l.health[i].Full() {
			l.full++
		}
	}
}

// healthOf returns the health of s, a socket of the snapshot health was
// computed from, or nil when it is not a TCP listener.
func (l *listenState) healthOf(snap *collect.Snapshot, s *collect.Socket) *collect.ListenerHealth {
	if snap == nil || s.State != collect.StateListen {
		return nil
	}
	for i := range l.health {
		if &snap.Sockets[l.health[i].Index] == s {
			return &l.health[i]
		}
	}
	return nil
}

// headerText is the header's listen line: full listeners and the
// counters that moved since the last refresh; "" when all is quiet.
func (l *listenState) headerText() string {
	var b strings.Builder
	if l.full > 0 {
		b.WriteString("! " + strconv.Itoa(l.full) + " accept queue")
		if l.full > 1 {
			b.WriteString("s")
		}
		b.WriteString(" full")
	}
	r := &l.rates
	moved := false
	for _, c := range [...]struct {
		name string
		r    collect.CounterRate
	}{
		{"overflows", r.ListenOverflows}, {"listen drops", r.ListenDrops},
		{"SYN-queue drops", r.ReqQFullDrop}, {"SYN cookies", r.ReqQFullDoCookies},
	} {
		if !c.r.Known || c.r.PerSecond <= 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("  ")
		}
		b.WriteString(c.name + " " + strconv.FormatFloat(c.r.PerSecond, 'f', rateDigits(c.r.PerSecond), 64) + "/s")
		moved = true
	}
	if moved && l.of != "" {
		b.WriteString(" (" + l.of + ")")
	}
	return b.String()
}

// rateDigits keeps small rates readable without crowding large ones.
func rateDigits(v float64) int {
	if v >= 10 {
		return 0
	}
	return 1
}

// listenerLines are the detail view's lines for a listener.
func listenerLines(st *Styles, h *collect.ListenerHealth, add func(label, value string)) {
	if h == nil {
		return
	}
	if !h.QueueKnown {
		add("Accept queue", st.Dim.Render("unknown (this source cannot tell)"))
	} else {
		v := strconv.FormatUint(uint64(h.AcceptQueue), 10) + "/" + strconv.FormatUint(uint64(h.Backlog), 10)
		if h.Full() {
			v = st.Full.Render(v+" FULL") + st.Dim.Render(" (new handshakes are dropped: ListenOverflows)")
		} else {
			v += st.Dim.Render(" (waiting for accept() / backlog)")
		}
		add("Accept queue", v)
	}
	switch {
	case !h.SynKnown:
		add("SYN queue", st.Dim.Render("unknown (SYN_RECV was not collected)"))
	case h.SynShared:
		add("SYN queue", strconv.Itoa(h.SynQueue)+st.Dim.Render(" (of the SO_REUSEPORT group)"))
	default:
		add("SYN queue", strconv.Itoa(h.SynQueue)+st.Dim.Render(" (handshakes waiting for their final ACK)"))
	}
}
