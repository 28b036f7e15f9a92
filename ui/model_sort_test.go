package ui

// Tests of the root model: sorting: the s and S keys and the packed sort keys against the plain comparison.

import (
	"net/netip"
	"strings"
	"testing"

	"socktop/collect"
)

func TestSortKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(fixture())
	h.key("s") // Local -> Foreign
	if h.m.table.sortCol != colForeign {
		t.Fatalf("sort column %v, want Foreign", h.m.table.sortCol)
	}
	for range 4 { // Process, Timer, Proto, State
		h.key("s")
	}
	if h.m.table.sortCol != colState {
		t.Fatalf("sort column %v, want State", h.m.table.sortCol)
	}
	check := func(desc bool) {
		for i := 1; i < len(h.m.rows); i++ {
			c := cmpBy(colState, h.m.rows[i-1].s, h.m.rows[i].s)
			if (!desc && c > 0) || (desc && c < 0) || c == 0 {
				t.Fatalf("rows %d,%d out of order (desc=%v): %v %v", i-1, i, desc, h.m.rows[i-1].s.Key(), h.m.rows[i].s.Key())
			}
		}
	}
	check(false)
	if !strings.Contains(h.screen(), "State▲") {
		t.Fatalf("header row does not show the sort column:\n%s", h.screen())
	}
	h.key("S")
	check(true)
	if !strings.Contains(h.screen(), "State▼") {
		t.Fatalf("header row does not show the reversed sort:\n%s", h.screen())
	}
}

// The packed sort keys must order rows exactly as the plain comparison
// does, for every column, both ways, IPv4 and IPv6 mixed.
func TestSortKeysAgreeWithCompare(t *testing.T) {
	snap := fixture()
	extra := fixtureNext()
	socks := append(snap.Sockets, extra.Sockets...)
	for col := range numColumns {
		for _, desc := range []bool{false, true} {
			rows := sortedRows(socks, col, desc)
			for i := 1; i < len(rows); i++ {
				c := cmpBy(col, rows[i-1].s, rows[i].s)
				if desc {
					c = -c
				}
				if c > 0 {
					t.Fatalf("%v desc=%v: rows %d and %d out of order: %+v / %+v", col, desc, i-1, i, *rows[i-1].s, *rows[i].s)
				}
			}
		}
	}
}

// A table with more distinct addresses than the packed key can rank is
// sorted by the plain comparison, in the same order.
func TestSortManyAddresses(t *testing.T) {
	socks := make([]collect.Socket, maxRanks+100)
	for i := range socks {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		socks[len(socks)-1-i] = collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished,
			Local: netip.AddrPortFrom(a, 80), Remote: netip.AddrPortFrom(lo4, uint16(i))}
	}
	rows := sortedRows(socks, colLocal, false)
	for i := 1; i < len(rows); i++ {
		if cmpBy(colLocal, rows[i-1].s, rows[i].s) >= 0 {
			t.Fatalf("rows %d and %d out of order", i-1, i)
		}
	}
}

// sortedRows sorts rows over socks by col with a fresh sorter.
func sortedRows(socks []collect.Socket, col column, desc bool) []row {
	rows := make([]row, len(socks))
	for i := range socks {
		rows[i] = row{s: &socks[i]}
	}
	var s sorter
	return s.sortRows(rows, col, desc)
}
