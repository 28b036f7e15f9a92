//go:build linux

package collect

import "slices"

// ownerIndex maps socket inodes to their owners. A full scan writes it
// whole (build), so it is kept as sorted arrays: an inode, and where its
// owners lie in one backing array. An entry costs 14 bytes where a Go
// map of slices cost 40 to 75 and held a pointer per entry for the
// collector to mark; at a million sockets that was 70 MB of the heap
// (docs/performance.md). What a catch-up writes between two scans (a
// fork's new owners, an exit's dropped ones) goes to a small map beside
// the arrays, read first, and folded in by the next build.
//
// An entry with no owners means the inode was looked for and nobody
// holds it; an inode absent was never looked for.
type ownerIndex struct {
	keys []uint32   // sorted, distinct
	refs []ownerRef // refs[i] is keys[i]'s owners in backing
	// backing is the owners of the last build. The sockets of snapshots
	// hold slices of it, so a build makes a new one instead of writing
	// this one.
	backing []Owner
	// dir finds an inode's place in keys in one step on average: the
	// inodes of a host's sockets come from one counter, so they fill a
	// range densely enough to bucket by value. Bucket b holds the
	// inodes in from base+b<<shift, and dir[b] is the first of them in
	// keys; dir has a last entry, len(keys). nil below dirMin entries,
	// where a binary search over keys is as quick.
	dir   []uint32
	base  uint32
	shift uint8
	// over holds what set wrote since the last build; it overrides keys.
	// added counts its inodes keys lacks, for size.
	over  map[uint32][]Owner
	added int
}

// ownerRef is a run of backing: n owners from off.
type ownerRef struct {
	off, n uint32
}

// dirMin is the size below which the index has no directory.
const dirMin = 64

// size is how many inodes the index knows.
func (x *ownerIndex) size() int { return len(x.keys) + x.added }

// get returns the owners of inode in, and whether it was looked for.
func (x *ownerIndex) get(in uint32) ([]Owner, bool) {
	if len(x.over) > 0 {
		if o, ok := x.over[in]; ok {
			return o, true
		}
	}
	i, ok := x.find(in)
	if !ok {
		return nil, false
	}
	r := x.refs[i]
	if r.n == 0 {
		return nil, true
	}
	return x.backing[r.off : r.off+r.n : r.off+r.n], true
}

// find returns the index of inode in within keys.
func (x *ownerIndex) find(in uint32) (int, bool) {
	lo, hi := 0, len(x.keys)
	if x.dir != nil {
		if in < x.base {
			return 0, false
		}
		b := uint64(in-x.base) >> x.shift
		if b+1 >= uint64(len(x.dir)) {
			return 0, false
		}
		lo, hi = int(x.dir[b]), int(x.dir[b+1])
	}
	i, ok := slices.BinarySearch(x.keys[lo:hi], in)
	return lo + i, ok
}

// set makes owners the answer for inode in until the next build; the
// slice is the caller's no longer.
func (x *ownerIndex) set(in uint32, owners []Owner) {
	if x.over == nil {
		x.over = map[uint32][]Owner{}
	}
	if _, ok := x.over[in]; !ok {
		if _, known := x.find(in); !known {
			x.added++
		}
	}
	x.over[in] = owners
}

// each calls f with every inode the index knows and its owners, until f
// returns false.
func (x *ownerIndex) each(f func(in uint32, owners []Owner) bool) {
	for in, o := range x.over {
		if !f(in, o) {
			return
		}
	}
	for i, in := range x.keys {
		if _, over := x.over[in]; over {
			continue
		}
		r := x.refs[i]
		var o []Owner
		if r.n > 0 {
			o = x.backing[r.off : r.off+r.n : r.off+r.n]
		}
		if !f(in, o) {
			return
		}
	}
}

// build replaces the index with the owners of pairs, sorted by inode and
// free of repeats, and with nobody for each inode of unheld (sorted)
// that pairs lacks. names gives each owner's name. The arrays are reused
// unless they are far larger than the new index needs.
func (x *ownerIndex) build(pairs []inodePID, unheld []uint32, names func(pid int32) string) {
	x.backing = make([]Owner, len(pairs))
	for i, p := range pairs {
		x.backing[i] = Owner{PID: int(p.pid), Name: names(p.pid)}
	}
	n := len(unheld)
	if n == 0 {
		n = len(pairs)
	}
	x.keys, x.refs = reuse(x.keys, n), reuse(x.refs, n)
	i, j := 0, 0
	for i < len(pairs) || j < len(unheld) {
		switch {
		case j == len(unheld) || i < len(pairs) && pairs[i].inode <= unheld[j]:
			k := i + 1
			for k < len(pairs) && pairs[k].inode == pairs[i].inode {
				k++
			}
			if j < len(unheld) && unheld[j] == pairs[i].inode {
				j++
			}
			x.keys = append(x.keys, pairs[i].inode)
			x.refs = append(x.refs, ownerRef{off: uint32(i), n: uint32(k - i)})
			i = k
		default:
			x.keys = append(x.keys, unheld[j])
			x.refs = append(x.refs, ownerRef{})
			j++
		}
	}
	x.over, x.added = nil, 0
	x.index()
}

// fromOwners replaces the index with the given inodes (sorted, distinct)
// and their owners, copied into a new backing array.
func (x *ownerIndex) fromOwners(keys []uint32, owners [][]Owner) {
	total := 0
	for _, o := range owners {
		total += len(o)
	}
	x.backing = make([]Owner, 0, total)
	x.keys, x.refs = reuse(x.keys, len(keys)), reuse(x.refs, len(keys))
	for i, in := range keys {
		off := len(x.backing)
		x.backing = append(x.backing, owners[i]...)
		x.keys = append(x.keys, in)
		x.refs = append(x.refs, ownerRef{off: uint32(off), n: uint32(len(owners[i]))})
	}
	x.over, x.added = nil, 0
	x.index()
}

// index builds the directory over keys: the smallest buckets that still
// number no more than half the keys, so it costs at most 2 bytes an
// entry, whatever the spread of the inodes.
func (x *ownerIndex) index() {
	n := len(x.keys)
	if n < dirMin {
		x.dir = nil
		return
	}
	x.base = x.keys[0]
	span := uint64(x.keys[n-1]-x.base) + 1
	shift := uint8(0)
	for span>>shift > uint64(n/2) {
		shift++
	}
	x.shift = shift
	buckets := int(span>>shift) + 1
	x.dir = slices.Grow(reuse(x.dir, buckets+1), buckets+1)[:buckets+1]
	k := 0
	for b := range buckets {
		for k < n && uint64(x.keys[k]-x.base)>>shift < uint64(b) {
			k++
		}
		x.dir[b] = uint32(k)
	}
	x.dir[buckets] = uint32(n)
}
