package ui

import (
	"slices"

	"socktop/collect"
	"socktop/filter"
)

// rowSig is what the order and selection of the rows depend on besides
// the sockets: the sort, the filter and the narrowing flags.
type rowSig struct {
	col    column
	desc   bool
	filter *filter.Filter
	narrow Narrow
}

func (m *model) rowSig() rowSig {
	return rowSig{col: m.table.sortCol, desc: m.table.sortDesc, filter: m.filter, narrow: m.narrow}
}

// rebuildPatched is rebuildRows for a table a patch built from old, the
// table the rows were last built from (its rows oldSocks, which the view
// has released by now, but nothing has written): origin[k] is the row of old that
// row k of the shown table was kept from, or -1 for a row the kernel
// answered for. The kept rows are in the order they were, so only the
// others (and the gone rows) are sorted, and merged in: at a million
// rows the sort was a third of a patched refresh (docs/performance.md).
// It reports false, having done nothing, when the rows cannot be carried
// over: they were built from another table, under another sort or
// filter, or a filter or the sort reads owners, which the patch may have
// looked up again for every row.
func (m *model) rebuildPatched(old *collect.Snapshot, oldSocks []collect.Socket, origin []int32) bool {
	cur := m.snap
	if old == nil || cur == nil || origin == nil || m.rowsOf != old || m.rowsSig != m.rowSig() ||
		len(origin) != len(cur.Sockets) || m.filter.ReadsOwners() || m.table.sortCol == colProcess {
		return false
	}
	to := slices.Grow(m.rowTo[:0], len(oldSocks))[:len(oldSocks)]
	for i := range to {
		to[i] = -1
	}
	for k, o := range origin {
		if o >= 0 {
			if int(o) >= len(to) {
				return false
			}
			to[o] = int32(k)
		}
	}
	m.rowTo = to
	marks := m.curMarks
	if len(marks) != len(cur.Sockets) {
		marks = nil
	}
	// The kept rows are moved to the front of the rows' own array, in
	// their order (a row is written no later than it is read).
	rows, nk := m.rows, 0
	for _, r := range rows {
		if r.idx < 0 {
			continue // gone: the current gone rows are merged in below
		}
		if int(r.idx) >= len(oldSocks) || &oldSocks[r.idx] != r.s {
			return false
		}
		k := to[r.idx]
		if k < 0 {
			continue // dropped, or asked for again: merged in below
		}
		nr := row{s: &cur.Sockets[k], key: r.key, idx: k}
		if marks != nil {
			nr.mark = rowMark(marks[k])
		}
		rows[nk] = nr
		nk++
	}
	add := m.rowAdd[:0]
	for k, o := range origin {
		if s := &cur.Sockets[k]; o < 0 && m.shows(s) {
			r := row{s: s, idx: int32(k)}
			if marks != nil {
				r.mark = rowMark(marks[k])
			}
			add = append(add, r)
		}
	}
	for i := range m.gone {
		if s := &m.gone[i].s; m.shows(s) {
			add = append(add, row{s: s, mark: markGone, idx: -1})
		}
	}
	col, desc := m.table.sortCol, m.table.sortDesc
	order := func(a, b row) int {
		if desc {
			return cmpBy(col, b.s, a.s)
		}
		return cmpBy(col, a.s, b.s)
	}
	slices.SortFunc(add, order)
	// Then to its back, and the two merged forward: each added row's
	// place among the kept ones is found by a galloping search from the
	// last one's, and the kept rows between go across in one copy. A comparison reads both
	// sockets, which lie anywhere in the table: a merge comparing at
	// every row was slower than the sort it replaced.
	na, oldLen := len(add), len(rows)
	out := slices.Grow(rows[:nk], na)[:nk+na]
	copy(out[na:], out[:nk])
	kept := out[na:]
	dst, from := 0, 0
	// before reports whether add row a goes before kept row k: the kept
	// rows that compare equal stay ahead, as a stable sort leaves them.
	before := func(a, k row) bool { return order(a, k) < 0 }
	for j := range add {
		at := gallop(kept, from, add[j], before)
		dst += copy(out[dst:], kept[from:at])
		out[dst] = add[j]
		dst++
		from = at
	}
	copy(out[dst:], kept[from:])
	if len(out) < oldLen {
		clear(rows[len(out):oldLen]) // out is rows' array: its tail would pin old rows
	}
	clear(add)
	m.rowAdd = add[:0]

	// What the header and the columns need is read in the table's own
	// order, as rebuildRows does: in the rows' order every socket would
	// be a cache miss.
	var counts [collect.NumStates]int
	need := colNeed{names: m.measureNames()}
	m.spaces.reset()
	for i := range cur.Sockets {
		s := &cur.Sockets[i]
		m.spaces.add(s.NetNS)
		if m.shows(s) {
			need.add(s)
			counts[s.State.Canonical()]++
		}
	}
	for i := range m.gone {
		if s := &m.gone[i].s; m.shows(s) {
			need.add(s)
		}
	}
	var full map[int32]bool
	for _, h := range m.listen.health {
		if h.Full() {
			if full == nil {
				full = map[int32]bool{}
			}
			full[int32(h.Index)] = true
		}
	}
	if full != nil {
		for i := range out {
			out[i].full = out[i].idx >= 0 && full[out[i].idx]
		}
	}
	m.rows = fitSlice(out)
	m.sorter.shrink(len(m.rows))
	m.finishRows(counts, need)
	m.rowsCarried++
	return true
}

// walkOrigin is a walk's table given origins as a patch's are, for
// rebuildPatched: each row the tracker paired with a row of prev (the
// shown table), marked the same, of the same socket (its cookie), keeps
// its place, when the sort reads only what the mark compares (the
// state, the queues) and the socket's identity, and no filter reads
// anything else. At a million rows the full sort after a walk was 0.2
// to 0.35 s (docs/performance.md). It returns nil when every row must
// be sorted again.
func (m *model) walkOrigin(cur, prev *collect.Snapshot, ch *collect.Changes) []int32 {
	if prev == nil || cur == nil || len(ch.Prev) != len(cur.Sockets) || len(ch.Marks) != len(cur.Sockets) ||
		m.filter != nil || !markOrdered(m.table.sortCol) {
		return nil
	}
	n := len(cur.Sockets)
	o := m.walkOrig
	if cap(o) < n || cap(o) > 4*n+4096 {
		o = make([]int32, n)
	}
	o = o[:n]
	for k, j := range ch.Prev {
		o[k] = -1
		if j >= 0 && int(j) < len(prev.Sockets) && ch.Marks[k] == collect.MarkSame {
			if c := cur.Sockets[k].Cookie; c != 0 && c == prev.Sockets[j].Cookie {
				o[k] = j
			}
		}
	}
	m.walkOrig = o
	return o
}

// markOrdered reports whether a sort by col orders two sockets of the
// same Key by what collect.MarkSame says is unchanged.
func markOrdered(col column) bool {
	switch col {
	case colProto, colState, colRecvQ, colSendQ, colLocal, colForeign:
		return true
	}
	return false
}

// gallop returns the first index at or after from of the kept rows that
// a goes before (len(kept) if none), probing from+1, +2, +4... and then
// bisecting the last step. The added rows come in order, so each place
// is near the last: about 2 log2 of the gap in comparisons, where a
// bisection of the rest costs log2 of all of them. A comparison reads a
// socket anywhere in the table, a cache miss, so their number is the
// cost.
func gallop(kept []row, from int, a row, before func(a, k row) bool) int {
	lo, step := from, 1 // every row before lo goes ahead of a
	hi := from
	for hi < len(kept) && !before(a, kept[hi]) {
		lo = hi + 1
		hi = from + step
		step *= 2
	}
	hi = min(hi, len(kept))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if before(a, kept[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
