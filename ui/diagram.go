package ui

import (
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/demo"
)

// diagramPath is one path the diagram lights: whose it is ("client",
// "server", "selected") and the states it went through, oldest first.
type diagramPath struct {
	label string
	steps []collect.Step
}

// maxDiagramPaths is how many paths the diagram tells apart; each has its
// own line glyphs and colour.
const maxDiagramPaths = 2

// diagramView is the TCP state diagram: Stevens's figure with the paths
// lit and the filtered table's count in every state box. It draws its
// frame only when what it shows changed; Render returns the one it has.
type diagramView struct {
	width, height int
	styles        *Styles

	subject string // what the lit paths belong to
	note    string // shown instead of the paths when there are none
	paths   []diagramPath
	counts  [collect.NumStates]int
	// noCounts is set before the first snapshot: the boxes show "?",
	// not 0.
	noCounts bool
	// source says what the diagram lights; nil is (*model).diagramPaths.
	// Tests set it to light fixed paths.
	source func(m *model) (subject, note string, paths []diagramPath)

	frame string
	dirty bool
}

// SetSize sets the view's size, its title and path lines included.
func (d *diagramView) SetSize(w, h int) {
	if w != d.width || h != d.height {
		d.width, d.height, d.dirty = w, h, true
	}
}

// set gives the view what it shows; the frame is drawn again only when
// something differs from the last call.
// A nil counts means none are known yet.
func (d *diagramView) set(subject, note string, paths []diagramPath, counts *[collect.NumStates]int) {
	if len(paths) > maxDiagramPaths {
		paths = paths[:maxDiagramPaths]
	}
	var c [collect.NumStates]int
	if counts != nil {
		c = *counts
	}
	if subject == d.subject && note == d.note && c == d.counts && (counts == nil) == d.noCounts &&
		slices.EqualFunc(paths, d.paths, samePath) {
		return
	}
	d.subject, d.note, d.counts, d.noCounts, d.dirty = subject, note, c, counts == nil, true
	d.paths = d.paths[:0]
	for _, p := range paths {
		d.paths = append(d.paths, diagramPath{label: p.label, steps: slices.Clone(p.steps)})
	}
}

func samePath(a, b diagramPath) bool {
	return a.label == b.label && slices.EqualFunc(a.steps, b.steps, func(x, y collect.Step) bool {
		return x.State == y.State && x.Source == y.Source && x.At.Equal(y.At)
	})
}

// Render returns the diagram for width cells, drawn again only after a
// change.
func (d *diagramView) Render(width int) string {
	if width != d.width {
		d.width, d.dirty = width, true
	}
	if d.dirty || d.frame == "" {
		d.frame = d.draw()
		d.dirty = false
	}
	return d.frame
}

// The drawings of the diagram, largest first; their skeletons are built
// once. compact is also the one the state list takes its boxes from.
var (
	compact  = mustBuild(compactLayout())
	diagrams = []*diagGrid{mustBuild(largeLayout()), compact}
)

func mustBuild(l *diagLayout) *diagGrid {
	g, err := l.build()
	if err != nil {
		panic("ui: state diagram layout: " + err.Error())
	}
	return g
}

// draw builds the frame: a title line, the diagram (or, when it does not
// fit, the states as a list), and one line per path.
func (d *diagramView) draw() string {
	w, h := max(d.width, 1), max(d.height, 1)
	// The node and arc indices are the same in every layout, so what the
	// paths light does not depend on the drawing chosen.
	lit := lightPaths(compact.lay, d.paths)
	var lines []string
	lines = append(lines, d.titleLine(w))
	foot := d.pathLines(w, lit)
	var g *diagGrid
	for _, c := range diagrams {
		if w >= c.lay.w && h >= 1+c.lay.h+len(foot) {
			g = c
			break
		}
	}
	if g != nil {
		pad := strings.Repeat(" ", (w-g.lay.w)/2)
		for _, l := range g.render(d.styles, lit, d.shownCounts()) {
			lines = append(lines, pad+l)
		}
		if rest := h - len(lines) - len(foot); rest > 2 {
			// Room to spare: a blank line sets the paths off.
			lines = append(lines, "")
		}
	} else {
		lines = append(lines, d.stateList(w, lit)...)
	}
	lines = append(lines, foot...)
	if h > len(lines) && h-len(lines) > 1 {
		for _, l := range legends {
			if len([]rune(l)) <= w {
				lines = append(lines, "", d.styles.Dim.Render(l))
				break
			}
		}
	}
	for i := range lines {
		lines[i] = truncLine(lines[i], w)
	}
	return strings.Join(lines, "\n")
}

// legends explain the glyphs, when there is a line for them: the longest
// that fits.
var legends = []string{
	"* the state now · → an arc taken · ⇢ a jump: states passed between two refreshes · on a RST or an abort any state goes to CLOSED",
	"* the state now · → an arc taken · ⇢ a jump: states passed between two refreshes",
	"* now · → arc · ⇢ jump (between refreshes)",
}

func (d *diagramView) titleLine(w int) string {
	t := d.styles.Title.Render("TCP state diagram")
	if d.subject != "" {
		t += " · " + d.subject
	}
	right := "counts: the table's sockets per state"
	if gap := w - ansi.StringWidth(t) - len(right); gap >= 2 {
		t += strings.Repeat(" ", gap) + d.styles.Dim.Render(right)
	}
	return t
}

// pathGlyph is the line glyph each path is drawn with, also its legend.
var pathGlyph = [maxDiagramPaths]string{"━", "═"}

// pathLines is one line per path, in its style: its states in order, an
// arrow for an arc, a dashed one for a jump, and how they were learnt.
func (d *diagramView) pathLines(w int, lit *diagLight) []string {
	if len(d.paths) == 0 {
		if d.note == "" {
			return nil
		}
		return []string{d.styles.Dim.Render(d.note)}
	}
	var out []string
	for p, path := range d.paths {
		st := d.styles.DiagPath[p]
		head := st.Render(pathGlyph[p] + " " + path.label)
		if len(path.steps) == 0 {
			out = append(out, head+" "+d.styles.Dim.Render("no states known yet"))
			continue
		}
		var parts []string
		sampled := false
		for i, s := range path.steps {
			if s.Source != collect.Kernel {
				sampled = true
			}
			name := s.State.Canonical().String()
			if i == len(path.steps)-1 {
				name += "*"
			}
			if i > 0 {
				sep := " → "
				if lit.jumps[p][i] {
					sep = " ⇢ "
				}
				name = sep + name
			}
			parts = append(parts, name)
		}
		how := "exact"
		if sampled {
			how = "sampled"
		}
		tail := "  " + d.styles.Dim.Render(how)
		// Too long: the newest states stay, the oldest give way to "…".
		room := w - ansi.StringWidth(head) - 1 - ansi.StringWidth(tail)
		body := strings.Join(parts, "")
		for len(parts) > 1 && ansi.StringWidth(body) > room {
			parts = parts[1:]
			body = "…" + strings.Join(parts, "")
		}
		out = append(out, head+" "+st.Render(body)+tail)
	}
	return out
}

// stateList is the diagram's stand-in on a small terminal: the eleven
// states with their counts, marked as the diagram would light them, in
// as many columns as fit.
func (d *diagramView) stateList(w int, lit *diagLight) []string {
	const cell = 19
	cols := max(w/(cell+1), 1)
	nodes := compact.lay.nodes[:nClosedEnd]
	rows := (len(nodes) + cols - 1) / cols
	lines := make([]string, rows)
	for i := range nodes {
		r := i % rows
		if lines[r] != "" {
			lines[r] += " "
		}
		lines[r] += compact.nodeText(d.styles, i, lit, d.shownCounts())
	}
	return lines
}

// shownCounts is the counts the boxes show, nil when none are known.
func (d *diagramView) shownCounts() *[collect.NumStates]int {
	if d.noCounts {
		return nil
	}
	return &d.counts
}

// diagLight is what the paths light: per node and arc, a bit for each
// path that visited or took it, and the node each path is in now. jumps
// marks the steps that are not an edge of the diagram.
type diagLight struct {
	visited, current [numDiagNodes]uint8
	arcs             []uint8
	jumps            [maxDiagramPaths][]bool
}

// nodeFor is the box of a path's step i in state s: CLOSED is the top box
// when a path starts there, the bottom one when it ends there.
func nodeFor(l *diagLayout, s collect.State, i int) int {
	s = s.Canonical()
	for n := range l.nodes {
		if l.nodes[n].state == s && (s != collect.StateClosed || l.nodes[n].end == (i > 0)) {
			return n
		}
	}
	return -1
}

func lightPaths(l *diagLayout, paths []diagramPath) *diagLight {
	lit := &diagLight{arcs: make([]uint8, len(l.arcs))}
	for p, path := range paths {
		bit := uint8(1) << p
		lit.jumps[p] = make([]bool, len(path.steps))
		prev := -1
		for i, s := range path.steps {
			n := nodeFor(l, s.State, i)
			if i > 0 && !collect.IsEdge(path.steps[i-1].State, s.State) {
				lit.jumps[p][i] = true
			} else if prev >= 0 && n >= 0 {
				for a := range l.arcs {
					if l.arcs[a].from == prev && l.arcs[a].to == n {
						lit.arcs[a] |= bit
					}
				}
			}
			if n >= 0 {
				lit.visited[n] |= bit
			}
			prev = n
		}
		if prev >= 0 {
			lit.current[prev] |= bit
		}
	}
	return lit
}

// syncDiagram hands the diagram what it shows: the paths of the newest
// demo that knows them, or else the selected connection's, and the
// filtered table's counts.
func (m *model) syncDiagram() {
	src := m.diagram.source
	if src == nil {
		src = (*model).diagramPaths
	}
	subject, note, paths := src(m)
	counts := &m.header.counts
	if m.snap == nil {
		counts = nil
	}
	m.diagram.set(subject, note, paths, counts)
}

func (m *model) diagramPaths() (subject, note string, paths []diagramPath) {
	for i := len(m.demos.runs) - 1; i >= 0; i-- {
		r := m.demos.runs[i]
		if r.run == nil {
			continue
		}
		c, s := r.run.Path(demo.Client), r.run.Path(demo.Server)
		if len(c) > 0 || len(s) > 0 {
			subject = "demo " + r.sc.Name + " #" + strconv.Itoa(r.seq)
			return subject, "", []diagramPath{{label: string(demo.Client), steps: c}, {label: string(demo.Server), steps: s}}
		}
	}
	if len(m.rows) == 0 {
		return "", "no socket selected: the table is empty", nil
	}
	s := m.rows[m.selected].s
	subject = s.Local.String() + " ↔ " + s.Remote.String()
	if s.Proto != collect.TCP {
		return subject, "the selected socket is " + s.Proto.String() + ": TCP states only", nil
	}
	k := s.Key()
	steps := m.tracker.Path(k)
	if len(steps) == 0 {
		steps = sampledPath(m.hist.byKey[k], s)
	}
	return subject, "", []diagramPath{{label: "selected", steps: steps}}
}

// sampledPath is a connection's path as the view saw it: the transitions
// its history holds, ending in the socket's state now, each step
// Sampled.
func sampledPath(hist []histEntry, s *collect.Socket) []collect.Step {
	var steps []collect.Step
	add := func(st collect.State, e *histEntry) {
		if st == collect.StateUnknown {
			return
		}
		if n := len(steps); n > 0 && steps[n-1].State.Canonical() == st.Canonical() {
			return
		}
		step := collect.Step{State: st, Source: collect.Sampled}
		if e != nil {
			step.At = e.at
		}
		steps = append(steps, step)
	}
	for i := range hist {
		if i == 0 {
			add(hist[i].from, nil)
		}
		add(hist[i].to, &hist[i])
	}
	add(s.State, nil)
	return steps
}

// diagramKey handles a key in the diagram: back to the table, or the
// table's selection moved, so another connection's path lights.
func (m *model) diagramKey(msg tea.KeyPressMsg) {
	k := &m.keys
	switch {
	case key.Matches(msg, k.Back, k.Diagram):
		m.mode = modeTable
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	}
}
