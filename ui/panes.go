package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
)

// sample is the total socket count at one refresh, for the sparkline.
type sample struct {
	at    time.Time
	total int
}

// sparkWindow is how far back the header's sparkline reaches.
const sparkWindow = time.Minute

var sparkBars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the totals of the last minute in n cells, one cell per
// n-th of the minute (the last sample of each slot, gaps carried forward),
// each bar as high as its total against the minute's highest.
func sparkline(samples []sample, n int) string {
	if len(samples) == 0 || n <= 0 {
		return ""
	}
	end := samples[len(samples)-1].at
	start := end.Add(-sparkWindow)
	slots := make([]int, n)
	for i := range slots {
		slots[i] = -1
	}
	for _, s := range samples {
		if s.at.Before(start) {
			continue
		}
		i := int(int64(s.at.Sub(start)) * int64(n-1) / int64(sparkWindow))
		slots[min(max(i, 0), n-1)] = s.total
	}
	// Bars scale from zero, not from the minute's minimum: 100,025
	// sockets after 100,021 is no change worth a full-height bar.
	hi := 0
	for _, v := range slots {
		hi = max(hi, v)
	}
	var b strings.Builder
	last := -1
	for _, v := range slots {
		if v < 0 {
			v = last
		}
		last = v
		if v < 0 {
			b.WriteByte(' ')
			continue
		}
		i := 0
		if hi > 0 {
			i = v * (len(sparkBars) - 1) / hi
		}
		b.WriteRune(sparkBars[i])
	}
	return b.String()
}

// headerView is the top of the screen: where the data comes from, the
// counts per state and the filter.
type headerView struct {
	width, height int
	styles        *Styles

	host, source string
	events       string // where transitions come from: "exact (bpf)", "sampled: why"
	lost         uint64 // kernel events and destroy records lost so far
	interval     time.Duration
	paused       bool
	partial      bool
	owners       collect.OwnerCoverage
	counts       [collect.NumStates]int
	// total is the host's table, which a kernel filter leaves out of
	// the snapshot (the kernel's count then); -1 when unknown.
	shown, total int
	spark        string
	filter       string
	narrow       string // the command line's narrowing flags, "-6 -l"
	notice       string // the source's notices (fallback, no root...)
	err          string // the last collection error, until one succeeds
	demos        int
	// netns names the network namespaces the snapshot spans: "" for
	// socktop's own alone, a name for one other (-N), a count for more.
	netns string
	// listen is the listeners' alarm: full accept queues and the listen
	// counters that moved; "" when quiet.
	listen string
	// gate, after a peek, says when the table was last walked.
	gate string
}

// SetSize sets the header's size; it draws at most height lines.
func (h *headerView) SetSize(w, ht int) { h.width, h.height = w, ht }

// Render draws the header lines.
func (h *headerView) Render(width int) string {
	st := h.styles
	var l1 strings.Builder
	l1.WriteString(st.Title.Render("socktop"))
	// First, where no long host, reason or filter can push them off.
	if h.paused {
		l1.WriteString(" " + st.Paused.Render("PAUSED"))
	}
	if h.partial {
		l1.WriteString(" " + st.Error.Render("PARTIAL"))
	}
	l1.WriteString(" " + h.host + " · " + h.source + " · " + h.events)
	if h.lost > 0 {
		l1.WriteString(" " + st.Error.Render(strconv.FormatUint(h.lost, 10)+" lost"))
	}
	// Next to the source, where a long filter cannot push it off screen.
	switch h.owners {
	case collect.OwnersNotLooked:
		l1.WriteString(" · " + st.Paused.Render("owners not looked up"))
	case collect.OwnersPartial:
		l1.WriteString(" · " + st.Paused.Render("owners partial (not root)"))
	}
	if h.netns != "" {
		l1.WriteString(" · netns " + h.netns)
	}
	l1.WriteString(" · every " + h.interval.String())
	if h.gate != "" {
		l1.WriteString(", " + h.gate)
	}
	total := "?"
	if h.total >= 0 {
		total = strconv.Itoa(h.total)
	}
	l1.WriteString(" · total " + strconv.Itoa(h.shown) + "/" + total)
	if h.demos > 0 {
		l1.WriteString(" · demos " + strconv.Itoa(h.demos))
	}
	// The sparkline whole or not at all: a cut one reads as a minute of
	// history that never was.
	if h.spark != "" && ansi.StringWidth(l1.String())+1+ansi.StringWidth(h.spark) <= width {
		l1.WriteString(" " + h.spark)
	}
	var l2 strings.Builder
	l2.WriteString("filter: ")
	if h.filter == "" {
		l2.WriteString(st.Dim.Render("none"))
	} else {
		l2.WriteString(h.filter)
	}
	if h.narrow != "" {
		l2.WriteString("  flags: " + h.narrow)
	}
	switch {
	case h.err != "":
		l2.WriteString("  " + st.Error.Render(h.err))
	case h.notice != "":
		l2.WriteString("  " + st.Dim.Render(h.notice))
	}
	var l3 strings.Builder
	if h.listen != "" {
		// First on the line, so the state counts are what a narrow
		// terminal cuts.
		l3.WriteString(st.Full.Render(h.listen) + "  ")
	}
	first := true
	for s := collect.State(0); s < collect.NumStates; s++ {
		if h.counts[s] == 0 {
			continue
		}
		if !first {
			l3.WriteString("  ")
		}
		first = false
		l3.WriteString(st.state(s, s.String()+" "+strconv.Itoa(h.counts[s])))
	}
	if first {
		l3.WriteString(st.Dim.Render("no sockets"))
	}
	lines := []string{l1.String(), l2.String(), l3.String()}
	if h.height < len(lines) {
		// Short terminals keep the source line, and the filter and
		// flags when there are some (the rows make no sense without
		// them), else the counts.
		second := lines[2]
		if h.filter != "" || h.narrow != "" || h.err != "" {
			second = lines[1]
		}
		lines = []string{lines[0], second}[:max(h.height, 1)]
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return strings.Join(lines, "\n")
}

// familyOf tells the address family from a key, for printing unspecified
// addresses the way the family would.
func familyOf(k collect.Key) uint8 {
	if k.Local.Addr().Is4() || k.Local.Addr().Is4In6() {
		return 4
	}
	return 6
}

// truncLine cuts a line, escape sequences and wide runes included, to at
// most width cells, so no line ever wraps and garbles the screen.
func truncLine(s string, width int) string {
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "")
}
