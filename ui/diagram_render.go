package ui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"socktop/collect"
)

// Drawing a diagram's skeleton with the paths lit: each cell's glyph
// family and style come from what the paths took, and a line is written
// as runs of one style each.

// Style slots of the cells.
const (
	slotPlain = iota
	slotDim
	slotPath0
	slotPath1
	slotBoth
	slotCur0
	slotCur1
	numSlots
)

func slots(st *Styles) [numSlots]lipgloss.Style {
	return [numSlots]lipgloss.Style{
		slotPlain: lipgloss.NewStyle(), slotDim: st.Dim,
		slotPath0: st.DiagPath[0], slotPath1: st.DiagPath[1], slotBoth: st.DiagBoth,
		slotCur0: st.DiagCurrent[0], slotCur1: st.DiagCurrent[1],
	}
}

// litSlot is the style of something the paths in bits lit.
func litSlot(bits uint8, idle int) int {
	switch bits {
	case 1:
		return slotPath0
	case 2:
		return slotPath1
	case 3:
		return slotBoth
	}
	return idle
}

// Line glyphs by family (thin, the first path's heavy, the second's
// double) and connections.
var lineGlyphs = [3]map[uint8]rune{
	{connUp | connDown: '│', connLeft | connRight: '─', connDown | connRight: '┌', connDown | connLeft: '┐', connUp | connRight: '└', connUp | connLeft: '┘', 0xf: '┼'},
	{connUp | connDown: '┃', connLeft | connRight: '━', connDown | connRight: '┏', connDown | connLeft: '┓', connUp | connRight: '┗', connUp | connLeft: '┛', 0xf: '╋'},
	{connUp | connDown: '║', connLeft | connRight: '═', connDown | connRight: '╔', connDown | connLeft: '╗', connUp | connRight: '╚', connUp | connLeft: '╝', 0xf: '╬'},
}

func family(bits uint8) int {
	if bits == 2 {
		return 2
	}
	return min(int(bits), 1)
}

// styledRun is a stretch of one line drawn in one style.
type styledRun struct {
	slot int
	text strings.Builder
}

// lineBuilder gathers a line as runs of one style each.
type lineBuilder struct {
	runs []styledRun
}

func (b *lineBuilder) add(slot int, s string) {
	if n := len(b.runs); n == 0 || b.runs[n-1].slot != slot {
		b.runs = append(b.runs, styledRun{slot: slot})
	}
	b.runs[len(b.runs)-1].text.WriteString(s)
}

func (b *lineBuilder) String(st *Styles, sl *[numSlots]lipgloss.Style) string {
	var out strings.Builder
	for i := range b.runs {
		r := &b.runs[i]
		if !st.Color || r.slot == slotPlain {
			out.WriteString(r.text.String())
			continue
		}
		out.WriteString(sl[r.slot].Render(r.text.String()))
	}
	return out.String()
}

// render draws the grid's lines with the paths lit.
func (g *diagGrid) render(st *Styles, lit *diagLight, counts *[collect.NumStates]int) []string {
	sl := slots(st)
	out := make([]string, len(g.cells))
	for y, row := range g.cells {
		var b lineBuilder
		for x := 0; x < len(row); x++ {
			c := &row[x]
			switch c.kind {
			case cellBlank:
				b.add(slotPlain, " ")
			case cellBox:
				b.add(slotDim, string(c.r))
			case cellArrow:
				b.add(litSlot(lit.arcs[c.arc], slotDim), string(c.r))
			case cellLabel:
				b.add(litSlot(lit.arcs[c.arc], slotDim), string(c.r))
			case cellLine:
				r, slot := g.lineGlyph(c, lit)
				b.add(slot, string(r))
			case cellNode:
				n := &g.lay.nodes[c.node]
				g.nodeRuns(&b, int(c.node), lit, counts)
				x += n.width() - 1
			}
		}
		out[y] = strings.TrimRight(b.String(st, &sl), " ")
	}
	return out
}

// lineGlyph picks a line cell's glyph: a lit arc crossing an unlit one
// (or a frame) passes over it unbroken.
func (g *diagGrid) lineGlyph(c *diagCell, lit *diagLight) (rune, int) {
	h := lit.arcs[c.arc]
	switch {
	case c.cross >= 0:
		v := lit.arcs[c.cross]
		switch {
		case h != 0 && v != 0:
			return lineGlyphs[family(h)][0xf], litSlot(h|v, slotDim)
		case h != 0:
			return lineGlyphs[family(h)][connLeft|connRight], litSlot(h, slotDim)
		case v != 0:
			return lineGlyphs[family(v)][connUp|connDown], litSlot(v, slotDim)
		}
		return '┼', slotDim
	case c.boxCross && h == 0:
		return '┼', slotDim
	}
	return lineGlyphs[family(h)][c.conn], litSlot(h, slotDim)
}

// Brackets of a box by the paths that visited it.
var brackets = [4][2]string{{"[", "]"}, {"┃", "┃"}, {"║", "║"}, {"┃", "║"}}

// nodeRuns draws box n: brackets that say which paths visited it, its
// name, "*" when a path is in it now, and the table's count ("?" when
// counts is nil).
func (g *diagGrid) nodeRuns(b *lineBuilder, n int, lit *diagLight, counts *[collect.NumStates]int) {
	node := &g.lay.nodes[n]
	vis, cur := lit.visited[n], lit.current[n]
	slot := litSlot(vis, slotPlain)
	switch cur {
	case 1:
		slot = slotCur0
	case 2:
		slot = slotCur1
	case 3:
		slot = slotBoth
	}
	mark := " "
	if cur != 0 {
		mark = "*"
	}
	count, countSlot := "", slot
	switch {
	case node.end:
	case counts == nil:
		count = "?"
	default:
		c := counts[node.state]
		count = shortCount(c)
		if vis == 0 && c == 0 {
			countSlot = slotDim
		}
	}
	br := brackets[vis&3]
	b.add(slot, br[0]+node.state.String()+mark)
	b.add(countSlot, strings.Repeat(" ", 4-len(count))+count)
	b.add(slot, br[1])
}

// nodeText is box n on its own, for the state list.
func (g *diagGrid) nodeText(st *Styles, n int, lit *diagLight, counts *[collect.NumStates]int) string {
	var b lineBuilder
	g.nodeRuns(&b, n, lit, counts)
	sl := slots(st)
	pad := 18 - g.lay.nodes[n].width()
	return b.String(st, &sl) + strings.Repeat(" ", max(pad, 0))
}

// shortCount fits a count in four cells: 9999, 12k, 340k, 1M.
func shortCount(n int) string {
	switch {
	case n < 10000:
		return strconv.Itoa(n)
	case n < 1000000:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(min(n/1000000, 999)) + "M"
}
