package ui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
)

// diagramStates are the eleven states of the course's diagram.
var diagramStates = []collect.State{
	collect.StateClosed, collect.StateListen, collect.StateSynRecv, collect.StateSynSent,
	collect.StateEstablished, collect.StateFinWait1, collect.StateFinWait2, collect.StateClosing,
	collect.StateTimeWait, collect.StateCloseWait, collect.StateLastAck,
}

// kernelPath is a path of exact steps a millisecond apart.
func kernelPath(states ...collect.State) []collect.Step {
	out := make([]collect.Step, len(states))
	for i, s := range states {
		out[i] = collect.Step{State: s, At: t0.Add(time.Duration(i) * time.Millisecond), Source: collect.Kernel}
	}
	return out
}

// politeClose is the polite-close demo's two paths: the client closes
// first and pays TIME_WAIT, the server closes passively.
func politeClose() []diagramPath {
	return []diagramPath{
		{label: "client", steps: kernelPath(collect.StateEstablished, collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait)},
		{label: "server", steps: kernelPath(collect.StateEstablished, collect.StateCloseWait, collect.StateLastAck, collect.StateClosed)},
	}
}

// diagramModel is the golden table in diagram mode, lighting paths.
func diagramModel(t *testing.T, w, h int, noColor bool, paths []diagramPath) *harness {
	t.Helper()
	hs := goldenModel(t, w, h, noColor)
	hs.m.diagram.source = func(*model) (string, string, []diagramPath) {
		return "demo polite-close #1", "", paths
	}
	hs.key("D")
	return hs
}

func TestGoldenDiagram(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		name := "diagram_" + strconv.Itoa(sz[0]) + "x" + strconv.Itoa(sz[1])
		t.Run(name, func(t *testing.T) {
			checkGoldens(t, name, sz[0], sz[1], func(t *testing.T, noColor bool) *harness {
				return diagramModel(t, sz[0], sz[1], noColor, politeClose())
			})
		})
	}
}

// Every layout is drawable: arcs run from box to box, nothing overlaps
// but perpendicular crossings, every label finds room.
func TestDiagramLayoutBuilds(t *testing.T) {
	for _, l := range []*diagLayout{compactLayout(), largeLayout()} {
		if _, err := l.build(); err != nil {
			t.Errorf("%dx%d: %v", l.w, l.h, err)
		}
	}
}

// The drawn arcs are the edges of collect's state diagram, all of them:
// an arc the kernel cannot take would teach a wrong path, a missing one
// would leave a real step unlit.
func TestDiagramArcsAreTheEdges(t *testing.T) {
	for _, l := range []*diagLayout{compactLayout(), largeLayout()} {
		checkArcsAreEdges(t, l)
	}
}

func checkArcsAreEdges(t *testing.T, l *diagLayout) {
	t.Helper()
	drawn := map[[2]collect.State]bool{}
	for _, a := range l.arcs {
		from, to := l.nodes[a.from].state, l.nodes[a.to].state
		if !collect.IsEdge(from, to) {
			t.Errorf("arc %s -> %s is not an edge", from, to)
		}
		if to == collect.StateClosed != l.nodes[a.to].end {
			t.Errorf("arc %s -> %s: connections end in the bottom CLOSED box", from, to)
		}
		drawn[[2]collect.State{from, to}] = true
	}
	for _, from := range diagramStates {
		for _, to := range diagramStates {
			// Every state falls to CLOSED on a RST; the figure draws
			// only the ordinary ends.
			if to != collect.StateClosed && collect.IsEdge(from, to) && !drawn[[2]collect.State{from, to}] {
				t.Errorf("edge %s -> %s is not drawn", from, to)
			}
		}
	}
	for _, end := range []collect.State{collect.StateTimeWait, collect.StateLastAck} {
		if !drawn[[2]collect.State{end, collect.StateClosed}] {
			t.Errorf("%s -> CLOSED is not drawn", end)
		}
	}
}

// The layouts list the same boxes and arcs in the same order: what a
// path lights is worked out once, on the compact one, for both.
func TestDiagramLayoutsAgree(t *testing.T) {
	c, l := compactLayout(), largeLayout()
	if len(c.nodes) != numDiagNodes || len(l.nodes) != numDiagNodes || len(c.arcs) != len(l.arcs) {
		t.Fatalf("%d and %d boxes, %d and %d arcs", len(c.nodes), len(l.nodes), len(c.arcs), len(l.arcs))
	}
	for i := range c.nodes {
		if c.nodes[i].state != l.nodes[i].state || c.nodes[i].end != l.nodes[i].end {
			t.Errorf("box %d: %s and %s", i, c.nodes[i].state, l.nodes[i].state)
		}
	}
	for i := range c.arcs {
		if c.arcs[i].from != l.arcs[i].from || c.arcs[i].to != l.arcs[i].to {
			t.Errorf("arc %d differs", i)
		}
	}
}

// The polite close lights the client's three arcs and the server's
// three, nothing else; each path's last state is its current one.
func TestDiagramLightsPoliteClose(t *testing.T) {
	l := compactLayout()
	lit := lightPaths(l, politeClose())
	want := map[[2]int]uint8{
		{nEstablished, nFinWait1}: 1, {nFinWait1, nFinWait2}: 1, {nFinWait2, nTimeWait}: 1,
		{nEstablished, nCloseWait}: 2, {nCloseWait, nLastAck}: 2, {nLastAck, nClosedEnd}: 2,
	}
	for i, a := range l.arcs {
		if got := lit.arcs[i]; got != want[[2]int{a.from, a.to}] {
			t.Errorf("arc %s -> %s lit %b, want %b", l.nodes[a.from].state, l.nodes[a.to].state, got, want[[2]int{a.from, a.to}])
		}
	}
	if lit.visited[nEstablished] != 3 || lit.visited[nListen] != 0 || lit.visited[nClosed] != 0 {
		t.Errorf("visited: ESTABLISHED %b, LISTEN %b, top CLOSED %b", lit.visited[nEstablished], lit.visited[nListen], lit.visited[nClosed])
	}
	if lit.current[nTimeWait] != 1 || lit.current[nClosedEnd] != 2 || lit.current[nFinWait2] != 0 {
		t.Errorf("current: TIME_WAIT %b, CLOSED %b, FIN_WAIT_2 %b", lit.current[nTimeWait], lit.current[nClosedEnd], lit.current[nFinWait2])
	}
}

// A sampled jump that skipped states lights both boxes but no arc, and
// the path line draws it dashed.
func TestDiagramJumpIsNotAnArc(t *testing.T) {
	jump := []diagramPath{{label: "selected", steps: []collect.Step{
		{State: collect.StateEstablished, Source: collect.Sampled},
		{State: collect.StateTimeWait, Source: collect.Sampled},
	}}}
	l := compactLayout()
	lit := lightPaths(l, jump)
	for i, a := range l.arcs {
		if lit.arcs[i] != 0 {
			t.Errorf("arc %s -> %s lit by a jump", l.nodes[a.from].state, l.nodes[a.to].state)
		}
	}
	if lit.visited[nEstablished] != 1 || lit.current[nTimeWait] != 1 {
		t.Errorf("the jump's ends are not lit: %b %b", lit.visited[nEstablished], lit.current[nTimeWait])
	}
	h := diagramModel(t, 80, 24, true, jump)
	if !strings.Contains(h.screen(), "selected ESTABLISHED ⇢ TIME_WAIT*  sampled") {
		t.Fatalf("the path line does not show the jump:\n%s", h.screen())
	}
	h = diagramModel(t, 80, 24, true, politeClose())
	if !strings.Contains(h.screen(), "client ESTABLISHED → FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT*  exact") {
		t.Fatalf("the client's path line:\n%s", h.screen())
	}
}

// At 80x24 the diagram is drawn, not the list: every line fits, all
// eleven states are on screen with the filtered table's counts, both
// frames and a lit box in each path's glyphs.
func TestDiagramFits80x24(t *testing.T) {
	h := diagramModel(t, 80, 24, true, politeClose())
	checkFrame(t, h.m.frame, 80, 24)
	for i, l := range strings.Split(h.m.frame, "\n") {
		if n := ansi.StringWidth(l); n > 80 {
			t.Errorf("line %d is %d cells wide", i, n)
		}
	}
	scr := h.screen()
	for _, s := range diagramStates {
		if !strings.Contains(scr, s.String()) {
			t.Errorf("%s missing from the diagram", s)
		}
	}
	for _, s := range []string{"active close", "passive close", "┃FIN_WAIT_2", "║CLOSE_WAIT", "recv FIN, send ACK", "send SYN"} {
		if !strings.Contains(scr, s) {
			t.Errorf("%q missing from the diagram", s)
		}
	}
	counts := h.m.header.counts
	if counts[collect.StateEstablished] == 0 {
		t.Fatal("the fixture has no ESTABLISHED socket")
	}
	if want := "ESTABLISHED " + strconv.Itoa(counts[collect.StateEstablished]); !strings.Contains(strings.Join(strings.Fields(scr), " "), want) {
		t.Errorf("the ESTABLISHED box does not carry the count %q:\n%s", want, scr)
	}
}

// A filter changes the counts in the boxes: they are the filtered
// table's.
func TestDiagramCountsFollowTheFilter(t *testing.T) {
	h := diagramModel(t, 80, 24, true, politeClose())
	h.key("esc")
	h.key("/")
	h.typeText("state listening")
	h.key("enter")
	h.key("D")
	scr := h.screen()
	n := h.m.header.counts[collect.StateListen]
	if n == 0 || h.m.header.counts[collect.StateEstablished] != 0 {
		t.Fatalf("the filter left counts %v", h.m.header.counts)
	}
	if !strings.Contains(scr, "[LISTEN"+strings.Repeat(" ", 5-len(strconv.Itoa(n)))+strconv.Itoa(n)+"]") ||
		!strings.Contains(scr, "ESTABLISHED    0") {
		t.Fatalf("the boxes do not show the filtered counts (LISTEN %d):\n%s", n, scr)
	}
}

// D opens the diagram from the table, esc goes back; the selection's
// path is what it lights when no demo knows its paths.
func TestDiagramKey(t *testing.T) {
	h := goldenModel(t, 80, 24, true)
	table := h.screen()
	h.key("D")
	if h.m.mode != modeDiagram || !strings.Contains(h.screen(), "TCP state diagram") {
		t.Fatalf("D did not open the diagram:\n%s", h.screen())
	}
	sel := h.m.rows[h.m.selected].s
	if want := "selected " + sel.State.String() + "*"; !strings.Contains(h.screen(), want) {
		t.Errorf("the selected socket's state is not lit (%q):\n%s", want, h.screen())
	}
	h.key("j")
	if next := h.m.rows[h.m.selected].s; !strings.Contains(h.screen(), next.Local.String()) {
		t.Errorf("j did not move the lit connection to %s:\n%s", next.Local, h.screen())
	}
	h.key("k")
	h.key("esc")
	if h.m.mode != modeTable || h.screen() != table {
		t.Fatalf("esc did not go back to the same table:\n%s", h.screen())
	}
	h.key("D")
	h.key("D")
	if h.m.mode != modeTable {
		t.Fatal("D again did not leave the diagram")
	}
}

// The selected connection's path, until the tracker knows it, is its
// history as the view sampled it, ending in its state now.
func TestSampledPath(t *testing.T) {
	s := tcpSock(collect.StateTimeWait, 8080, 51000)
	hist := []histEntry{
		{at: t0, from: collect.StateUnknown, to: collect.StateEstablished},
		{at: t0.Add(time.Second), from: collect.StateEstablished, to: collect.StateFinWait2},
		{at: t0.Add(2 * time.Second), from: collect.StateFinWait2, to: collect.StateTimeWait},
	}
	got := sampledPath(hist, &s)
	want := []collect.State{collect.StateEstablished, collect.StateFinWait2, collect.StateTimeWait}
	if len(got) != len(want) {
		t.Fatalf("path %v, want %v", got, want)
	}
	for i, st := range got {
		if st.State != want[i] || st.Source != collect.Sampled || !st.At.Equal(hist[i].at) {
			t.Errorf("step %d = %+v, want %s at %v, sampled", i, st, want[i], hist[i].at)
		}
	}
	if one := sampledPath(nil, &s); len(one) != 1 || one[0].State != collect.StateTimeWait {
		t.Errorf("no history: %v, want the state now alone", one)
	}
}

// The frame is drawn only when what it shows changes.
func TestDiagramRendersOnChange(t *testing.T) {
	st := DefaultStyles(true)
	d := diagramView{styles: &st}
	d.SetSize(80, 20)
	var counts [collect.NumStates]int
	d.set("x", "", politeClose(), &counts)
	first := d.Render(80)
	d.set("x", "", politeClose(), &counts)
	if d.dirty {
		t.Fatal("the same paths and counts marked the diagram for drawing")
	}
	counts[collect.StateListen] = 3
	d.set("x", "", politeClose(), &counts)
	if !d.dirty {
		t.Fatal("a changed count did not mark the diagram for drawing")
	}
	if second := d.Render(80); second == first || !strings.Contains(second, "[LISTEN    3]") {
		t.Fatalf("the new count is not drawn:\n%s", second)
	}
}

// Before the first snapshot no count is known: the boxes say "?", not 0.
func TestDiagramCountsUnknownBeforeASnapshot(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.key("D")
	scr := h.screen()
	if !strings.Contains(scr, "[LISTEN    ?]") || strings.Contains(scr, "[LISTEN    0]") {
		t.Fatalf("counts before a snapshot:\n%s", scr)
	}
	if !strings.Contains(scr, "no socket selected") {
		t.Errorf("no note for the empty table:\n%s", scr)
	}
	h.feed(fixture())
	if scr := h.screen(); strings.Contains(scr, "?]") {
		t.Fatalf("a count still unknown after a snapshot:\n%s", scr)
	}
}

// Too small for the figure, the view lists the states with their counts;
// every size gives a frame that fits.
func TestDiagramSmallTerminals(t *testing.T) {
	h := diagramModel(t, 60, 15, true, politeClose())
	scr := h.screen()
	if strings.Contains(scr, "active close") {
		t.Fatalf("the figure was drawn in 60x15:\n%s", scr)
	}
	for _, s := range diagramStates {
		if !strings.Contains(scr, s.String()) {
			t.Errorf("%s missing from the list at 60x15:\n%s", s, scr)
		}
	}
	for _, w := range []int{1, 20, 40, 79, 80, 81, 120, 200} {
		for _, ht := range []int{1, 3, 8, 16, 23, 24, 25, 40} {
			h := diagramModel(t, w, ht, false, politeClose())
			checkFrame(t, h.m.frame, w, ht)
		}
	}
}
