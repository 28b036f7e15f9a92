//go:build linux

package collect

import (
	"testing"
)

// carryInode is far above the inodes the kernel gives sockets here, so
// the catch-up pass each resolve makes over the real /proc never adds an
// owner to these made-up sockets.
const carryInode = 0xf000_0000

// carryCache returns a cache that knows n made-up inodes, each held by a
// process of its own, and needs no scan while its clock stands still.
func carryCache(n int) (*ownerCache, []Socket) {
	clk := newFakeClock()
	c := newOwnerCache()
	c.now = clk.Now
	c.lastScan = clk.Now()
	socks := make([]Socket, n)
	for i := range socks {
		in := uint32(carryInode + i)
		socks[i].Inode = in
		c.byInode.set(in, []Owner{{PID: 1<<30 + i, Name: "p"}})
	}
	return c, socks
}

func checkOwners(t *testing.T, c *ownerCache, socks []Socket, when string) {
	t.Helper()
	for i := range socks {
		want, _ := c.byInode.get(socks[i].Inode)
		if got := socks[i].Owners; len(got) != len(want) || len(got) > 0 && got[0] != want[0] {
			t.Fatalf("%s: inode %#x has owners %v, the cache says %v", when, socks[i].Inode, got, want)
		}
	}
}

// TestOwnersCarryFollowsTheTable: the owners carried from the last answer
// follow each inode, not its row: runs of closed sockets left out, a new
// socket where an old one was, sockets with no inode in between, and
// sockets that moved to the end of a table shorter than the last.
func TestOwnersCarryFollowsTheTable(t *testing.T) {
	c, socks := carryCache(1000)
	// The new sockets below are known to the cache from the start, so its
	// map is not written between the two answers and the second one is
	// carried.
	for i := 300; i < 900; i++ {
		if i%97 == 0 {
			c.byInode.set(carryInode+5000+uint32(i), []Owner{{PID: 1<<29 + i, Name: "q"}})
		}
	}
	c.resolve(socks)
	checkOwners(t, c, socks, "first answer")

	next := make([]Socket, 0, len(socks)+10)
	next = append(next, socks[:200]...)
	next = append(next, Socket{}) // a TIME_WAIT: no inode
	for i := 300; i < 900; i++ {  // 200-299 closed
		s := socks[i]
		if i%97 == 0 {
			// A new socket in the old one's row, known to the cache.
			s.Inode = carryInode + 5000 + uint32(i)
		}
		next = append(next, s)
	}
	next = append(next, socks[950:]...)    // 900-949 closed
	next = append(next, socks[200:300]...) // moved to the end
	for i := range next {
		next[i].Owners = nil
	}
	ver := c.ver
	c.resolve(next)
	if c.ver != ver {
		t.Fatalf("the map was written (version %d, was %d): the answer was not carried and the test proves nothing", c.ver, ver)
	}
	checkOwners(t, c, next, "after the table moved")
	if c.last.ver != c.ver || len(c.last.inodes) != len(next)-1 {
		t.Fatalf("the answer remembered %d inodes at version %d, want %d at %d", len(c.last.inodes), c.last.ver, len(next)-1, c.ver)
	}
}

// TestOwnersCarryStopsAtAWrite: once a scan wrote the map, an inode whose
// holder changed gets its new owner, not the one carried from the last
// answer, although it sits in the same row.
func TestOwnersCarryStopsAtAWrite(t *testing.T) {
	c, socks := carryCache(100)
	c.resolve(socks)
	in := socks[42].Inode
	// The rescan finds every inode held as before but one, now held by
	// another process.
	c.want, c.pairs = c.want[:0], c.pairs[:0]
	for i := range socks {
		pid := int32(1<<30 + i)
		if i == 42 {
			pid = 7
		}
		c.want = append(c.want, socks[i].Inode)
		c.pairs = append(c.pairs, inodePID{inode: socks[i].Inode, pid: pid})
		c.names[pid] = procName{name: map[bool]string{true: "new", false: "p"}[i == 42], gen: c.gen}
	}
	c.rebuild(false)
	for i := range socks {
		socks[i].Owners = nil
	}
	c.resolve(socks)
	if o := socks[42].Owners; len(o) != 1 || o[0].PID != 7 || o[0].Name != "new" {
		t.Fatalf("after the rescan inode %#x has owners %v, want pid 7 (new)", in, o)
	}
	checkOwners(t, c, socks, "after the rescan")
}

// BenchmarkOwnersResolve is a refresh of a 100k-socket table in which
// nothing is due: the owners come from the cache and the catch-up pass
// lists /proc.
func BenchmarkOwnersResolve(b *testing.B) {
	c, socks := carryCache(100_000)
	b.ReportAllocs()
	for b.Loop() {
		c.resolve(socks)
	}
}
