package ui

import (
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
	cases := []struct {
		col    column
		desc   bool
		filter string
	}{
		{colLocal, false, ""}, {colLocal, true, ""}, {colState, false, ""}, {colState, true, "sport >= :8004"},
		{colForeign, false, ""}, {colProto, true, "state established or state listening"}, {colNetNS, false, ""},
	}
	for _, c := range cases {
		h := newHarness(t, Config{Filter: c.filter})
		h.send(windowSize(200, 40))
		base := *synth.Table(3000, 11)
		base.Source = "netlink"
		// One socket a key: the synthetic table repeats listeners, which
		// the tracker's diff (by key) cannot tell apart.
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
		h.m.table.sortCol, h.m.table.sortDesc = c.col, c.desc
		h.m.rebuildRows()
		r := rand.New(rand.NewPCG(uint64(c.col), 7))
		var next uint64
		for round := range 6 {
			prev := h.m.snap
			cur, origin := patchOf(prev, r, &next)
			carried := h.m.rowsCarried
			h.send(snapMsg{snap: cur, patched: true, origin: origin, originOf: prev})
			if h.m.rowsCarried != carried+1 {
				t.Fatalf("%v desc=%v %q round %d: the patch's rows were rebuilt in full", c.col, c.desc, c.filter, round)
			}
			got := shownRows(h.m)
			if len(h.m.gone) == 0 && round > 0 {
				t.Fatalf("round %d: no gone rows to merge", round)
			}
			h.m.rebuildRows()
			want := shownRows(h.m)
			if len(got) != len(want) {
				t.Fatalf("%v desc=%v %q round %d: %d rows carried over, %d rebuilt", c.col, c.desc, c.filter, round, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					for k := max(0, i-2); k < min(len(want), i+3); k++ {
						t.Logf("%d: got cookie %d mark %d idx %d, want cookie %d mark %d idx %d", k, got[k].cookie, got[k].mark, got[k].idx, want[k].cookie, want[k].mark, want[k].idx)
					}
					t.Fatalf("%v desc=%v %q round %d: row %d is %+v carried over, %+v rebuilt", c.col, c.desc, c.filter, round, i, got[i], want[i])
				}
			}
		}
	}

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
	cases := []struct {
		col    column
		desc   bool
		filter string
		carry  bool
	}{
		{colLocal, false, "", true}, {colLocal, true, "", true}, {colState, false, "", true}, {colState, true, "", true},
		{colForeign, false, "", true}, {colProto, true, "", true}, {colRecvQ, true, "", true}, {colSendQ, false, "", true},
		{colTimer, false, "", false}, {colNetNS, false, "", false}, {colLocal, false, "sport >= :8004", false},
	}
	for _, c := range cases {
		h := newHarness(t, Config{Filter: c.filter})
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
		h.m.table.sortCol, h.m.table.sortDesc = c.col, c.desc
		h.m.rebuildRows()
		r := rand.New(rand.NewPCG(uint64(c.col), 9))
		var next uint64
		for round := range 6 {
			cur := walkOf(h.m.snap, r, &next)
			carried := h.m.rowsCarried
			h.send(snapMsg{snap: cur})
			if got := h.m.rowsCarried == carried+1; got != c.carry {
				t.Fatalf("%v desc=%v %q round %d: rows carried over %v, want %v", c.col, c.desc, c.filter, round, got, c.carry)
			}
			got := shownRows(h.m)
			h.m.rebuildRows()
			want := shownRows(h.m)
			if len(got) != len(want) {
				t.Fatalf("%v desc=%v round %d: %d rows carried over, %d rebuilt", c.col, c.desc, round, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%v desc=%v round %d: row %d is %+v carried over, %+v rebuilt", c.col, c.desc, round, i, got[i], want[i])
				}
			}
		}
	}
}
