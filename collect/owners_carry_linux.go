package collect

// The owners of a snapshot are nearly all the owners of the one before:
// the kernel dumps in its hash tables' order, which is stable between two
// walks, and the cache's map changes only when a scan, a catch-up or a
// prune writes it. So resolve remembers, in dump order, the inodes it
// answered and their owners, and answers the next snapshot by walking
// that list in step with it, reading the map only for an inode not found
// where the walk is, or after the map was written (ver moved). The list is
// two flat arrays, read in order, where a map lookup per socket costs a
// cache miss or two.

// carry is the last answer of resolve.
type carry struct {
	ver    uint64    // ownerCache.ver the answer was read at
	inodes []uint32  // the inodes answered from the map, in dump order
	owners [][]Owner // their owners, parallel to inodes
}

// The walk looks carryWindow entries ahead of its position, and on a miss
// up to carryAhead further (a run of sockets closed together), with a
// budget of one look per remembered entry, so a snapshot with nothing in
// common with the last costs at most twice the walk.
const (
	carryWindow = 4
	carryAhead  = 128
)

// lookupAll sets Owners on every socket of socks with an inode, from the
// carried answer where it still holds and from the map otherwise, and
// remembers the new answer. It returns how many of the inodes the map
// knows (looked for, held or not) and whether one is unknown to it.
func (c *ownerCache) lookupAll(socks []Socket) (live int, missing bool) {
	prev := &c.last
	valid := prev.ver == c.ver
	n := 0
	for i := range socks {
		if socks[i].Inode != 0 {
			n++
		}
	}
	next := carry{ver: c.ver, inodes: sized(c.spare.inodes, n), owners: sized(c.spare.owners, n)}
	hint, budget := 0, len(prev.inodes)
	for i := range socks {
		s := &socks[i]
		in := s.Inode
		if in == 0 {
			continue
		}
		found := false
		if valid {
			end := min(hint+carryWindow, len(prev.inodes))
			far := end
			if budget > 0 {
				far = min(end+min(carryAhead, budget), len(prev.inodes))
			}
			for j := hint; j < far; j++ {
				if prev.inodes[j] == in {
					s.Owners, found, hint = prev.owners[j], true, j+1
					break
				}
			}
			if !found {
				budget -= far - end
			}
		}
		if !found {
			o, ok := c.byInode[in]
			s.Owners = o
			if !ok {
				missing = true
				continue
			}
		}
		live++
		next.inodes = append(next.inodes, in)
		next.owners = append(next.owners, s.Owners)
	}
	// The old answer's arrays are the next one's scratch; its owner
	// slices must not keep an older map's backing arrays alive.
	clear(prev.owners)
	c.spare = carry{inodes: prev.inodes[:0], owners: prev.owners[:0]}
	c.last = next
	return live, missing
}

// sized is reuse with room for n: the answer is appended to, and growing
// it by appends would copy it several times over.
func sized[S ~[]E, E any](s S, n int) S {
	if s = reuse(s, n); cap(s) < n {
		return make(S, 0, n)
	}
	return s
}
