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

// carry is the last answer of resolve: the inodes the map knew, in dump
// order, and their owners.
type carry struct {
	ver    uint64    // ownerCache.ver the answer was read at
	inodes []uint32  // the inodes answered from the map, in dump order
	owners [][]Owner // their owners, parallel to inodes
}

// The walk looks carryWindow entries ahead of its position, and past a
// miss up to carryAhead further (a run of sockets closed together), with
// a budget of one look per remembered entry, so a snapshot with nothing
// in common with the last costs at most twice the walk.
const (
	carryWindow = 4
	carryAhead  = 128
)

// lookupAll sets Owners on every socket of socks with an inode, from the
// carried answer where it still holds and from the map otherwise, and
// remembers the new answer. It returns how many of the inodes the map
// knows (looked for, held or not) and whether one is unknown to it.
//
// The new answer is written over the old one as the walk goes: an entry
// overwritten before the walk got to it only costs a map lookup, and every
// entry read is an inode's owners at the map's present version, whichever
// of the two answers wrote it.
func (c *ownerCache) lookupAll(socks []Socket) (live int, missing bool) {
	last := &c.last
	valid := last.ver == c.ver
	n := 0
	for i := range socks {
		if socks[i].Inode != 0 {
			n++
		}
	}
	old := len(last.inodes)
	if cap(last.inodes) < n || shrinkable(cap(last.inodes), max(n, old)) {
		grown := carry{inodes: make([]uint32, n), owners: make([][]Owner, n)}
		if valid {
			copy(grown.inodes, last.inodes)
			copy(grown.owners, last.owners)
		}
		old = min(old, n)
		*last = grown
	}
	// The old answer is read up to its end while the new one is written
	// from the start, and either may be the longer.
	size := max(n, old)
	inodes, owners := last.inodes[:size], last.owners[:size]
	if !valid {
		old = 0
	}
	hint, budget, k, lost := 0, old, 0, 0
	for i := range socks {
		s := &socks[i]
		in := s.Inode
		if in == 0 {
			continue
		}
		found := false
		end := min(hint+carryWindow, old)
		far := end
		// As Diff's walk: further ahead at the 1st, 2nd, 4th... inode of
		// a run not found.
		if lost++; budget > 0 && lost&(lost-1) == 0 {
			far = min(end+min(carryAhead, budget), old)
		}
		for j := hint; j < far; j++ {
			if inodes[j] == in {
				s.Owners, found, hint, lost = owners[j], true, j+1, 0
				break
			}
		}
		if !found {
			budget -= far - end
			o, ok := c.byInode.get(in)
			s.Owners = o
			if !ok {
				missing = true
				continue
			}
		}
		live++
		inodes[k], owners[k] = in, s.Owners
		k++
	}
	// What lies past the answer would keep older owner slices alive.
	clear(owners[k:])
	last.ver, last.inodes, last.owners = c.ver, inodes[:k], owners[:k]
	return live, missing
}
