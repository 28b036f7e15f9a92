//go:build linux

package collect

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
// inodes are cached) into a new map sized for them, and gives the owners
// of the snapshot a new backing array, so neither the old map nor the
// array of the bigger table outlives the sockets that needed them.
func (c *ownerCache) prune(socks []Socket, live int) {
	m := make(map[uint32][]Owner, live)
	n := 0
	for i := range socks {
		n += len(socks[i].Owners)
	}
	backing := make([]Owner, 0, n)
	for i := range socks {
		in := socks[i].Inode
		if in == 0 {
			continue
		}
		o, ok := c.byInode[in]
		if !ok {
			continue
		}
		if o, seen := m[in]; seen {
			socks[i].Owners = o
			continue
		}
		if o != nil {
			start := len(backing)
			backing = append(backing, o...)
			o = backing[start:len(backing):len(backing)]
		}
		m[in] = o
		socks[i].Owners = o
	}
	c.byInode, c.peak = m, len(m)
	// The carried answer holds the old owner slices.
	c.ver++
	c.last = carry{}
}
