//go:build linux

package collect

// resolvePatch is resolve for a table Patch built: the rows it kept from
// the last table hold the owners the cache gave them then, and while the
// cache has not changed since it answered for a table (its ver), those
// are still its answer. Only the rows the kernel answered for (fresh, by
// index) are looked up; a scan that falls due, or a catch-up that
// changes the cache, resolves the whole table as a walk's does. whole
// reports which was done.
//
// shown, when not nil, says which rows are on screen (by cookie), and
// only those need an owner the cache does not have now: the others get
// theirs at the next scan that falls due (ownerRefresh), as a walk's
// would when the last scan was dear. A view passes it when nothing
// else it shows reads owners (a filter on a process, a sort by one).
func (c *ownerCache) resolvePatch(socks []Socket, fresh []int32, shown func(cookie uint64) bool) (msg string, whole bool) {
	if c.early != nil || c.last.ver != c.ver {
		return c.resolve(socks), true
	}
	missing := false
	for _, i := range fresh {
		s := &socks[i]
		if s.Inode == 0 {
			continue
		}
		o, ok := c.byInode.get(s.Inode)
		s.Owners = o
		missing = missing || !ok && (shown == nil || shown(s.Cookie))
	}
	now := c.now()
	if (missing || now.Sub(c.lastScan) >= c.refresh) && c.mayScan(now) {
		return c.resolve(socks), true // it scans
	}
	c.catchUp()
	if c.ver != c.last.ver {
		c.lookupAll(socks)
		whole = true
	}
	if c.denied {
		return noticeNoRoot, whole
	}
	return "", whole
}

// markOwnersAt is markOwners for the rows at the indices given alone:
// the others' marks are as the cache left them, unchanged since.
func markOwnersAt(c *ownerCache, socks []Socket, at []int32) OwnerCoverage {
	for _, i := range at {
		c.markUnknown(&socks[i])
	}
	return c.coverage()
}

// cookieSieve is a set of cookies that may answer "maybe" for one not in
// it, cheaply: a bit per hash, sized to keep that rare.
type cookieSieve struct {
	bits  []uint64
	shift uint
}

// reset empties the sieve and sizes it for n cookies: 16 bits each, 64K
// at least.
func (f *cookieSieve) reset(n int) {
	size, log := 1<<16, uint(16)
	for size < 16*n {
		size, log = size<<1, log+1
	}
	if words := size / 64; cap(f.bits) >= words {
		f.bits = f.bits[:words]
		clear(f.bits)
	} else {
		f.bits = make([]uint64, words)
	}
	f.shift = 64 - log
}

func (f *cookieSieve) hash(c uint64) uint64 { return (c * 0x9e3779b97f4a7c15) >> f.shift }

func (f *cookieSieve) add(c uint64) {
	h := f.hash(c)
	f.bits[h>>6] |= 1 << (h & 63)
}

// has reports whether c may be in the set: false is sure.
func (f *cookieSieve) has(c uint64) bool {
	h := f.hash(c)
	return f.bits[h>>6]&(1<<(h&63)) != 0
}
