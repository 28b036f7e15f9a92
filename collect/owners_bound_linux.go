//go:build linux

package collect

import "slices"

// The owner cache and its buffers follow the table down: a host that once
// had 100k sockets and now has 1k must not keep the memory of the 100k.

// shrinkMin is the size below which a map or buffer is not worth
// replacing: the steady state must not allocate for a few closed sockets.
const shrinkMin = 1024

// staleSlack is how many entries of closed sockets the cache may hold
// beyond a quarter of the live ones before they are dropped, so dropping
// them costs O(1) per closed socket and a calm table never pays it.
const staleSlack = 256

// shrinkable reports whether something holding size entries (or with that
// capacity) should be replaced by one sized for the live ones.
func shrinkable(size, live int) bool {
	return size > shrinkMin && size > 2*live
}

// reuse returns s emptied for n elements: the same array, unless it grew
// far beyond n for an earlier, bigger table.
func reuse[S ~[]E, E any](s S, n int) S {
	if shrinkable(cap(s), n) {
		return make(S, 0, n)
	}
	return s[:0]
}

// prune drops the entries of inodes gone from the table (live of socks'
// inodes are cached): the index is made anew, sized for the rest, and
// gives the owners of the snapshot a new backing array, so neither the
// old index nor the array of the bigger table outlives the sockets that
// needed them.
func (c *ownerCache) prune(socks []Socket, live int) {
	keys := make([]uint32, 0, live)
	for i := range socks {
		if in := socks[i].Inode; in != 0 {
			if _, ok := c.byInode.get(in); ok {
				keys = append(keys, in)
			}
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	owners := make([][]Owner, len(keys))
	for i, in := range keys {
		owners[i], _ = c.byInode.get(in)
	}
	c.byInode = ownerIndex{}
	c.byInode.fromOwners(keys, owners)
	for i := range socks {
		if in := socks[i].Inode; in != 0 {
			if o, ok := c.byInode.get(in); ok {
				socks[i].Owners = o
			}
		}
	}
	// The carried answer holds the old owner slices.
	c.ver++
	c.last = carry{}
}
