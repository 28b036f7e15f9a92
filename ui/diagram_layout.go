package ui

import (
	"fmt"

	"socktop/collect"
)

// The state diagram is laid out on a grid of cells once per layout: the
// state boxes, the arcs between them as runs of line cells ending in an
// arrowhead, their labels, and the active-close and passive-close frames.
// That skeleton never changes; lighting a path only picks each cell's
// glyph family and style when the frame is drawn.

// gridPt is a cell of the grid.
type gridPt struct{ x, y int }

// diagNode is one state box. Its text is "[NAME*nnnn]": a bracket, the
// name, a marker cell for the current state, a four-cell count and a
// bracket.
type diagNode struct {
	state collect.State
	x, y  int
	// end marks the second CLOSED box, where connections end, as RFC 793
	// draws it; the first is where they begin.
	end bool
}

// nodeExtra is the cells a box adds to its state's name: two brackets, the
// marker and the count.
const nodeExtra = 7

func (n *diagNode) width() int { return len(n.state.String()) + nodeExtra }

// diagLabel is an arc's label: the first of texts that fits is drawn.
// With x2 == 0 the text starts at (x, y) on free cells; otherwise it is
// centred between x and x2 on row y, over the arc's own horizontal line.
type diagLabel struct {
	x, y, x2 int
	texts    []string
}

// diagArc is one arc of the diagram, from node index from to node index
// to. pts are the corners of its line: the first is next to the from box,
// the last, where the arrowhead goes, next to the to box.
type diagArc struct {
	from, to int
	pts      []gridPt
	labels   []diagLabel
}

// diagBox is a frame around the states of one kind of close.
type diagBox struct {
	x0, y0, x1, y1 int
	title          string
	titleAt        int // the title's offset in the top border
}

// diagLayout is one drawing of the diagram and the size it needs.
type diagLayout struct {
	w, h  int
	nodes []diagNode
	arcs  []diagArc
	boxes []diagBox
}

// Kinds of cell in the skeleton.
const (
	cellBlank uint8 = iota
	cellLine
	cellArrow
	cellLabel
	cellNode
	cellBox
)

// Line connection bits of a line cell.
const (
	connUp uint8 = 1 << iota
	connDown
	connLeft
	connRight
)

// diagCell is one cell of the skeleton.
type diagCell struct {
	kind uint8
	r    rune  // arrowheads, labels, frames
	conn uint8 // line cells: the directions the line leaves the cell in
	// arc owns a line, arrow or label cell; cross is the arc of the
	// vertical line where two arcs cross (-1 when none), and boxCross
	// says the line crosses a frame.
	arc, cross int8
	boxCross   bool
	node       int8 // cellNode: which box
}

// diagGrid is a layout drawn into cells.
type diagGrid struct {
	lay   *diagLayout
	cells [][]diagCell
}

// build draws the layout's skeleton. An error means the layout itself is
// wrong (an arc that does not touch its boxes, two arcs on one cell, a
// label that fits nowhere); the layout tests call it for every layout.
func (l *diagLayout) build() (*diagGrid, error) {
	g := &diagGrid{lay: l, cells: make([][]diagCell, l.h)}
	for y := range g.cells {
		g.cells[y] = make([]diagCell, l.w)
		for x := range g.cells[y] {
			g.cells[y][x] = diagCell{arc: -1, cross: -1, node: -1}
		}
	}
	for i := range l.boxes {
		if err := g.drawBox(&l.boxes[i]); err != nil {
			return nil, err
		}
	}
	for i := range l.nodes {
		n := &l.nodes[i]
		for x := n.x; x < n.x+n.width(); x++ {
			c, err := g.at(x, n.y)
			if err != nil {
				return nil, fmt.Errorf("%s box: %w", n.state, err)
			}
			if c.kind != cellBlank {
				return nil, fmt.Errorf("%s box overlaps something at %d,%d", n.state, x, n.y)
			}
			c.kind, c.node = cellNode, int8(i)
		}
	}
	for i := range l.arcs {
		if err := g.drawArc(i); err != nil {
			return nil, err
		}
	}
	for i := range l.arcs {
		for _, lb := range l.arcs[i].labels {
			if err := g.drawLabel(i, lb); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

func (g *diagGrid) at(x, y int) (*diagCell, error) {
	if y < 0 || y >= len(g.cells) || x < 0 || x >= len(g.cells[y]) {
		return nil, fmt.Errorf("cell %d,%d outside the %dx%d grid", x, y, g.lay.w, g.lay.h)
	}
	return &g.cells[y][x], nil
}

func (g *diagGrid) drawBox(b *diagBox) error {
	put := func(x, y int, r rune) error {
		c, err := g.at(x, y)
		if err != nil {
			return err
		}
		c.kind, c.r = cellBox, r
		return nil
	}
	for x := b.x0; x <= b.x1; x++ {
		for _, y := range []int{b.y0, b.y1} {
			if err := put(x, y, '─'); err != nil {
				return err
			}
		}
	}
	for y := b.y0; y <= b.y1; y++ {
		for _, x := range []int{b.x0, b.x1} {
			if err := put(x, y, '│'); err != nil {
				return err
			}
		}
	}
	for _, c := range []struct {
		x, y int
		r    rune
	}{{b.x0, b.y0, '╭'}, {b.x1, b.y0, '╮'}, {b.x0, b.y1, '╰'}, {b.x1, b.y1, '╯'}} {
		if err := put(c.x, c.y, c.r); err != nil {
			return err
		}
	}
	title := " " + b.title + " "
	for i, r := range []rune(title) {
		if err := put(b.x0+b.titleAt+i, b.y0, r); err != nil {
			return err
		}
	}
	return nil
}

// side says where box n is seen from cell p: the connection bit pointing
// at it, or 0 when it is not next to p.
func side(n *diagNode, p gridPt) uint8 {
	switch {
	case p.y == n.y && p.x == n.x-1:
		return connRight
	case p.y == n.y && p.x == n.x+n.width():
		return connLeft
	case p.x >= n.x && p.x < n.x+n.width() && p.y == n.y-1:
		return connDown
	case p.x >= n.x && p.x < n.x+n.width() && p.y == n.y+1:
		return connUp
	}
	return 0
}

// cells walks an arc's corners into its cells, in order.
func (a *diagArc) cells() ([]gridPt, error) {
	out := []gridPt{a.pts[0]}
	for i := 1; i < len(a.pts); i++ {
		p, q := a.pts[i-1], a.pts[i]
		if p.x != q.x && p.y != q.y {
			return nil, fmt.Errorf("segment %v-%v is not straight", p, q)
		}
		dx, dy := sign(q.x-p.x), sign(q.y-p.y)
		for c := p; c != q; {
			c = gridPt{c.x + dx, c.y + dy}
			out = append(out, c)
		}
	}
	return out, nil
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// toward is the connection bit from cell p to the neighbouring cell q.
func toward(p, q gridPt) uint8 {
	switch {
	case q.y < p.y:
		return connUp
	case q.y > p.y:
		return connDown
	case q.x < p.x:
		return connLeft
	}
	return connRight
}

var arrowFor = map[uint8]rune{connUp: '^', connDown: 'v', connLeft: '<', connRight: '>'}

func (g *diagGrid) drawArc(i int) error {
	a := &g.lay.arcs[i]
	from, to := &g.lay.nodes[a.from], &g.lay.nodes[a.to]
	name := from.state.String() + "->" + to.state.String()
	pts, err := a.cells()
	if err != nil {
		return fmt.Errorf("arc %s: %w", name, err)
	}
	start := side(from, pts[0])
	end := side(to, pts[len(pts)-1])
	if start == 0 || end == 0 {
		return fmt.Errorf("arc %s does not run from box to box", name)
	}
	for j, p := range pts {
		c, err := g.at(p.x, p.y)
		if err != nil {
			return fmt.Errorf("arc %s: %w", name, err)
		}
		if j == len(pts)-1 {
			if c.kind != cellBlank {
				return fmt.Errorf("arc %s: arrowhead at %v on a used cell", name, p)
			}
			c.kind, c.r, c.arc = cellArrow, arrowFor[end], int8(i)
			continue
		}
		var conn uint8
		if j == 0 {
			conn = start
		} else {
			conn = toward(p, pts[j-1])
		}
		conn |= toward(p, pts[j+1])
		straight := conn == connUp|connDown || conn == connLeft|connRight
		switch {
		case c.kind == cellBlank:
			c.kind, c.conn, c.arc = cellLine, conn, int8(i)
		case c.kind == cellLine && straight && c.cross < 0 && !c.boxCross && c.conn|conn == 0xf && c.conn&conn == 0:
			// A crossing: the horizontal arc keeps arc, the vertical
			// one goes in cross.
			if conn == connUp|connDown {
				c.cross = int8(i)
			} else {
				c.cross, c.arc = c.arc, int8(i)
			}
			c.conn = 0xf
		case c.kind == cellBox && straight:
			c.kind, c.conn, c.arc, c.boxCross = cellLine, conn, int8(i), true
		default:
			return fmt.Errorf("arc %s: cell %v already used", name, p)
		}
	}
	return nil
}

func (g *diagGrid) drawLabel(i int, lb diagLabel) error {
	for _, text := range lb.texts {
		rs := []rune(text)
		x := lb.x
		if lb.x2 > 0 {
			room := lb.x2 - lb.x + 1
			if len(rs) > room {
				continue
			}
			x = lb.x + (room-len(rs))/2
		}
		if !g.fits(i, x, lb.y, len(rs), lb.x2 > 0) {
			continue
		}
		for j, r := range rs {
			c := &g.cells[lb.y][x+j]
			c.kind, c.r, c.arc, c.conn = cellLabel, r, int8(i), 0
		}
		return nil
	}
	a := &g.lay.arcs[i]
	return fmt.Errorf("no label of arc %s->%s fits at %d,%d",
		g.lay.nodes[a.from].state, g.lay.nodes[a.to].state, lb.x, lb.y)
}

// fits says whether n cells from (x, y) are free for a label of arc i: on
// its own straight horizontal line when embedded, blank otherwise.
func (g *diagGrid) fits(i, x, y, n int, embedded bool) bool {
	if y < 0 || y >= len(g.cells) || x < 0 || x+n > len(g.cells[y]) {
		return false
	}
	for j := range n {
		c := &g.cells[y][x+j]
		switch {
		case embedded && c.kind == cellLine && int(c.arc) == i && c.conn == connLeft|connRight && c.cross < 0 && !c.boxCross:
		case !embedded && c.kind == cellBlank:
		default:
			return false
		}
	}
	return true
}

// Node indices of the layouts, in the order their nodes are listed.
const (
	nClosed = iota
	nListen
	nSynRecv
	nSynSent
	nEstablished
	nFinWait1
	nClosing
	nCloseWait
	nFinWait2
	nTimeWait
	nLastAck
	nClosedEnd
	numDiagNodes
)

// Arc labels, longest first: a layout draws the first that fits.
var (
	lbPassiveOpen = []string{"passive open"}
	lbActiveOpen  = []string{"active open, send SYN", "send SYN"}
	lbListenSyn   = []string{"recv SYN, send SYN,ACK", "recv SYN"}
	lbSendSyn     = []string{"send SYN"}
	lbSimOpen     = []string{"recv SYN, send SYN,ACK (simultaneous open)", "simultaneous open (recv SYN)", "simultaneous open"}
	lbRst         = []string{"recv RST"}
	lbSynAck      = []string{"recv SYN,ACK, send ACK", "recv SYN,ACK"}
	lbRecvAck     = []string{"recv ACK"}
	lbClose       = []string{"close, send FIN", "close"}
	lbFin         = []string{"recv FIN, send ACK", "recv FIN"}
	lbFinAck      = []string{"recv FIN,ACK, send ACK", "recv FIN,ACK"}
	lb2MSL        = []string{"2MSL timeout", "timeout"}
)

// compactLayout is the diagram in 80 columns and 17 rows: Stevens's
// figure, CLOSED on top, the opens in the upper half, ESTABLISHED in the
// middle, the active close framed on the left and the passive close on the
// right, and CLOSED again at the bottom where connections end.
func compactLayout() *diagLayout {
	return &diagLayout{
		w: 80, h: 17,
		nodes: []diagNode{
			nClosed:      {state: collect.StateClosed, x: 33, y: 0},
			nListen:      {state: collect.StateListen, x: 33, y: 2},
			nSynRecv:     {state: collect.StateSynRecv, x: 2, y: 4},
			nSynSent:     {state: collect.StateSynSent, x: 60, y: 4},
			nEstablished: {state: collect.StateEstablished, x: 31, y: 6},
			nFinWait1:    {state: collect.StateFinWait1, x: 2, y: 10},
			nClosing:     {state: collect.StateClosing, x: 37, y: 10},
			nCloseWait:   {state: collect.StateCloseWait, x: 60, y: 10},
			nFinWait2:    {state: collect.StateFinWait2, x: 2, y: 13},
			nTimeWait:    {state: collect.StateTimeWait, x: 36, y: 13},
			nLastAck:     {state: collect.StateLastAck, x: 60, y: 13},
			nClosedEnd:   {state: collect.StateClosed, x: 60, y: 16, end: true},
		},
		boxes: []diagBox{
			{x0: 0, y0: 8, x1: 55, y1: 14, title: "active close", titleAt: 18},
			{x0: 57, y0: 8, x1: 79, y1: 14, title: "passive close", titleAt: 2},
		},
		arcs: []diagArc{
			{from: nClosed, to: nListen, pts: pts(39, 1),
				labels: []diagLabel{{x: 41, y: 1, texts: lbPassiveOpen}}},
			{from: nClosed, to: nSynSent, pts: pts(46, 0, 72, 0, 72, 3),
				labels: []diagLabel{{x: 48, y: 0, x2: 70, texts: lbActiveOpen}}},
			{from: nListen, to: nSynRecv, pts: pts(32, 2, 8, 2, 8, 3),
				labels: []diagLabel{{x: 9, y: 1, texts: lbListenSyn}}},
			{from: nListen, to: nSynSent, pts: pts(46, 2, 63, 2, 63, 3),
				labels: []diagLabel{{x: 48, y: 2, x2: 61, texts: lbSendSyn}}},
			{from: nSynSent, to: nSynRecv, pts: pts(59, 4, 17, 4),
				labels: []diagLabel{{x: 19, y: 4, x2: 57, texts: lbSimOpen}}},
			{from: nSynRecv, to: nListen, pts: pts(12, 3, 36, 3),
				labels: []diagLabel{{x: 14, y: 3, x2: 34, texts: lbRst}}},
			{from: nSynSent, to: nEstablished, pts: pts(70, 5, 70, 6, 49, 6),
				labels: []diagLabel{{x: 47, y: 5, texts: lbSynAck}}},
			{from: nSynRecv, to: nEstablished, pts: pts(10, 5, 10, 6, 30, 6),
				labels: []diagLabel{{x: 12, y: 6, x2: 28, texts: lbRecvAck}}},
			{from: nSynRecv, to: nFinWait1, pts: pts(4, 5, 4, 9),
				labels: []diagLabel{{x: 6, y: 7, texts: lbClose}}},
			{from: nEstablished, to: nFinWait1, pts: pts(35, 7, 14, 7, 14, 9),
				labels: []diagLabel{{x: 16, y: 7, x2: 33, texts: lbClose}}},
			{from: nEstablished, to: nCloseWait, pts: pts(44, 7, 74, 7, 74, 9),
				labels: []diagLabel{{x: 46, y: 7, x2: 72, texts: lbFin}}},
			{from: nFinWait1, to: nFinWait2, pts: pts(6, 11, 6, 12),
				labels: []diagLabel{{x: 8, y: 11, texts: lbRecvAck}}},
			{from: nFinWait1, to: nClosing, pts: pts(19, 10, 36, 10),
				labels: []diagLabel{{x: 21, y: 10, x2: 34, texts: lbFin}}},
			{from: nFinWait1, to: nTimeWait, pts: pts(17, 11, 39, 11, 39, 12),
				labels: []diagLabel{{x: 19, y: 11, x2: 37, texts: lbFinAck}}},
			{from: nClosing, to: nTimeWait, pts: pts(44, 11, 44, 12),
				labels: []diagLabel{{x: 46, y: 11, texts: lbRecvAck}}},
			{from: nFinWait2, to: nTimeWait, pts: pts(19, 13, 35, 13),
				labels: []diagLabel{{x: 21, y: 13, x2: 33, texts: lbFin}}},
			{from: nCloseWait, to: nLastAck, pts: pts(66, 11, 66, 12),
				labels: []diagLabel{{x: 68, y: 11, texts: []string{"close,"}}, {x: 68, y: 12, texts: []string{"send FIN"}}}},
			{from: nLastAck, to: nClosedEnd, pts: pts(66, 14, 66, 15),
				labels: []diagLabel{{x: 68, y: 15, texts: lbRecvAck}}},
			{from: nTimeWait, to: nClosedEnd, pts: pts(44, 14, 44, 16, 59, 16),
				labels: []diagLabel{{x: 46, y: 16, x2: 57, texts: lb2MSL}}},
		},
	}
}

// pts pairs up coordinates into corners.
func pts(xy ...int) []gridPt {
	out := make([]gridPt, 0, len(xy)/2)
	for i := 0; i+1 < len(xy); i += 2 {
		out = append(out, gridPt{xy[i], xy[i+1]})
	}
	return out
}

// largeLayout is the same figure in 116 columns and 25 rows, with room
// for every label in full.
func largeLayout() *diagLayout {
	return &diagLayout{
		w: 116, h: 25,
		nodes: []diagNode{
			nClosed:      {state: collect.StateClosed, x: 52, y: 0},
			nListen:      {state: collect.StateListen, x: 52, y: 3},
			nSynRecv:     {state: collect.StateSynRecv, x: 4, y: 6},
			nSynSent:     {state: collect.StateSynSent, x: 92, y: 6},
			nEstablished: {state: collect.StateEstablished, x: 49, y: 9},
			nFinWait1:    {state: collect.StateFinWait1, x: 4, y: 15},
			nClosing:     {state: collect.StateClosing, x: 52, y: 15},
			nCloseWait:   {state: collect.StateCloseWait, x: 90, y: 15},
			nFinWait2:    {state: collect.StateFinWait2, x: 4, y: 20},
			nTimeWait:    {state: collect.StateTimeWait, x: 50, y: 20},
			nLastAck:     {state: collect.StateLastAck, x: 90, y: 20},
			nClosedEnd:   {state: collect.StateClosed, x: 90, y: 24, end: true},
		},
		boxes: []diagBox{
			{x0: 0, y0: 12, x1: 78, y1: 22, title: "active close", titleAt: 24},
			{x0: 84, y0: 12, x1: 115, y1: 22, title: "passive close", titleAt: 2},
		},
		arcs: []diagArc{
			{from: nClosed, to: nListen, pts: pts(58, 1, 58, 2),
				labels: []diagLabel{{x: 60, y: 1, texts: lbPassiveOpen}}},
			{from: nClosed, to: nSynSent, pts: pts(65, 0, 104, 0, 104, 5),
				labels: []diagLabel{{x: 67, y: 0, x2: 102, texts: lbActiveOpen}}},
			{from: nListen, to: nSynRecv, pts: pts(51, 3, 12, 3, 12, 5),
				labels: []diagLabel{{x: 14, y: 3, x2: 49, texts: lbListenSyn}}},
			{from: nListen, to: nSynSent, pts: pts(65, 3, 96, 3, 96, 5),
				labels: []diagLabel{{x: 67, y: 3, x2: 94, texts: lbSendSyn}}},
			{from: nSynSent, to: nSynRecv, pts: pts(91, 6, 19, 6),
				labels: []diagLabel{{x: 21, y: 6, x2: 89, texts: lbSimOpen}}},
			{from: nSynRecv, to: nListen, pts: pts(16, 5, 16, 4, 56, 4),
				labels: []diagLabel{{x: 18, y: 4, x2: 54, texts: lbRst}}},
			{from: nSynSent, to: nEstablished, pts: pts(100, 7, 100, 9, 67, 9),
				labels: []diagLabel{{x: 69, y: 9, x2: 98, texts: lbSynAck}}},
			{from: nSynRecv, to: nEstablished, pts: pts(12, 7, 12, 9, 48, 9),
				labels: []diagLabel{{x: 14, y: 9, x2: 46, texts: lbRecvAck}}},
			{from: nSynRecv, to: nFinWait1, pts: pts(6, 7, 6, 14),
				labels: []diagLabel{{x: 8, y: 13, texts: lbClose}}},
			{from: nEstablished, to: nFinWait1, pts: pts(53, 10, 20, 10, 20, 14),
				labels: []diagLabel{{x: 22, y: 10, x2: 51, texts: lbClose}}},
			{from: nEstablished, to: nCloseWait, pts: pts(62, 10, 102, 10, 102, 14),
				labels: []diagLabel{{x: 64, y: 10, x2: 100, texts: lbFin}}},
			{from: nFinWait1, to: nFinWait2, pts: pts(8, 16, 8, 19),
				labels: []diagLabel{{x: 10, y: 18, texts: lbRecvAck}}},
			{from: nFinWait1, to: nClosing, pts: pts(21, 15, 51, 15),
				labels: []diagLabel{{x: 23, y: 15, x2: 49, texts: lbFin}}},
			{from: nFinWait1, to: nTimeWait, pts: pts(18, 16, 18, 17, 54, 17, 54, 19),
				labels: []diagLabel{{x: 20, y: 17, x2: 52, texts: lbFinAck}}},
			{from: nClosing, to: nTimeWait, pts: pts(60, 16, 60, 19),
				labels: []diagLabel{{x: 62, y: 18, texts: lbRecvAck}}},
			{from: nFinWait2, to: nTimeWait, pts: pts(21, 20, 49, 20),
				labels: []diagLabel{{x: 23, y: 20, x2: 47, texts: lbFin}}},
			{from: nCloseWait, to: nLastAck, pts: pts(96, 16, 96, 19),
				labels: []diagLabel{{x: 98, y: 18, texts: lbClose}}},
			{from: nLastAck, to: nClosedEnd, pts: pts(96, 21, 96, 23),
				labels: []diagLabel{{x: 98, y: 23, texts: lbRecvAck}}},
			{from: nTimeWait, to: nClosedEnd, pts: pts(58, 21, 58, 24, 89, 24),
				labels: []diagLabel{{x: 60, y: 24, x2: 87, texts: lb2MSL}}},
		},
	}
}
