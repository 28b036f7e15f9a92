package ui

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

// patchOf is what a patch of prev might build: rows dropped, rows the
// kernel answered for again in another state, new rows at the end, and
// every other row kept in prev's order; origin says which is which.
func patchOf(prev *collect.Snapshot, r *rand.Rand, next *uint64) (collect.Snapshot, []int32) {
	cur := *prev
	cur.Taken = prev.Taken.Add(time.Second)
	cur.Sockets = nil
	var origin []int32
	for i, s := range prev.Sockets {
		switch x := r.IntN(100); {
		case x < 4:
			continue // gone
		case x < 8 && s.Proto == collect.TCP && s.State == collect.StateEstablished:
			s.State, s.Owners, s.Inode = collect.StateFinWait2, nil, 0
			origin = append(origin, -1)
		default:
			origin = append(origin, int32(i))
		}
		cur.Sockets = append(cur.Sockets, s)
	}
	for range 1 + r.IntN(40) {
		*next++
		fam, lo := uint8(4), netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + *next%3)})
		if *next%2 == 0 {
			fam, lo = 6, netip.IPv6Loopback()
		}
		cur.Sockets = append(cur.Sockets, collect.Socket{Proto: collect.TCP, Family: fam, State: collect.StateEstablished,
			Local: netip.AddrPortFrom(lo, uint16(20000+*next%40000)), Remote: netip.AddrPortFrom(lo, 8000+uint16(*next%16)),
			Cookie: 1<<40 | *next, Inode: uint32(1<<30 + *next)})
		origin = append(origin, -1)
	}
	return cur, origin
}

// checkRebuilt holds the rows shown to the rows a full rebuild makes
// of the same table, row for row.
func checkRebuilt(t *testing.T, h *harness, what string) {
	t.Helper()
	got := shownRows(h.m)
	h.m.rebuildRows()
	want := shownRows(h.m)
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows carried over, %d rebuilt", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			for k := max(0, i-2); k < min(len(want), i+3); k++ {
				t.Logf("%d: got cookie %d mark %d idx %d, want cookie %d mark %d idx %d", k, got[k].cookie, got[k].mark, got[k].idx, want[k].cookie, want[k].mark, want[k].idx)
			}
			t.Fatalf("%s: row %d is %+v carried over, %+v rebuilt", what, i, got[i], want[i])
		}
	}
}

// runRowsCases sends six refreshes that next makes under each case, and
// holds each to whether its rows are carried over and to a full
// rebuild of the same table.
func runRowsCases(t *testing.T, cases []rowsCase, seed uint64, next func(h *harness, r *rand.Rand, n *uint64) snapMsg) {
	t.Helper()
	for _, c := range cases {
		h := keyedRowsHarness(t, c.filter, c.col, c.desc)
		r := rand.New(rand.NewPCG(uint64(c.col), seed))
		var n uint64
		for round := range 6 {
			msg := next(h, r, &n)
			carried := h.m.rowsCarried
			h.send(msg)
			what := fmt.Sprintf("%v desc=%v %q round %d", c.col, c.desc, c.filter, round)
			if got := h.m.rowsCarried == carried+1; got != c.carry {
				t.Fatalf("%s: rows carried over %v, want %v", what, got, c.carry)
			}
			if len(h.m.gone) == 0 && round > 0 {
				t.Fatalf("%s: no gone rows to merge", what)
			}
			checkRebuilt(t, h, what)
		}
	}
}

// rowsCase is a sort and filter the rows are rebuilt under, and
// whether a refresh's rows are carried over under them.
type rowsCase struct {
	col    column
	desc   bool
	filter string
	carry  bool
}

// keyedRowsHarness is a view of a synthetic table of one socket a key
// (the table repeats listeners, which the tracker's diff, by key,
// cannot tell apart), under filter and a sort, its rows built.
func keyedRowsHarness(t *testing.T, filter string, col column, desc bool) *harness {
	t.Helper()
	h := newHarness(t, Config{Filter: filter})
	h.send(windowSize(200, 40))
	base := *synth.Table(3000, 11)
	base.Source = "netlink"
	seen := map[collect.Key]bool{}
	var socks []collect.Socket
	for _, s := range base.Sockets {
		if !seen[s.Key()] {
			seen[s.Key()] = true
			s.Cookie = uint64(len(socks) + 1)
			socks = append(socks, s)
		}
	}
	base.Sockets = socks
	h.feed(base)
	h.m.table.sortCol, h.m.table.sortDesc = col, desc
	h.m.rebuildRows()
	return h
}

type shownRow struct {
	key    collect.Key
	cookie uint64
	mark   rowMark
	full   bool
	idx    int32
}

func shownRows(m *model) []shownRow {
	out := make([]shownRow, len(m.rows))
	for i, r := range m.rows {
		out[i] = shownRow{r.s.Key(), r.s.Cookie, r.mark, r.full, r.idx}
	}
	return out
}

// The rows a patch carries over (the kept ones in their order, the others
// sorted and merged in, gone rows among them) are the rows a full
// rebuild makes of the same table, row for row, with the same marks,
// under each sort both ways and with a filter; and a filter that reads
// owners, or a sort by process, rebuilds in full.
func TestPatchedRowsMatchAFullRebuild(t *testing.T) {
	cases := []rowsCase{
		{colLocal, false, "", true}, {colLocal, true, "", true}, {colState, false, "", true}, {colState, true, "sport >= :8004", true},
		{colForeign, false, "", true}, {colProto, true, "state established or state listening", true}, {colNetNS, false, "", true},
	}
	runRowsCases(t, cases, 7, func(h *harness, r *rand.Rand, next *uint64) snapMsg {
		prev := h.m.snap
		cur, origin := patchOf(prev, r, next)
		return snapMsg{snap: cur, patched: true, origin: origin, originOf: prev}
	})

	// Owners may have been looked up again for every row: a sort by
	// process, or a filter on one, rebuilds.
	for _, c := range []struct {
		col    column
		filter string
	}{{colProcess, ""}, {colLocal, "proc nginx or sport = :8001"}} {
		h := newHarness(t, Config{Filter: c.filter})
		base := *synth.Table(500, 3)
		base.Source = "netlink"
		h.feed(base)
		h.m.table.sortCol = c.col
		h.m.rebuildRows()
		prev := h.m.snap
		cur, origin := patchOf(prev, rand.New(rand.NewPCG(1, 2)), new(uint64))
		carried := h.m.rowsCarried
		h.send(snapMsg{snap: cur, patched: true, origin: origin, originOf: prev})
		if h.m.rowsCarried != carried {
			t.Errorf("sort %v, filter %q: the rows were carried over", c.col, c.filter)
		}
	}
}

// walkOf is what a walk after prev might list: patchOf's changes, and
// rows that are another socket of the same key (a new cookie) or moved
// queues, with new rows among the kept ones rather than at the end.
func walkOf(prev *collect.Snapshot, r *rand.Rand, next *uint64) collect.Snapshot {
	cur, _ := patchOf(prev, r, next)
	for i := range cur.Sockets {
		s := &cur.Sockets[i]
		switch x := r.IntN(100); {
		case x < 3:
			*next++
			s.Cookie = 1<<41 | *next // the key's socket was replaced
		case x < 6:
			s.RecvQ++
		}
	}
	for range 1 + r.IntN(20) {
		i, j := r.IntN(len(cur.Sockets)), len(cur.Sockets)-1-r.IntN(10)
		cur.Sockets[i], cur.Sockets[j] = cur.Sockets[j], cur.Sockets[i]
	}
	return cur
}

// A walk's rows are carried over by the tracker's pairing where the
// sort reads only what the mark compares: the rows a full rebuild makes
// of the same table, row for row, with the same marks, under each such
// sort both ways. A sort by timer or namespace, or a filter, rebuilds
// in full.
func TestWalkRowsMatchAFullRebuild(t *testing.T) {
	cases := []rowsCase{
		{colLocal, false, "", true}, {colLocal, true, "", true}, {colState, false, "", true}, {colState, true, "", true},
		{colForeign, false, "", true}, {colProto, true, "", true}, {colRecvQ, true, "", true}, {colSendQ, false, "", true},
		{colTimer, false, "", false}, {colNetNS, false, "", false}, {colLocal, false, "sport >= :8004", false},
	}
	runRowsCases(t, cases, 9, func(h *harness, r *rand.Rand, next *uint64) snapMsg {
		return snapMsg{snap: walkOf(h.m.snap, r, next)}
	})
}
