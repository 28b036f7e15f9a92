package ui

import (
	"math/rand/v2"
	"sort"
	"testing"

	"socktop/collect"
)

// gallop finds the place a bisection would, from any start at or before
// it, with runs of equal rows among the kept ones.
func TestGallopFindsTheBisectionsPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		size := r.IntN(200)
		socks := make([]collect.Socket, size+1)
		kept := make([]row, size)
		for i := range socks {
			socks[i].RecvQ = uint32(r.IntN(50))
		}
		sort.Slice(socks[:size], func(i, j int) bool { return socks[i].RecvQ < socks[j].RecvQ })
		for i := range kept {
			kept[i] = row{s: &socks[i]}
		}
		a := row{s: &socks[size]}
		before := func(a, k row) bool { return a.s.RecvQ < k.s.RecvQ }
		want := sort.Search(size, func(i int) bool { return before(a, kept[i]) })
		from := 0
		if want > 0 {
			from = r.IntN(want + 1)
		}
		if got := gallop(kept, from, a, before); got != want {
			t.Fatalf("size %d, from %d, key %d: gallop says %d, a bisection %d", size, from, a.s.RecvQ, got, want)
		}
	}
}
