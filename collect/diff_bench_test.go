package collect_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

// perturbed returns prev one refresh later: 2% of the sockets changed
// state, 1% gone, 1% new, every timer a second closer, as on a busy proxy.
func perturbed(prev *collect.Snapshot, seed uint64) *collect.Snapshot {
	cur, _ := patchedOf(prev, seed)
	return cur
}

func BenchmarkDiff(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		prev := synth.Table(n, 1)
		cur := perturbed(prev, 2)
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			b.ReportAllocs()
			var ch collect.Changes
			for b.Loop() {
				ch = collect.Diff(prev, cur)
			}
			b.ReportMetric(float64(len(ch.Transitions)), "transitions")
		})
	}
	// The kernel's order with runs of rows gone: TIME_WAIT sockets of one
	// hash region expiring together leave gaps of tens of rows, which the
	// in-step walk has to cross.
	prev := synth.Table(100_000, 1)
	cur := gapped(perturbed(prev, 2), 4)
	b.Run("100k-gaps", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			collect.Diff(prev, cur)
		}
	})
	// The worst case: no order in common, every pair goes through the
	// hash table.
	cur = shuffled(perturbed(prev, 2), 3)
	b.Run("100k-shuffled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			collect.Diff(prev, cur)
		}
	})
}

// gapped drops 40 runs of 10 to 90 consecutive rows from s, as an expiry
// of TIME_WAIT sockets in one region of the kernel's hash table does, and
// inserts 40 runs of 5 to 40 new rows, as the TIME_WAIT sockets of
// connections closed together do.
func gapped(s *collect.Snapshot, seed uint64) *collect.Snapshot {
	out := *s
	r := rand.New(rand.NewPCG(seed, 13))
	drop := make([]bool, len(s.Sockets))
	for range 40 {
		at, n := r.IntN(len(drop)), 10+r.IntN(81)
		for j := at; j < at+n && j < len(drop); j++ {
			drop[j] = true
		}
	}
	add := map[int]int{}
	for range 40 {
		add[r.IntN(len(drop))] = 5 + r.IntN(36)
	}
	out.Sockets = nil
	fresh := 0
	for i := range s.Sockets {
		for range add[i] {
			fresh++
			out.Sockets = append(out.Sockets, collect.Socket{
				Proto: collect.TCP, Family: 4, State: collect.StateTimeWait,
				Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 10, byte(fresh >> 8), byte(fresh)}), 8000),
				Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(40000+fresh)),
			})
		}
		if !drop[i] {
			out.Sockets = append(out.Sockets, s.Sockets[i])
		}
	}
	return &out
}

func shuffled(s *collect.Snapshot, seed uint64) *collect.Snapshot {
	out := *s
	out.Sockets = slices.Clone(s.Sockets)
	r := rand.New(rand.NewPCG(seed, 11))
	r.Shuffle(len(out.Sockets), func(i, j int) { out.Sockets[i], out.Sockets[j] = out.Sockets[j], out.Sockets[i] })
	return &out
}

// TestDiffOrderIndependent checks that the in-step fast path and the hash
// table agree: a shuffled cur gives every socket the same mark, and the
// same gone sockets and transitions.
func TestDiffOrderIndependent(t *testing.T) {
	prev := synth.Table(20_000, 4)
	cur := perturbed(prev, 5)
	mix := shuffled(cur, 6)
	a, b := collect.Diff(prev, cur), collect.Diff(prev, mix)
	// The synthetic listeners share a few Keys; which duplicate pairs with
	// which depends on order, so only unique Keys are compared.
	count := map[collect.Key]int{}
	for i := range cur.Sockets {
		count[cur.Sockets[i].Key()]++
	}
	marks := make(map[collect.Key]collect.Mark, len(cur.Sockets))
	for i := range cur.Sockets {
		marks[cur.Sockets[i].Key()] = a.Marks[i]
	}
	if len(marks) < len(cur.Sockets)-16 {
		t.Fatalf("synthetic keys are not unique: %d keys for %d sockets", len(marks), len(cur.Sockets))
	}
	for i := range mix.Sockets {
		k := mix.Sockets[i].Key()
		if m := marks[k]; count[k] == 1 && m != b.Marks[i] {
			t.Errorf("%v: %v in order, %v shuffled", mix.Sockets[i].Key(), m, b.Marks[i])
		}
	}
	type tr struct {
		k        collect.Key
		from, to collect.State
	}
	set := func(ch collect.Changes) map[tr]bool {
		m := map[tr]bool{}
		for _, x := range ch.Transitions {
			m[tr{x.Key, x.From, x.To}] = true
		}
		return m
	}
	if sa, sb := set(a), set(b); len(sa) != len(sb) || len(sa) != len(a.Transitions) {
		t.Errorf("%d transitions in order, %d shuffled", len(sa), len(sb))
	} else {
		for k := range sa {
			if !sb[k] {
				t.Errorf("transition %v only in order", k)
			}
		}
	}
	if len(a.Gone) != len(b.Gone) || len(a.Gone) == 0 {
		t.Errorf("%d gone in order, %d shuffled", len(a.Gone), len(b.Gone))
	}
}

// TestPerturbedDiff checks the benchmark's input does what it claims, so
// the figures measure a realistic refresh and not an identical table.
func TestPerturbedDiff(t *testing.T) {
	prev := synth.Table(10_000, 1)
	cur := perturbed(prev, 2)
	ch := collect.Diff(prev, cur)
	var nw, changed int
	for _, m := range ch.Marks {
		switch m {
		case collect.MarkNew:
			nw++
		case collect.MarkChanged:
			changed++
		}
	}
	if nw != 101 || changed < 100 || changed > 400 || len(ch.Gone) < 50 || len(ch.Gone) > 200 {
		t.Errorf("perturbed 10k: %d new, %d changed, %d gone; want 101 new, about 200 changed and 100 gone", nw, changed, len(ch.Gone))
	}
	if want := nw + len(ch.Gone); len(ch.Transitions) < want+changed/2 {
		t.Errorf("%d transitions for %d new, %d gone, %d changed", len(ch.Transitions), nw, len(ch.Gone), changed)
	}
}

// patchedOf is perturbed with the origins a patch would give it (a
// patch keeps prev's order, as perturbed does): for every row kept
// unchanged its index in prev, for the others -1, and for 5% of the rows
// -1 too, though unchanged: rows the patch asked for again (a TIME_WAIT
// due) that the kernel answered for as they were.
func patchedOf(prev *collect.Snapshot, seed uint64) (*collect.Snapshot, []int32) {
	r := rand.New(rand.NewPCG(seed, 7))
	n := len(prev.Sockets)
	cur := &collect.Snapshot{Taken: prev.Taken.Add(time.Second), Source: prev.Source}
	cur.Sockets = make([]collect.Socket, 0, n+n/100+1)
	origin := make([]int32, 0, n+n/100+1)
	for j, s := range prev.Sockets {
		o := int32(j)
		switch x := r.IntN(100); {
		case x == 0:
			continue
		case x < 3:
			o = -1
			if s.State == collect.StateEstablished {
				s.State = collect.StateFinWait2
			} else {
				s.State = collect.StateEstablished
			}
		case x < 8:
			o = -1 // asked for again and found as it was: a TIME_WAIT due
		}
		s.TimerLeft -= time.Second
		cur.Sockets = append(cur.Sockets, s)
		origin = append(origin, o)
	}
	for i := 0; i <= n/100; i++ {
		cur.Sockets = append(cur.Sockets, collect.Socket{
			Proto: collect.TCP, Family: 4, State: collect.StateSynSent,
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 9, byte(i >> 8), byte(i)}), uint16(30000+i%1000)),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 8000),
		})
		origin = append(origin, -1)
	}
	return cur, origin
}

// BenchmarkDiffFrom is a patched table's diff, with and without the
// patch's origins: Diff compares every row, DiffFrom only those the
// patch did not carry over.
func BenchmarkDiffFrom(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		prev := synth.Table(n, 1)
		cur, origin := patchedOf(prev, 2)
		b.Run(fmt.Sprintf("Diff/%dk", n/1000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				collect.Diff(prev, cur)
			}
		})
		b.Run(fmt.Sprintf("DiffFrom/%dk", n/1000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				collect.DiffFrom(prev, cur, origin)
			}
		})
	}
}
