package collect

import (
	"net/netip"
	"testing"
)

// manySockets returns n distinct established TCP sockets, from port base.
func manySockets(n int, base uint16) []Socket {
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	out := make([]Socket, n)
	for i := range out {
		out[i] = Socket{Proto: TCP, Family: 4, State: StateEstablished,
			Local:  netip.AddrPortFrom(lo, 8000),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 16), 2}), base+uint16(i))}
	}
	return out
}

// TestDifferGivesBackBurstScratch: once a diff of 20000 rows is followed by
// one of 10, the scratch space sized for the burst is dropped rather than
// kept in the pool for good; a diff of the same size keeps it.
func TestDifferGivesBackBurstScratch(t *testing.T) {
	t.Parallel()
	const n = 20000
	d := &differ{seed: 1}
	// Two disjoint tables: nothing pairs in step, so the hash index is built.
	d.match(manySockets(n, 1), manySockets(n, 30000), make([]Mark, n))
	if cap(d.slots) < 2*n || cap(d.used) < n {
		t.Fatalf("the burst did not size the scratch (slots %d, used %d): the test proves nothing", cap(d.slots), cap(d.used))
	}
	d.fit(n)
	if cap(d.used) < n {
		t.Fatalf("scratch dropped after a diff of its own size (used %d)", cap(d.used))
	}
	d.match(manySockets(10, 1), manySockets(10, 1), make([]Mark, 10))
	d.fit(10)
	for name, c := range map[string]int{"slots": cap(d.slots), "next": cap(d.next), "tail": cap(d.tail),
		"used": cap(d.used), "done": cap(d.done), "pair": cap(d.pair), "chainOf": cap(d.chainOf)} {
		if c > differFloor {
			t.Errorf("after a diff of 10 rows, %s keeps capacity %d", name, c)
		}
	}
	if d.seed != 1 {
		t.Errorf("fit changed the hash seed to %d", d.seed)
	}
}

// TestDifferIndexFollowsItsUse: the hash index is sized by the rows the
// in-step walk leaves, not by the table, so after one diff that indexed a
// whole table (nothing in common) a diff of the same size that leaves a
// few rows to it gives the large index back.
func TestDifferIndexFollowsItsUse(t *testing.T) {
	t.Parallel()
	const n = 20000
	d := &differ{seed: 1}
	d.match(manySockets(n, 1), manySockets(n, 30000), make([]Mark, n))
	if cap(d.slots) < 2*n {
		t.Fatalf("the disjoint diff did not index the table (slots %d): the test proves nothing", cap(d.slots))
	}
	prev := manySockets(n, 1)
	cur := manySockets(n, 1)
	for i := 0; i < n; i += 1000 {
		cur[i].State = StateCloseWait
	}
	marks := make([]Mark, n)
	pair := d.match(prev, cur, marks)
	for i := range pair {
		if pair[i] != int32(i) {
			t.Fatalf("row %d paired with %d", i, pair[i])
		}
	}
	if c := cap(d.slots); c > differFloor {
		t.Errorf("after a diff that left %d rows to the index, it keeps %d slots", n/1000, c)
	}
}
