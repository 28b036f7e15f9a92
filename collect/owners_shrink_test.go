//go:build linux

package collect

import (
	"context"
	"testing"
)

// TestOwnersCacheShrinks: a cache that saw 2000 sockets follows the table
// down when they close. Entries of closed sockets are dropped, and the index
// that held them is replaced by one sized for the rest, with no
// rescan of /proc needed for it.
func TestOwnersCacheShrinks(t *testing.T) {
	t.Parallel()
	const many, kept = 2000, 10
	fds := make([]*rawFD, many)
	for i := range fds {
		fds[i] = boundUDP(t)
	}
	clk := newFakeClock()
	c := newOwnerCache()
	c.now = clk.Now
	socks := ownedSocks(t, fds...)
	c.resolve(socks)
	if c.byInode.size() != many || !isSelf(t, socks[many-1].Owners) {
		t.Fatalf("cache of %d sockets holds %d entries, last owners %v", many, c.byInode.size(), socks[many-1].Owners)
	}
	scans := c.scans

	for _, r := range fds[kept:] {
		r.Close()
	}
	clk.Advance(1)
	socks = ownedSocks(t, fds[:kept]...)
	c.resolve(socks)
	if c.byInode.size() != kept {
		t.Errorf("after %d of %d sockets closed the cache holds %d entries, want %d", many-kept, many, c.byInode.size(), kept)
	}
	if x := &c.byInode; cap(x.keys) > 2*kept || cap(x.refs) > 2*kept || cap(x.backing) > 2*kept || x.dir != nil {
		t.Errorf("the index that held %d entries keeps room for %d keys, %d refs, %d owners and %d buckets, for %d", many, cap(x.keys), cap(x.refs), cap(x.backing), len(x.dir), kept)
	}
	if c.scans != scans {
		t.Errorf("shrinking rescanned /proc (%d scans, was %d)", c.scans, scans)
	}
	for i := range socks {
		if !isSelf(t, socks[i].Owners) {
			t.Errorf("kept socket %d lost its owner: %v", i, socks[i].Owners)
		}
	}

	// The next scan's buffers are sized for the table it resolves, not
	// for the biggest one seen.
	clk.Advance(c.refresh)
	c.resolve(ownedSocks(t, fds[:kept]...))
	if c.scans != scans+1 {
		t.Fatalf("no rescan after the refresh period")
	}
	if cap(c.pairs) > shrinkMin || cap(c.want) > shrinkMin {
		t.Errorf("after a scan of %d sockets: pairs capacity %d, want capacity %d, want at most %d", kept, cap(c.pairs), cap(c.want), shrinkMin)
	}
	if c.byInode.size() != kept {
		t.Errorf("after the rescan the cache holds %d entries, want %d", c.byInode.size(), kept)
	}
}

// TestOwnersCacheFollowsNetlinkTable: through the netlink source, on a
// host whose other sockets come and go, the cache never holds an inode
// the current table lacks once the test's 2000 sockets have closed.
func TestOwnersCacheFollowsNetlinkTable(t *testing.T) {
	t.Parallel()
	const many = 2000
	fds := make([]*rawFD, many)
	closed := map[uint32]bool{}
	for i := range fds {
		fds[i] = boundUDP(t)
		closed[inodeOf(t, fds[i].fd)] = true
	}
	n := NewNetlink(Options{Owners: true, UDP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	snap, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mine(t).count(&snap); got != many {
		t.Fatalf("the snapshot has %d of the test's %d sockets", got, many)
	}
	for _, r := range fds {
		r.Close()
	}
	snap, err = n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := map[uint32]bool{}
	for i := range snap.Sockets {
		live[snap.Sockets[i].Inode] = true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	stale, ofClosed := 0, 0
	n.owners.byInode.each(func(in uint32, _ []Owner) bool {
		// A socket closed here can outlive its descriptor for a moment
		// when a parallel test forks (the child holds a copy until its
		// exec closes it); only those the table no longer lists count.
		if closed[in] && !live[in] {
			ofClosed++
		}
		if !live[in] {
			stale++
		}
		return true
	})
	// The cache may keep entries of closed sockets up to a quarter of
	// the live ones plus a slack; the test's 2000 exceed that unless the
	// host's UDP table is huge, and then they must all be gone.
	bound := len(live)/4 + staleSlack
	if stale > bound {
		t.Errorf("the cache holds %d inodes the table of %d lacks, want at most %d", stale, len(live), bound)
	}
	if many > bound && ofClosed > 0 {
		t.Errorf("the cache still holds %d of the %d closed sockets (table of %d)", ofClosed, many, len(live))
	}
}
