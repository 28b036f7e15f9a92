//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func selfComm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// TestOwnersSelfAndTimeWait: a socket of the test process names it; a
// TIME_WAIT socket has no owner and is still reported.
func TestOwnersSelfAndTimeWait(t *testing.T) {
	t.Parallel()
	c, s, _ := pairTCP(t, unix.AF_INET)
	ck := keyOf(t, c)
	held, _, _ := pairTCP(t, unix.AF_INET6)
	c.Close()
	waitEOF(t, s)
	s.Close()
	n := NewNetlink(Options{Owners: true, TCP: true})
	t.Cleanup(func() { n.Close() })
	snap := waitSnapshot(t, n, func(sn *Snapshot) bool {
		x := findKey(sn, ck)
		return x != nil && x.State == StateTimeWait
	})
	want := Owner{PID: os.Getpid(), Name: selfComm(t)}
	client := findFD(t, &snap, held)
	if client == nil {
		t.Fatalf("held socket %v not in the snapshot", keyOf(t, held))
	}
	if !slices.Equal(client.Owners, []Owner{want}) {
		t.Errorf("owners of a socket this test holds = %v, want [%v]", client.Owners, want)
	}
	if x := findKey(&snap, ck); x.Inode != 0 || len(x.Owners) != 0 {
		t.Errorf("TIME_WAIT %v -> %v: inode %d owners %v, want none", x.Local, x.Remote, x.Inode, x.Owners)
	}
}

// TestOwnersShared: a socket inherited by a child process lists both.
func TestOwnersShared(t *testing.T) {
	t.Parallel()
	u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
		t.Fatal(err)
	}
	// F_DUPFD_CLOEXEC, not dup(2): a plain dup has no close-on-exec, so an
	// ss run by a parallel test could inherit the socket and own it too.
	dup, err := unix.FcntlInt(uintptr(u.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "udp")
	t.Cleanup(func() { f.Close() })
	cmd := exec.Command("sleep", "30")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	n := NewNetlink(Options{Owners: true, UDP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := findFD(t, &snap, u)
	if s == nil {
		t.Fatalf("UDP socket on port %d not reported", localPort(t, u))
	}
	want := []Owner{{PID: os.Getpid(), Name: selfComm(t)}, {PID: cmd.Process.Pid, Name: "sleep"}}
	slices.SortFunc(want, func(a, b Owner) int { return a.PID - b.PID })
	if !slices.Equal(s.Owners, want) {
		t.Errorf("owners of a shared socket = %v, want %v", s.Owners, want)
	}
}

// fakeClock is a clock that moves only when the test says so: scans are
// timed and spaced by it, and a loaded host cannot stretch it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// clockedCache is an owner cache on a clock of the test's.
func clockedCache() (*ownerCache, *fakeClock) {
	clk := newFakeClock()
	c := newOwnerCache()
	c.now = clk.Now
	return c, clk
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// ownedSocks returns a table row for each descriptor: the real sockets'
// inodes, as a dump would give them.
func ownedSocks(t *testing.T, fds ...*rawFD) []Socket {
	t.Helper()
	socks := make([]Socket, len(fds))
	for i, r := range fds {
		socks[i] = Socket{Proto: UDP, Inode: inodeOf(t, r.fd)}
	}
	return socks
}

func boundUDP(t *testing.T) *rawFD {
	t.Helper()
	u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
		t.Fatal(err)
	}
	return u
}

// isSelf reports whether owners is exactly this test process.
func isSelf(t *testing.T, owners []Owner) bool {
	return slices.Equal(owners, []Owner{{PID: os.Getpid(), Name: selfComm(t)}})
}

// TestOwnersCacheRescansForNewInodes: a table with nothing new is answered
// from the cache, a new inode makes a scan that finds its owner, and so
// does the end of the refresh period. The table is real sockets' inodes;
// the clock is the test's, so no scan is due by accident.
func TestOwnersCacheRescansForNewInodes(t *testing.T) {
	t.Parallel()
	c, clk := clockedCache()
	a := boundUDP(t)
	socks := ownedSocks(t, a)
	c.resolve(socks)
	if c.scans != 1 || !isSelf(t, socks[0].Owners) {
		t.Fatalf("first resolve: %d scans, owners %v; want 1 scan and this process", c.scans, socks[0].Owners)
	}
	for range 3 {
		clk.Advance(time.Second)
		socks = ownedSocks(t, a)
		c.resolve(socks)
	}
	if c.scans != 1 || !isSelf(t, socks[0].Owners) {
		t.Errorf("a table with nothing new rescanned: %d scans, owners %v", c.scans, socks[0].Owners)
	}

	b := boundUDP(t)
	socks = ownedSocks(t, a, b)
	c.resolve(socks)
	if c.scans != 2 || !isSelf(t, socks[1].Owners) {
		t.Errorf("a new inode: %d scans, its owners %v; want a second scan naming this process", c.scans, socks[1].Owners)
	}

	clk.Advance(c.refresh)
	socks = ownedSocks(t, a, b)
	c.resolve(socks)
	if c.scans != 3 {
		t.Errorf("after the refresh period: %d scans, want 3", c.scans)
	}
}

// TestOwnersNewSocketThroughNetlink: the same through the netlink source,
// whose table holds every UDP socket of the host: a socket made after the
// first snapshot has its owner in the next one.
func TestOwnersNewSocketThroughNetlink(t *testing.T) {
	t.Parallel()
	n := NewNetlink(Options{Owners: true, UDP: true, IPv6: true})
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	if _, err := n.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// A busy host's scans are spaced out (TestOwnerScanSpacedByItsCost);
	// the question here is only whether a new inode triggers one.
	n.owners.lastCost = 0
	u := newSocket(t, unix.AF_INET6, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET6, loopback(unix.AF_INET6), 0)); err != nil {
		t.Fatal(err)
	}
	snap, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := findFD(t, &snap, u)
	if s == nil {
		t.Fatal("new UDP socket not reported")
	}
	if !isSelf(t, s.Owners) {
		t.Errorf("owners of a socket created after the cache was filled = %v, want this process", s.Owners)
	}
}

// TestOwnerScanSpacedByItsCost: after a scan that cost 100 ms (of the
// test's clock), a new socket waits for its owner until 50 times that has
// passed, then gets it.
func TestOwnerScanSpacedByItsCost(t *testing.T) {
	t.Parallel()
	c, clk := clockedCache()
	a := boundUDP(t)
	c.resolve(ownedSocks(t, a))
	c.lastCost = 100 * time.Millisecond
	b := boundUDP(t)
	clk.Advance(4 * time.Second)
	socks := ownedSocks(t, a, b)
	c.resolve(socks)
	if c.scans != 1 || socks[1].Owners != nil {
		t.Errorf("4 s after a 100 ms scan: %d scans, new socket's owners %v; want no rescan yet", c.scans, socks[1].Owners)
	}
	clk.Advance(time.Second)
	socks = ownedSocks(t, a, b)
	c.resolve(socks)
	if c.scans != 2 || !isSelf(t, socks[1].Owners) {
		t.Errorf("5 s after a 100 ms scan: %d scans, new socket's owners %v; want a rescan naming this process", c.scans, socks[1].Owners)
	}
}

func TestParseSocketLink(t *testing.T) {
	for in, want := range map[string]uint32{
		"socket:[12345]":      12345,
		"socket:[4294967295]": 4294967295,
	} {
		if got, ok := parseSocketLink([]byte(in)); !ok || got != want {
			t.Errorf("parseSocketLink(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"socket:[]", "socket:[4294967296]", "pipe:[12]", "/dev/null", "socket:[12a]", "socket:[12"} {
		if _, ok := parseSocketLink([]byte(in)); ok {
			t.Errorf("parseSocketLink(%q) accepted", in)
		}
	}
}

func TestOwnerScanSpacing(t *testing.T) {
	c := newOwnerCache()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c.lastScan, c.lastCost = t0, 3*time.Millisecond
	if !c.mayScan(t0.Add(time.Millisecond)) {
		t.Errorf("a cheap scan must be allowed again at once")
	}
	c.lastCost = 28 * time.Millisecond // 10k descriptors
	if c.mayScan(t0.Add(time.Second)) {
		t.Errorf("a 28 ms scan was allowed again after 1 s: more than 2%% of the time")
	}
	if !c.mayScan(t0.Add(1400 * time.Millisecond)) {
		t.Errorf("a 28 ms scan was not allowed again after 1.4 s")
	}
	c.lastCost = 200 * time.Millisecond // 100k descriptors
	if c.mayScan(t0.Add(9 * time.Second)) {
		t.Errorf("a 200 ms scan was allowed again after 9 s")
	}
	if !c.mayScan(t0.Add(10 * time.Second)) {
		t.Errorf("a 200 ms scan was not allowed again after 10 s")
	}
}

// TestOwnersManyDescriptors: a process holding more sockets than one
// getdents buffer lists has its table split between the scan workers;
// every socket must still name it, exactly once.
func TestOwnersManyDescriptors(t *testing.T) {
	t.Parallel()
	const count = 3000
	for range count {
		boundUDP(t)
	}
	own := mine(t)
	n := NewNetlink(Options{Owners: true, UDP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Owner{{PID: os.Getpid(), Name: selfComm(t)}}
	seen := 0
	for _, s := range snap.Sockets {
		if !own.has(&s) {
			continue
		}
		seen++
		if !slices.Equal(s.Owners, want) {
			t.Fatalf("socket %v: owners %v, want %v", s.Local, s.Owners, want)
		}
	}
	if seen != count {
		t.Errorf("saw %d of the %d sockets", seen, count)
	}
}

// An early scan whose snapshot failed is not used once it is stale, and
// its cost is the scan's own: a socket made after it still gets its owner
// on the next resolve (the old code used the stale scan and spaced the
// rescan by the whole wait, hiding new owners for minutes). The clock is
// the test's: the scan takes no time on it, the wait a minute.
func TestStaleEarlyScanIsRedone(t *testing.T) {
	t.Parallel()
	c, clk := clockedCache()
	c.startEarly(true)
	<-c.early // done, but the snapshot that started it failed
	first := c.lastScan
	clk.Advance(time.Minute)

	r := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	socks := []Socket{{Proto: TCP, Inode: inodeOf(t, r.fd)}}
	c.resolve(socks)
	if c.scans != 2 || !c.lastScan.Equal(first.Add(time.Minute)) {
		t.Fatalf("the stale early scan was used: %d scans, last at %v, early one at %v", c.scans, c.lastScan, first)
	}
	if !isSelf(t, socks[0].Owners) {
		t.Fatalf("socket made after the early scan: owners %v, want this process", socks[0].Owners)
	}
	if c.lastCost != 0 {
		t.Fatalf("lastCost %v counts the wait, not the scan", c.lastCost)
	}
}

// A fresh early scan is used as it is: no second pass, and its cost is
// its own, not the wait until resolve.
func TestFreshEarlyScanIsUsed(t *testing.T) {
	t.Parallel()
	c, clk := clockedCache()
	r := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	c.startEarly(true)
	<-c.early
	clk.Advance(time.Second) // the dump
	socks := []Socket{{Proto: TCP, Inode: inodeOf(t, r.fd)}}
	c.resolve(socks)
	if c.scans != 1 || c.lastCost != 0 || !isSelf(t, socks[0].Owners) {
		t.Errorf("fresh early scan: %d scans, cost %v, owners %v; want 1, 0 and this process", c.scans, c.lastCost, socks[0].Owners)
	}
}

// On a later snapshot the scan starts before the dump only when the one
// after it would be dear, due and permitted: the last answer lacked an
// inode (with the spacing passed) or ownerRefresh has passed, and the
// table is wide. The early scan finds the socket the last answer
// lacked, and what it leaves missing does not start the next one early.
func TestEarlyScanOnALaterSnapshot(t *testing.T) {
	t.Parallel()
	c, clk := clockedCache()
	r1 := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	socks := []Socket{{Proto: TCP, Inode: inodeOf(t, r1.fd)}}
	c.resolve(socks)
	if c.scans != 1 {
		t.Fatalf("first resolve: %d scans, want 1", c.scans)
	}
	c.startEarly(true)
	if c.early != nil {
		t.Fatal("an early scan started with nothing missing and the cache fresh")
	}

	// A dear scan: the next is spaced by 50 times its cost.
	c.lastCost = time.Second
	r2 := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	socks = append(socks, Socket{Proto: TCP, Inode: inodeOf(t, r2.fd)})
	c.resolve(socks)
	if c.scans != 1 || !c.lastMissing || socks[1].Owners != nil {
		t.Fatalf("spaced: %d scans, lastMissing %v, owners %v; want 1, true, none", c.scans, c.lastMissing, socks[1].Owners)
	}
	c.startEarly(true)
	if c.early != nil {
		t.Fatal("an early scan started before the spacing passed")
	}
	clk.Advance(scanSpacing * time.Second)
	c.startEarly(false)
	if c.early != nil {
		t.Fatal("an early scan started for a narrow table")
	}
	c.startEarly(true)
	if c.early == nil {
		t.Fatal("no early scan with an inode missing and the spacing passed")
	}
	<-c.early
	r3 := newSocket(t, unix.AF_INET, unix.SOCK_STREAM) // made during the dump
	socks = append(socks, Socket{Proto: TCP, Inode: inodeOf(t, r3.fd)})
	c.resolve(socks)
	if c.scans != 2 || !isSelf(t, socks[1].Owners) {
		t.Fatalf("after the early scan: %d scans, owners %v; want 2 and this process", c.scans, socks[1].Owners)
	}
	if socks[2].Owners != nil || c.lastMissing {
		t.Fatalf("the socket made after the scan: owners %v, lastMissing %v; want none and false", socks[2].Owners, c.lastMissing)
	}
	// Spaced by 5 s, due by ownerRefresh at 10 s.
	c.lastCost = 100 * time.Millisecond
	clk.Advance(5 * time.Second)
	c.startEarly(true)
	if c.early != nil {
		t.Fatal("what an early scan left missing started the next early")
	}
	c.startEarlyPatch(true)
	if c.early != nil {
		t.Fatal("a patch's early scan started before ownerRefresh passed")
	}
	clk.Advance(ownerRefresh)
	c.startEarlyPatch(true)
	if c.early == nil {
		t.Fatal("no early scan for a patch once ownerRefresh passed")
	}
	<-c.early
	c.resolve(socks)
	if c.scans != 3 || !isSelf(t, socks[2].Owners) {
		t.Fatalf("refreshed: %d scans, owners %v; want 3 and this process", c.scans, socks[2].Owners)
	}
	// A cheap scan is made after the dump, as before.
	c.lastCost = 0
	clk.Advance(ownerRefresh)
	c.startEarly(true)
	if c.early != nil {
		t.Fatal("an early scan started for a cheap scan")
	}
}
