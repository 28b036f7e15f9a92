package ui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/demo"
)

// demoPaneView narrates the running demos: for each, its promises
// ticking off with their reasons, the host's notes, its lesson, every
// socket call, and the segments on the wire as a time-sequence diagram.
// It is one document the pane scrolls through.
type demoPaneView struct {
	width, height int
	styles        *Styles
	runs          []*demoRun
	refused       *demoRefusal
	err           string
	doc           []string // built by build, for the width given
	scroll        int      // document lines hidden above the pane
}

// SetSize sets the pane's size.
func (p *demoPaneView) SetSize(w, h int) {
	p.width, p.height = w, h
	p.clamp()
}

// scrollBy moves the pane's window over the document.
func (p *demoPaneView) scrollBy(n int) {
	p.scroll += n
	p.clamp()
}

// room is how many document lines the pane shows: one line goes to the
// scroll indicator when the document does not fit.
func (p *demoPaneView) room() int {
	if len(p.doc) <= p.height {
		return p.height
	}
	return max(p.height-1, 0)
}

func (p *demoPaneView) clamp() {
	p.scroll = min(max(p.scroll, 0), max(len(p.doc)-p.room(), 0))
}

// build lays the document out for width; its length is what the pane
// asks of the layout.
func (p *demoPaneView) build(width int) {
	st := p.styles
	p.doc = p.doc[:0]
	if p.err != "" {
		p.doc = append(p.doc, wrapStyled(st.Error, p.err, width, 0)...)
	}
	if p.refused != nil {
		p.doc = append(p.doc, p.refusedLines(p.refused, width)...)
	}
	for _, r := range p.runs {
		p.doc = append(p.doc, p.runLines(r, width)...)
	}
	p.clamp()
}

// refusedLines explain a scenario that needs root, asked for without
// it: what it needs and why, how to run it, and its lesson, to read
// meanwhile.
func (p *demoPaneView) refusedLines(r *demoRefusal, width int) []string {
	st := p.styles
	sc := r.sc
	lines := wrapStyled(st.Title, "Demo "+sc.Name+" ("+sc.Key+") · not started: "+sc.Title, width, 2)
	// The runner's error names what the scenario makes and what this
	// process lacks; NeedsRoot is added if it does not.
	why := strings.TrimPrefix(r.err.Error(), demo.ErrNeedsRoot.Error()+": ")
	if sc.NeedsRoot != "" && !strings.Contains(why, sc.NeedsRoot) {
		why = sc.Name + " " + sc.NeedsRoot + ": " + why
	}
	lines = append(lines, wrapIndent("  "+st.Paused.Render("needs root")+" "+why, width, 4)...)
	lines = append(lines, wrapIndent("  Run socktop as root (sudo socktop, then d and "+sc.Key+"), or headless: sudo socktop demo run "+sc.Name+". x closes this.", width, 4)...)
	if sc.Lesson != "" {
		lines = append(lines, wrapStyled(st.Dim, "  "+sc.Lesson, width, 2)...)
	}
	return lines
}

func (p *demoPaneView) runLines(r *demoRun, width int) []string {
	st := p.styles
	title := "Demo #" + strconv.Itoa(r.seq) + " " + r.sc.Name + " (" + r.sc.Key + ")"
	if len(r.ports) > 0 {
		title += " · port " + strconv.Itoa(int(r.ports[0]))
	}
	if r.sc.UsesReuseAddr {
		title += " · SO_REUSEADDR " + onOff(r.reuse)
	}
	switch {
	case r.restarting:
		title += " · restarting with SO_REUSEADDR " + onOff(!r.reuse) + "…"
	case r.ended:
		title += " · ended"
	}
	title += ": " + r.sc.Title
	// The live checklist first, so a small pane shows it without
	// scrolling; the lesson that explains it follows, then the calls and
	// the segments they put on the wire.
	lines := wrapStyled(st.Title, title, width, 2)
	if r.checked != "" {
		// As the headless run says it: whether the path promises are
		// held to the kernel's events or to snapshots.
		c := "  checked: " + r.checked
		if r.lost > 0 {
			c += " · the kernel lost " + strconv.FormatUint(r.lost, 10) + " event(s) meanwhile (host-wide): a path may miss steps"
		}
		lines = append(lines, wrapStyled(st.Dim, c, width, 4)...)
	}
	for _, ps := range r.status {
		l := "  " + promiseLine(st, ps)
		if ps.Why != "" {
			l += st.Dim.Render(" — " + ps.Why)
		}
		lines = append(lines, wrapIndent(l, width, 4)...)
	}
	for _, n := range r.notes {
		lines = append(lines, wrapIndent("  "+st.Paused.Render("note")+" "+n, width, 4)...)
	}
	lines = append(lines, wrapStyled(st.Dim, "  "+r.sc.Lesson, width, 2)...)
	for _, e := range r.events {
		l := "  " + e.At.Format("15:04:05.000") + " " + e.String()
		if e.Err != nil {
			lines = append(lines, wrapStyled(st.Error, l, width, 15)...)
			continue
		}
		lines = append(lines, wrapIndent(l, width, 15)...)
	}
	if r.capErr != nil || len(r.segs) > 0 {
		lines = append(lines, p.segmentLines(r, width)...)
	}
	return lines
}

// Render draws the pane's window over the document, and where the
// window is when the document does not fit.
func (p *demoPaneView) Render(width int) string {
	if p.height <= 0 || len(p.runs) == 0 && p.refused == nil && p.err == "" {
		return ""
	}
	room := p.room()
	end := min(p.scroll+room, len(p.doc))
	lines := append([]string(nil), p.doc[p.scroll:end]...)
	if len(p.doc) > p.height {
		ind := "demo pane: lines " + strconv.Itoa(p.scroll+1) + "-" + strconv.Itoa(end) + " of " + strconv.Itoa(len(p.doc)) + " · [ ] scroll"
		lines = append(lines, truncLine(p.styles.Dim.Render(ind), width))
	}
	return strings.Join(lines, "\n")
}

// promiseLine is a promise and where it stands: kept (and when), missed
// (and why), or waiting.
func promiseLine(st *Styles, ps demo.PromiseStatus) string {
	text := promiseText(st, ps.Promise)
	at := ps.At.Format("15:04:05")
	var l string
	switch {
	case ps.Seen && ps.Absent:
		l = st.Seen.Render("✓") + " " + text + ", confirmed by " + at
	case ps.Seen && ps.Call != "":
		l = st.Seen.Render("✓") + " " + text + " at " + at
	case ps.Seen:
		l = st.Seen.Render("✓") + " " + text + " seen at " + at
	case ps.Unchecked:
		l = st.Dim.Render("–") + " " + text
	case ps.Note != "":
		l = st.Error.Render("✗") + " " + text
	case ps.Absent:
		l = st.Waiting.Render("○") + " " + text + " (checking)"
	default:
		l = st.Waiting.Render("○") + " " + text + " waiting"
	}
	if ps.Note != "" {
		l += st.Dim.Render(" (" + ps.Note + ")")
	}
	return l
}

// promiseText is a promise in a few words, its state in the state's colour.
func promiseText(st *Styles, p demo.Promise) string {
	if p.Call != "" || p.Absent || len(p.Path) > 0 || len(p.Segments) > 0 || p.NoFlags != 0 {
		return p.String()
	}
	s := string(p.Role) + " " + st.state(p.State, p.State.String())
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	return s
}

// wrapIndent word-wraps a line, escape sequences included, to width
// cells; continuation lines are indented by indent cells (less on a
// terminal too narrow for it).
func wrapIndent(s string, width, indent int) []string {
	if width <= 0 {
		return nil
	}
	if ansi.StringWidth(s) <= width {
		return []string{s}
	}
	indent = min(indent, width/3)
	lines := strings.Split(wrapText(s, width), "\n")
	if len(lines) > 1 {
		rest := wrapText(strings.Join(lines[1:], " "), width-indent)
		lines = append(lines[:1], strings.Split(rest, "\n")...)
		pad := strings.Repeat(" ", indent)
		for i := 1; i < len(lines); i++ {
			lines[i] = pad + strings.TrimLeft(lines[i], " ")
		}
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], width)
	}
	return lines
}

// wrapText wraps at spaces only: ansi.Wrap also breaks after a hyphen,
// which splits names like fin-wait-2 and 4-tuple across lines.
func wrapText(s string, width int) string {
	const nbHyphen = "\u2011"
	w := ansi.Wrap(strings.ReplaceAll(s, "-", nbHyphen), width, "")
	return strings.ReplaceAll(w, nbHyphen, "-")
}

// wrapStyled wraps plain text and styles each line on its own, so a
// style never spans a line break.
func wrapStyled(style lipgloss.Style, s string, width, indent int) []string {
	lines := wrapIndent(s, width, indent)
	for i := range lines {
		lines[i] = style.Render(lines[i])
	}
	return lines
}
