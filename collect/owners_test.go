//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
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
	c, s, port := pairTCP(t, unix.AF_INET)
	held, _, hport := pairTCP(t, unix.AF_INET6)
	c.Close()
	s.Close()
	n := NewNetlink(Options{Owners: true, TCP: true})
	t.Cleanup(func() { n.Close() })
	snap := waitSnapshot(t, n, func(sn *Snapshot) bool {
		for i := range sn.Sockets {
			if sn.Sockets[i].State == StateTimeWait && sn.Sockets[i].Remote.Port() == uint16(port) {
				return true
			}
		}
		return false
	})
	want := Owner{PID: os.Getpid(), Name: selfComm(t)}
	client := findSocket(&snap, TCP, uint16(localPort(t, held)), uint16(hport))
	if client == nil {
		t.Fatalf("held socket [::1]:%d -> [::1]:%d not in the snapshot", localPort(t, held), hport)
	}
	if !slices.Equal(client.Owners, []Owner{want}) {
		t.Errorf("owners of a socket this test holds = %v, want [%v]", client.Owners, want)
	}
	for i := range snap.Sockets {
		x := &snap.Sockets[i]
		if x.State == StateTimeWait && x.Remote.Port() == uint16(port) {
			if x.Inode != 0 || len(x.Owners) != 0 {
				t.Errorf("TIME_WAIT %v -> %v: inode %d owners %v, want none", x.Local, x.Remote, x.Inode, x.Owners)
			}
		}
	}
}

// TestOwnersShared: a socket inherited by a child process lists both.
func TestOwnersShared(t *testing.T) {
	t.Parallel()
	u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
		t.Fatal(err)
	}
	port := localPort(t, u)
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
	s := findSocket(&snap, UDP, uint16(port), 0)
	if s == nil {
		t.Fatalf("UDP socket on port %d not reported", port)
	}
	want := []Owner{{PID: os.Getpid(), Name: selfComm(t)}, {PID: cmd.Process.Pid, Name: "sleep"}}
	slices.SortFunc(want, func(a, b Owner) int { return a.PID - b.PID })
	if !slices.Equal(s.Owners, want) {
		t.Errorf("owners of a shared socket = %v, want %v", s.Owners, want)
	}
}

// TestOwnersCacheRescansForNewInodes: a socket created after the cache
// was filled still gets its owner on the next snapshot, and a snapshot with
// nothing new does not rescan /proc.
func TestOwnersCacheRescansForNewInodes(t *testing.T) {
	t.Parallel()
	n := NewNetlink(Options{Owners: true, UDP: true, IPv6: true})
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	if _, err := n.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	first := n.owners.lastScan
	if _, err := n.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// Other tests may create sockets meanwhile, so a rescan here is not
	// an error; the cache must at least have been used once in a row of
	// quiet snapshots.
	quiet := n.owners.lastScan.Equal(first)
	for i := 0; i < 5 && !quiet; i++ {
		before := n.owners.lastScan
		if _, err := n.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		quiet = n.owners.lastScan.Equal(before)
	}
	if !quiet {
		t.Errorf("every snapshot rescanned /proc although no new socket appeared")
	}

	// This host may be busy enough that scans are spaced out (that has
	// its own test); here the question is whether a new inode triggers one.
	n.owners.lastCost = 0
	u := newSocket(t, unix.AF_INET6, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET6, loopback(unix.AF_INET6), 0)); err != nil {
		t.Fatal(err)
	}
	snap, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := findSocket(&snap, UDP, uint16(localPort(t, u)), 0)
	if s == nil {
		t.Fatal("new UDP socket not reported")
	}
	if len(s.Owners) != 1 || s.Owners[0].PID != os.Getpid() {
		t.Errorf("owners of a socket created after the cache was filled = %v, want this process", s.Owners)
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
	ports := map[uint16]bool{}
	for range count {
		u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
		if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
			t.Fatal(err)
		}
		ports[uint16(localPort(t, u))] = true
	}
	n := NewNetlink(Options{Owners: true, UDP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Owner{{PID: os.Getpid(), Name: selfComm(t)}}
	seen := 0
	for _, s := range snap.Sockets {
		if !ports[s.Local.Port()] || s.Local.Addr() != loopback(unix.AF_INET) {
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
// rescan by the whole wait, hiding new owners for minutes).
func TestStaleEarlyScanIsRedone(t *testing.T) {
	c := newOwnerCache()
	c.refresh = 50 * time.Millisecond
	c.startEarly()
	first := c.lastScan
	time.Sleep(200 * time.Millisecond) // the snapshot that started it failed

	r := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	var st unix.Stat_t
	if err := unix.Fstat(r.fd, &st); err != nil {
		t.Fatal(err)
	}
	socks := []Socket{{Proto: TCP, Inode: uint32(st.Ino)}}
	c.resolve(socks)
	if !c.lastScan.After(first) {
		t.Fatalf("the stale early scan was used (last scan %v, early scan %v)", c.lastScan, first)
	}
	if len(socks[0].Owners) == 0 || socks[0].Owners[0].PID != os.Getpid() {
		t.Fatalf("socket made after the early scan: owners %v, want this process", socks[0].Owners)
	}
	if c.lastCost >= 200*time.Millisecond {
		t.Fatalf("lastCost %v counts the wait, not the scan", c.lastCost)
	}
}
