//go:build linux

package collect

import (
	"context"
	"reflect"
	"testing"
)

// TestOwnersCacheShrinks: a cache that saw 2000 sockets follows the table
// down when they close. Entries of closed sockets are dropped, and the map
// that held them is replaced (Go maps never give memory back), with no
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
	if len(c.byInode) != many || !isSelf(t, socks[many-1].Owners) {
		t.Fatalf("cache of %d sockets holds %d entries, last owners %v", many, len(c.byInode), socks[many-1].Owners)
	}
	bigMap := reflect.ValueOf(c.byInode).UnsafePointer()
	scans := c.scans

	for _, r := range fds[kept:] {
		r.Close()
	}
	clk.Advance(1)
	socks = ownedSocks(t, fds[:kept]...)
	c.resolve(socks)
	if len(c.byInode) != kept {
		t.Errorf("after %d of %d sockets closed the cache holds %d entries, want %d", many-kept, many, len(c.byInode), kept)
	}
	if reflect.ValueOf(c.byInode).UnsafePointer() == bigMap {
		t.Errorf("the map that held %d entries is still in use for %d", many, kept)
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
	if len(c.byInode) != kept {
		t.Errorf("after the rescan the cache holds %d entries, want %d", len(c.byInode), kept)
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
	for in := range n.owners.byInode {
		// A socket closed here can outlive its descriptor for a moment
		// when a parallel test forks (the child holds a copy until its
		// exec closes it); only those the table no longer lists count.
		if closed[in] && !live[in] {
			ofClosed++
		}
		if !live[in] {
			stale++
		}
	}
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
