//go:build linux

package collect

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestOwnerIndexAnswersAsAMap: over inodes dense, sparse and spread over
// the whole 32-bit range, with repeats, unheld inodes among the held and
// apart from them, the index answers every inode as a map built from the
// same pairs would, before and after writes beside its arrays.
func TestOwnerIndexAnswersAsAMap(t *testing.T) {
	spreads := map[string]func(r *rand.Rand) uint32{
		"dense":  func(r *rand.Rand) uint32 { return 1_000_000 + r.Uint32N(3000) },
		"sparse": func(r *rand.Rand) uint32 { return 1_000_000 + r.Uint32N(1<<24) },
		"wide":   func(r *rand.Rand) uint32 { return r.Uint32() },
		"edges": func(r *rand.Rand) uint32 {
			return []uint32{0, 1, 2, 1<<32 - 1, 1<<32 - 2, 1 << 31}[r.IntN(6)] + r.Uint32N(2)
		},
	}
	for name, spread := range spreads {
		for _, n := range []int{0, 1, dirMin - 1, dirMin, 5000} {
			t.Run(name+"/"+strconv.Itoa(n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 7))
				var pairs []inodePID
				for range n {
					in := spread(r)
					for k := range 1 + r.IntN(3) {
						pairs = append(pairs, inodePID{inode: in, pid: int32(r.IntN(4) + k)})
					}
				}
				slices.SortFunc(pairs, func(a, b inodePID) int {
					if a.inode != b.inode {
						return compareU32(a.inode, b.inode)
					}
					return int(a.pid - b.pid)
				})
				pairs = slices.Compact(pairs)
				var unheld []uint32
				for i := range pairs {
					if r.IntN(4) == 0 {
						unheld = append(unheld, pairs[i].inode)
					}
				}
				for range n / 2 {
					unheld = append(unheld, spread(r))
				}
				slices.Sort(unheld)
				unheld = slices.Compact(unheld)

				want := map[uint32][]Owner{}
				for _, in := range unheld {
					want[in] = nil
				}
				for _, p := range pairs {
					want[p.inode] = append(want[p.inode], Owner{PID: int(p.pid), Name: "p" + strconv.Itoa(int(p.pid))})
				}
				var x ownerIndex
				x.build(pairs, unheld, func(pid int32) string { return "p" + strconv.Itoa(int(pid)) })
				check := func(when string) {
					t.Helper()
					if x.size() != len(want) {
						t.Fatalf("%s: size %d, want %d", when, x.size(), len(want))
					}
					for in, w := range want {
						got, ok := x.get(in)
						if !ok || !slices.Equal(got, w) {
							t.Fatalf("%s: inode %d: %v (%v), want %v", when, in, got, ok, w)
						}
						if cap(got) != len(got) {
							t.Fatalf("%s: inode %d: owners with room to grow into the next one's", when, in)
						}
					}
					for range 2000 {
						in := spread(r)
						if _, known := want[in]; known {
							continue
						}
						if got, ok := x.get(in); ok {
							t.Fatalf("%s: inode %d never looked for: %v", when, in, got)
						}
					}
					seen := map[uint32]bool{}
					x.each(func(in uint32, o []Owner) bool {
						if seen[in] || !slices.Equal(o, want[in]) {
							t.Fatalf("%s: each gave inode %d (again: %v) with %v, want %v", when, in, seen[in], o, want[in])
						}
						seen[in] = true
						return true
					})
					if len(seen) != len(want) {
						t.Fatalf("%s: each gave %d inodes, want %d", when, len(seen), len(want))
					}
				}
				check("built")
				if x.dir == nil && x.size() >= dirMin {
					t.Errorf("%d inodes and no directory", x.size())
				}
				if len(x.dir) > x.size()/2+2 {
					t.Errorf("a directory of %d buckets for %d inodes", len(x.dir), x.size())
				}

				// A catch-up's writes: over a known inode, and a new one.
				for in := range want {
					if r.IntN(3) == 0 {
						o := []Owner{{PID: 99, Name: "fork"}}
						x.set(in, o)
						want[in] = o
					}
				}
				for range 20 {
					in := spread(r)
					o := []Owner{{PID: 98, Name: "new"}}
					x.set(in, o)
					want[in] = o
				}
				check("written")

				// Made anew from what it answers.
				keys := make([]uint32, 0, len(want))
				for in := range want {
					keys = append(keys, in)
				}
				slices.Sort(keys)
				owners := make([][]Owner, len(keys))
				for i, in := range keys {
					owners[i] = want[in]
				}
				x.fromOwners(keys, owners)
				check("made anew")
			})
		}
	}
}

func compareU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BenchmarkOwnerIndexGet and BenchmarkOwnerMapGet read the owners of a
// million socket inodes spread as a host's are, in a random order (a
// patch's fresh rows, markOwners), from the index and from the map it
// replaced.
func BenchmarkOwnerIndexGet(b *testing.B) {
	pairs, probe := benchOwnerPairs()
	var x ownerIndex
	x.build(pairs, nil, func(int32) string { return "p" })
	b.ResetTimer()
	for i := range b.N {
		if _, ok := x.get(probe[i%len(probe)]); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkOwnerMapGet(b *testing.B) {
	pairs, probe := benchOwnerPairs()
	m := make(map[uint32][]Owner, len(pairs))
	backing := make([]Owner, len(pairs))
	for i, p := range pairs {
		m[p.inode] = backing[i : i+1 : i+1]
	}
	b.ResetTimer()
	for i := range b.N {
		if _, ok := m[probe[i%len(probe)]]; !ok {
			b.Fatal("missing")
		}
	}
}

func benchOwnerPairs() ([]inodePID, []uint32) {
	const n = 1 << 20
	r := rand.New(rand.NewPCG(1, 2))
	pairs := make([]inodePID, 0, n)
	in := uint32(40_000_000)
	for range n {
		in += 1 + r.Uint32N(3) // other files take inodes from the same counter
		pairs = append(pairs, inodePID{inode: in, pid: int32(r.IntN(50))})
	}
	probe := make([]uint32, n)
	for i := range probe {
		probe[i] = pairs[r.IntN(n)].inode
	}
	return pairs, probe
}
