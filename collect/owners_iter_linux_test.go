//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
)

// iterOrSkip is a cache that reads with the task_file iterator; the test
// is skipped where it cannot load (no BPF privilege, no BTF, a kernel
// before 5.8), which TestOwnersIterNotRoot covers.
func iterOrSkip(t *testing.T) *ownerCache {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the task_file iterator needs CAP_BPF and CAP_PERFMON")
	}
	c := newOwnerCache()
	t.Cleanup(c.close)
	c.collect(nil)
	if c.via != OwnersViaBPF {
		t.Skipf("the task_file iterator did not load: %v", c.iterErr)
	}
	return c
}

// scanCache is a cache that always scans /proc.
func scanCache(t *testing.T) *ownerCache {
	c := newOwnerCache()
	c.noIter = true
	t.Cleanup(c.close)
	return c
}

// pairsFor runs one full pass of c over the inodes of socks and returns
// the (inode, pid) pairs found, sorted and without duplicates, as the
// owner map is built from them.
func pairsFor(c *ownerCache, socks []Socket) []inodePID {
	c.setWant(socks)
	c.collect(c.want)
	c.rebuild(false)
	return slices.Clone(c.pairs)
}

// TestOwnersIterMatchesScan: for the test's own sockets, a socket only a
// child holds, sockets this process shares with a child that inherited
// them, and this process running many threads, the iterator finds the
// same (inode, pid) pairs as the /proc scan, and the cache built from it
// names the same owners: each process once, with its name.
func TestOwnersIterMatchesScan(t *testing.T) {
	it := iterOrSkip(t)

	// Threads of one process share its file table: the kernel walks it
	// once, and the process must be listed once, not per thread.
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	var started sync.WaitGroup
	for range 24 {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			<-stop
		}()
	}
	started.Wait()

	own := boundUDP(t)
	l, _ := listenTCP(t, unix.AF_INET, 8, nil)
	shared := boundUDP(t)
	childOnly := boundUDP(t)
	var files []*os.File
	for _, r := range []*rawFD{shared, childOnly} {
		// Close-on-exec, so that no other test's child inherits it.
		dup, err := unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, os.NewFile(uintptr(dup), "inherited"))
	}
	// Two children share the shared socket with this process.
	var kids []int
	for range 2 {
		child := exec.Command("sleep", "60")
		child.ExtraFiles = files
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { child.Process.Kill(); child.Wait() })
		kids = append(kids, child.Process.Pid)
	}
	for _, f := range files {
		f.Close()
	}
	// The children hold childOnly alone from now on.
	socks := ownedSocks(t, own, l, shared, childOnly)
	childOnly.Close()
	threads, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) < 24 {
		t.Fatalf("this process runs %d threads, want at least 24", len(threads))
	}
	// A child is listed only once it has exec'd sleep; until then it
	// holds every descriptor of this process.
	for _, pid := range kids {
		waitComm(t, pid, "sleep")
	}

	self, sc := int32(os.Getpid()), scanCache(t)
	want := []inodePID{
		{socks[0].Inode, self}, {socks[1].Inode, self},
		{socks[2].Inode, self}, {socks[2].Inode, int32(kids[0])}, {socks[2].Inode, int32(kids[1])},
		{socks[3].Inode, int32(kids[0])}, {socks[3].Inode, int32(kids[1])},
	}
	slices.SortFunc(want, func(a, b inodePID) int {
		if a.inode != b.inode {
			return int(int64(a.inode) - int64(b.inode))
		}
		return int(a.pid - b.pid)
	})
	fromIter := pairsFor(it, socks)
	fromScan := pairsFor(sc, socks)
	if it.via != OwnersViaBPF || sc.via != OwnersViaProc {
		t.Fatalf("passes via %q and %q, want %q and %q", it.via, sc.via, OwnersViaBPF, OwnersViaProc)
	}
	if !slices.Equal(fromIter, want) {
		t.Errorf("iterator pairs %v, want %v", fromIter, want)
	}
	if !slices.Equal(fromIter, fromScan) {
		t.Errorf("iterator pairs %v, scan pairs %v", fromIter, fromScan)
	}

	a, b := slices.Clone(socks), slices.Clone(socks)
	it.resolve(a)
	sc.resolve(b)
	if !isSelf(t, a[0].Owners) || !isSelf(t, a[1].Owners) {
		t.Errorf("own sockets via the iterator: %v and %v, want this process once", a[0].Owners, a[1].Owners)
	}
	for i := range a {
		if !slices.Equal(a[i].Owners, b[i].Owners) {
			t.Errorf("socket %d: owners %v via the iterator, %v via the scan", i, a[i].Owners, b[i].Owners)
		}
	}
	if got := a[3].Owners; len(got) != 2 || got[0].Name != "sleep" || got[1].Name != "sleep" {
		t.Errorf("the children's socket: owners %v, want the two sleep processes", got)
	}
}

// waitComm waits until pid's name is comm.
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	for range 1000 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err != nil {
			t.Fatal(err)
		}
		if string(b) == comm+"\n" {
			return
		}
		runtime.Gosched()
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
	t.Fatalf("pid %d never became %s", pid, comm)
}

// TestOwnersIterSkipsPathDescriptors: an O_PATH descriptor of a Unix
// socket's file is S_IFSOCK but not a socket: its inode number belongs to
// the filesystem the path is on, and the iterator must not report it.
func TestOwnersIterSkipsPathDescriptors(t *testing.T) {
	it := iterOrSkip(t)
	path := t.TempDir() + "/s"
	u := newSocket(t, unix.AF_UNIX, unix.SOCK_STREAM)
	if err := unix.Bind(u.fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		t.Fatalf("the O_PATH descriptor has mode %o, want a socket file", st.Mode)
	}
	self := int32(os.Getpid())
	var fileIno, sockIno bool
	if err := it.iter.run(func(in uint32, pid int32) {
		if pid == self && in == uint32(st.Ino) {
			fileIno = true
		}
		if pid == self && in == inodeOf(t, u.fd) {
			sockIno = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !sockIno {
		t.Errorf("the Unix socket %d is not reported", inodeOf(t, u.fd))
	}
	if fileIno && uint32(st.Ino) != inodeOf(t, u.fd) {
		t.Errorf("the socket file's inode %d (O_PATH) is reported as a socket", st.Ino)
	}
}

// TestOwnersIterNotRoot: without privilege the iterator does not load,
// the scan is used, and the test's own socket still names this process.
func TestOwnersIterNotRoot(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	u := boundUDP(t)
	n := NewNetlink(Options{Owners: true, UDP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.OwnersVia != OwnersViaProc {
		t.Errorf("owners via %q, want %q", snap.OwnersVia, OwnersViaProc)
	}
	if n.owners.iterErr == nil {
		t.Errorf("the iterator loaded as uid %d", os.Geteuid())
	}
	t.Logf("the iterator: %v", n.owners.iterErr)
	s := findFD(t, &snap, u)
	if s == nil || !isSelf(t, s.Owners) {
		t.Errorf("own socket: %+v, want owned by this process", s)
	}
}

// BenchmarkOwnersColdBPF is BenchmarkOwnersCold with the task_file
// iterator reading the descriptor tables.
func BenchmarkOwnersColdBPF(b *testing.B) { benchOwnersCold(b, false) }

// BenchmarkTaskIterLoad is what the first full pass pays once to load the
// iterator: the kernel's BTF, the verifier, the attach.
func BenchmarkTaskIterLoad(b *testing.B) {
	for b.Loop() {
		it, err := loadTaskIter()
		if err != nil {
			b.Skipf("the task_file iterator: %v", err)
		}
		it.close()
	}
}
