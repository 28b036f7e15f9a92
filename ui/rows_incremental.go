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
	// Then to its back, and merged forward with the others: the merge
	// writes at i+j, never past the kept row it reads next (na+i).
	na, oldLen := len(add), len(rows)
	out := slices.Grow(rows[:nk], na)[:nk+na]
	copy(out[na:], out[:nk])
	i, j := 0, 0
	for p := range out {
		if j < na && (i == nk || order(add[j], out[na+i]) < 0) {
			out[p] = add[j]
			j++
		} else {
			out[p] = out[na+i]
			i++
		}
	}
	if len(out) < oldLen {
		clear(rows[len(out):oldLen]) // out is rows' array: its tail would pin old rows
	}
	clear(add)
	m.rowAdd = add[:0]

	var counts [collect.NumStates]int
	need := colNeed{names: m.measureNames()}
	m.spaces.reset()
	for i := range cur.Sockets {
		m.spaces.add(cur.Sockets[i].NetNS)
	}
	health := m.listen.health
	for i := range out {
		r := &out[i]
		need.add(r.s)
		if r.idx < 0 {
			continue
		}
		counts[r.s.State.Canonical()]++
		if r.s.State == collect.StateListen {
			if h, ok := slices.BinarySearchFunc(health, int(r.idx), func(h collect.ListenerHealth, i int) int { return h.Index - i }); ok {
				r.full = health[h].Full()
			}
		}
	}
	m.rows = fitSlice(out)
	m.finishRows(counts, need)
	m.rowsCarried++
	return true
}
