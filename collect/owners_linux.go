//go:build linux

package collect

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// noticeNoRoot is told once when some /proc/PID/fd could not be read.
const noticeNoRoot = "not root: owners of other users' processes are unknown"

// ownerRefresh bounds how stale a cached owner can get while no new socket
// appears: a fork or an exit does not create an inode, so without this a
// calm table would keep its old owners forever.
const ownerRefresh = 10 * time.Second

// A scan that costs more than scanCheap is not repeated until scanSpacing
// times its cost has passed, so rescans take at most 2% of wall time. A
// busy server creates new sockets between every two snapshots, and a
// rescan at each refresh would take most of the live view's CPU on a large
// host. The price: a new socket shows without owner until the next scan,
// longer the more descriptors the host holds (docs/performance.md).
const (
	scanCheap   = 5 * time.Millisecond
	scanSpacing = 50
)

// ownerCache maps socket inodes to the processes holding them, found by
// reading every /proc/PID/fd link. The scan is the dominant cost on a big
// host, so it runs only when a snapshot holds an inode the cache has never
// seen (or after ownerRefresh), and it reads with raw syscalls into reused
// buffers: no allocation per process or per descriptor. Processes are
// shared out to one worker per CPU (at most maxScanWorkers), since the
// kernel serves readlink on /proc in parallel.
type ownerCache struct {
	byInode  ownerIndex
	lastScan time.Time     // start of the last scan
	lastCost time.Duration // how long it took
	refresh  time.Duration
	denied   bool

	// now is the clock scans are timed and spaced by; tests set their
	// own, since a loaded host stretches any real interval.
	now func() time.Time
	// scans counts the passes over /proc.
	scans int
	// peakNames is the most entries names has held since it was made:
	// Go maps never give memory back, so one that once held a big table
	// is replaced when the table is far smaller (see shrinkable).
	peakNames int

	want  []uint32 // sorted inodes of the snapshot being resolved
	pairs []inodePID
	names map[int32]procName
	gen   uint32
	pids  []int32 // the processes of the last pass, sorted
	// nowPIDs is catchUp's listing buffer; young are the processes it
	// saw appear, read at its next pass (see catchUp).
	nowPIDs []int32
	young   []int32
	procBuf []byte // getdents of /proc
	workers []*scanWorker

	// early is a scan started before the dump, on the first snapshot,
	// collecting every socket inode; resolve filters it.
	early chan struct{}
	// earlyCost is what the early scan itself took, written before early
	// is closed: the time until resolve waits on it includes the whole
	// netlink dump, and spacing rescans by that would hold them back.
	earlyCost time.Duration
	// lastMissing says resolve's last answer lacked an inode after a
	// scan made after its dump, or with none due: the scan of the next
	// snapshot is due, so startEarly may begin it before the dump.
	lastMissing bool

	// iter is the task_file BPF iterator full passes use, loaded by the
	// first; iterOff says it did not load or failed (iterErr says why)
	// and /proc is scanned. noIter keeps it off (tests, benchmarks).
	iter     *taskIter
	iterOff  bool
	iterErr  error
	noIter   bool
	iterPIDs []int32
	// via is how the last full pass read the descriptors: OwnersViaBPF
	// or OwnersViaProc.
	via string

	// ver counts the writes to byInode; last is resolve's last answer,
	// valid while ver has not moved (see lookupAll).
	ver  uint64
	last carry
	// holders are the processes that own a socket of byInode, sorted.
	holders []int32
}

// maxScanWorkers bounds the parallel /proc readers.
const maxScanWorkers = 4

// scanWorker holds one reader's buffers and findings.
type scanWorker struct {
	fdBuf  []byte // getdents of /proc/PID/fd
	link   []byte // readlink target, also /proc/PID/comm
	path   []byte // NUL-terminated paths for raw syscalls
	pairs  []inodePID
	comms  []pidName
	denied bool
}

func newScanWorker() *scanWorker {
	return &scanWorker{
		fdBuf: make([]byte, 32<<10),
		link:  make([]byte, 64),
		path:  make([]byte, 0, 32),
	}
}

type inodePID struct {
	inode uint32
	pid   int32
}

type pidName struct {
	pid  int32
	name string
}

type procName struct {
	name string
	gen  uint32
}

func newOwnerCache() *ownerCache {
	return &ownerCache{
		refresh: ownerRefresh,
		now:     time.Now,
		names:   make(map[int32]procName),
		procBuf: make([]byte, 32<<10),
	}
}

// startEarly begins a full scan in the background, so that its pass over
// the descriptor tables overlaps the netlink dump instead of following
// it: on the first snapshot (the cache is empty), and on a later one
// when the scan resolve would make after the dump is dear (past
// scanCheap), due (the last answer lacked an inode, or ownerRefresh has
// passed) and permitted by the spacing. wide says the dump lists most
// of the host's sockets (no kernel filter narrows it): a narrow table's
// scan, which keeps only the inodes it wants, is left to resolve. On
// two cores the dump and the scan then take the time of the longer
// (docs/performance.md). resolve waits for it.
func (c *ownerCache) startEarly(wide bool) {
	c.start(wide, c.lastMissing)
}

// startEarlyPatch is startEarly for a patch, whose scan resolvePatch
// makes when ownerRefresh has passed (the rows it looks for owners of
// are not known before it).
func (c *ownerCache) startEarlyPatch(wide bool) {
	if !c.lastScan.IsZero() {
		c.start(wide, false)
	}
}

func (c *ownerCache) start(wide, missing bool) {
	if c.early != nil {
		return
	}
	now := c.now()
	if !c.lastScan.IsZero() && (!wide || c.lastCost < scanCheap || !c.mayScan(now) ||
		!missing && now.Sub(c.lastScan) < c.refresh) {
		return
	}
	c.lastScan = now
	c.early = make(chan struct{})
	go func() {
		defer close(c.early)
		c.collect(nil)
		c.earlyCost = c.now().Sub(now)
	}()
}

// resolve sets Owners on every socket with an inode, scanning /proc first
// when needed. It returns a notice to tell the user, or "".
func (c *ownerCache) resolve(socks []Socket) string {
	early := c.early != nil
	if early {
		<-c.early
		c.early = nil
		c.lastCost = c.earlyCost
		if c.now().Sub(c.lastScan) < c.refresh {
			c.setWant(socks)
			c.rebuild(true)
		} else {
			// The snapshot that started it failed long ago: its scan is
			// too old to use, so scan again below.
			early = false
			c.lastScan, c.lastCost = time.Time{}, 0
		}
	}
	live, missing := c.lookupAll(socks)
	if !early {
		due := missing || c.now().Sub(c.lastScan) >= c.refresh
		if due && c.mayScan(c.now()) {
			// The wanted inodes are sorted only when a scan is due; the
			// common refresh answers due from the carried owners alone.
			c.setWant(socks)
			c.lastScan = c.now()
			c.collect(c.want)
			c.rebuild(false)
			c.lastCost = c.now().Sub(c.lastScan)
		} else {
			c.catchUp()
		}
		if c.ver != c.last.ver {
			live, missing = c.lookupAll(socks)
		}
	}
	// An early scan does not remember the inodes nobody holds (rebuild),
	// so what it leaves missing is no reason for the next to start early:
	// that one scans after its dump, and remembers them.
	c.lastMissing = missing && !early
	if stale := c.byInode.size() - live; stale > live/4+staleSlack {
		c.prune(socks, live)
	}
	if c.denied {
		return noticeNoRoot
	}
	return ""
}

// mayScan reports whether a scan may start at now, given the cost of the
// last one.
func (c *ownerCache) mayScan(now time.Time) bool {
	return c.lastCost < scanCheap || now.Sub(c.lastScan) >= scanSpacing*c.lastCost
}

func (c *ownerCache) setWant(socks []Socket) {
	c.want = reuse(c.want, len(socks))
	for i := range socks {
		if in := socks[i].Inode; in != 0 {
			c.want = append(c.want, in)
		}
	}
	slices.Sort(c.want)
	c.want = slices.Compact(c.want)
}

// collect makes one pass over every descriptor table and gathers (inode,
// pid) pairs into c.pairs: only inodes in want, or every socket when want
// is nil. The tables are read by the task_file iterator where it loads,
// by /proc/*/fd otherwise; /proc is listed either way, for catchUp.
func (c *ownerCache) collect(want []uint32) {
	c.gen++
	c.scans++
	c.pairs = reuse(c.pairs, len(want))
	proc, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(proc)
	c.pids = c.pids[:0]
	// A failed read leaves the processes listed so far; their owners are
	// still worth having.
	_ = readDir(proc, c.procBuf, func(_ int, name []byte) {
		if pid, ok := parsePID(name); ok {
			c.pids = append(c.pids, pid)
		}
	})
	slices.Sort(c.pids)
	c.young = c.young[:0]
	if !c.noIter && c.collectIter(proc, want) {
		return
	}
	c.via = OwnersViaProc
	nw := min(runtime.GOMAXPROCS(0), maxScanWorkers, len(c.pids)/16+1)
	for len(c.workers) < nw {
		c.workers = append(c.workers, newScanWorker())
	}
	workers := c.workers[:nw]
	for _, w := range workers {
		w.pairs, w.comms = reuse(w.pairs, len(want)), reuse(w.comms, len(c.names))
	}
	var bigs bigJobs
	if nw > 1 {
		bigs.on = true
	}

	// Phase 1: processes are handed out one at a time.
	var next atomic.Int64
	parallel(workers, func(w *scanWorker) {
		for {
			i := next.Add(1) - 1
			if i >= int64(len(c.pids)) {
				return
			}
			w.scanPID(proc, c.pids[i], want, c.names, &bigs)
		}
	})
	// Phase 2: the rest of each big descriptor table is split between
	// the workers, so one process holding 100k sockets is not read by a
	// single core while the others idle.
	for _, job := range bigs.jobs {
		per := (len(job.offs) + nw - 1) / nw
		parallel(workers, func(w *scanWorker) {
			k := slices.Index(workers, w)
			lo, hi := min(k*per, len(job.offs)), min((k+1)*per, len(job.offs))
			for _, off := range job.offs[lo:hi] {
				if w.readFD(job.dir, &job.names[off], job.pid, want) {
					job.found.Store(true)
				}
			}
		})
		unix.Close(job.dir)
		if job.found.Load() {
			workers[0].readComm(proc, job.pid, c.names)
		}
	}

	for _, w := range workers {
		c.pairs = append(c.pairs, w.pairs...)
		for _, pn := range w.comms {
			c.names[pn.pid] = procName{name: pn.name, gen: c.gen}
		}
		c.denied = c.denied || w.denied
	}
}

// parallel runs f once on each worker, concurrently when there are several.
func parallel(workers []*scanWorker, f func(*scanWorker)) {
	if len(workers) == 1 {
		f(workers[0])
		return
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { f(w) })
	}
	wg.Wait()
}

// bigJobs collects the descriptor tables too big for one worker.
type bigJobs struct {
	on   bool
	mu   sync.Mutex
	jobs []*bigJob
}

// bigJob is the unread rest of one process's fd directory: its names,
// NUL-terminated back to back, and the directory still open.
type bigJob struct {
	pid   int32
	dir   int
	names []byte
	offs  []int
	found atomic.Bool
}

// scanPID reads the fd links of one process. names is only read. When the
// directory does not fit one getdents buffer and bigs is on, the rest is
// queued for phase 2 instead.
func (w *scanWorker) scanPID(proc int, pid int32, want []uint32, names map[int32]procName, bigs *bigJobs) {
	w.path = append(strconv.AppendInt(w.path[:0], int64(pid), 10), "/fd\x00"...)
	dir, err := openat(proc, w.path)
	if err != nil {
		if err == unix.EACCES || err == unix.EPERM {
			w.denied = true
		}
		return // ENOENT: the process exited meanwhile
	}
	found := false
	var job *bigJob
	// A read that fails (the process exited) leaves what was read.
	_ = readDir(dir, w.fdBuf, func(batch int, fd []byte) {
		if batch > 0 && bigs.on {
			if job == nil {
				job = &bigJob{pid: pid, dir: dir}
			}
			job.add(fd)
			return
		}
		// The dirent name is NUL-terminated in the buffer, which is what
		// readlinkat wants.
		if w.readFD(dir, &fd[0], pid, want) {
			found = true
		}
	})
	if job != nil {
		job.found.Store(found)
		bigs.mu.Lock()
		bigs.jobs = append(bigs.jobs, job)
		bigs.mu.Unlock()
		return // phase 2 closes dir and reads comm
	}
	unix.Close(dir)
	if found {
		w.readComm(proc, pid, names)
	}
}

// add appends one name to the job.
func (j *bigJob) add(name []byte) {
	j.offs = append(j.offs, len(j.names))
	j.names = append(append(j.names, name...), 0)
}

// readFD reads one fd link (name is NUL-terminated) and records the pair
// when it is a wanted socket.
func (w *scanWorker) readFD(dir int, name *byte, pid int32, want []uint32) bool {
	l, err := readlinkat(dir, name, w.link)
	if err != nil {
		return false
	}
	in, ok := parseSocketLink(w.link[:l])
	if !ok {
		return false
	}
	if want != nil {
		if _, hit := slices.BinarySearch(want, in); !hit {
			return false
		}
	}
	w.pairs = append(w.pairs, inodePID{inode: in, pid: pid})
	return true
}

// readComm reads the name of pid, allocating only when it changed since
// the last scan.
func (w *scanWorker) readComm(proc int, pid int32, names map[int32]procName) {
	w.path = append(strconv.AppendInt(w.path[:0], int64(pid), 10), "/comm\x00"...)
	fd, err := openat(proc, w.path)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	nr, err := unix.Read(fd, w.link[:cap(w.link)])
	if err != nil || nr < 0 {
		return
	}
	comm := bytes.TrimSuffix(w.link[:nr], []byte("\n"))
	if old, ok := names[pid]; ok && old.name == string(comm) {
		w.comms = append(w.comms, pidName{pid, old.name})
		return
	}
	w.comms = append(w.comms, pidName{pid, string(comm)})
}

// rebuild turns the pairs of a scan into the inode map: one backing array
// for every owner of every socket. filter drops the pairs of inodes not in
// c.want (an early scan collected every socket).
func (c *ownerCache) rebuild(filter bool) {
	if filter {
		c.pairs = slices.DeleteFunc(c.pairs, func(p inodePID) bool {
			_, hit := slices.BinarySearch(c.want, p.inode)
			return !hit
		})
	}
	slices.SortFunc(c.pairs, func(a, b inodePID) int {
		if c := cmp.Compare(a.inode, b.inode); c != 0 {
			return c
		}
		return cmp.Compare(a.pid, b.pid)
	})
	// A process holding one socket on two descriptors is one owner.
	c.pairs = slices.Compact(c.pairs)
	c.ver++
	c.holders = c.holders[:0]
	for _, p := range c.pairs {
		c.holders = append(c.holders, p.pid)
	}
	slices.Sort(c.holders)
	c.holders = slices.Compact(c.holders)
	// Remember the inodes nobody holds, so they do not trigger a scan on
	// every snapshot. Not after an early scan: it started before the dump
	// and may have missed a socket made in between.
	var unheld []uint32
	if !filter {
		unheld = c.want
	}
	c.byInode.build(c.pairs, unheld, func(pid int32) string { return c.names[pid].name })
	for pid, n := range c.names {
		if n.gen != c.gen {
			delete(c.names, pid)
		}
	}
	if shrinkable(c.peakNames, len(c.names)) {
		m := make(map[int32]procName, len(c.names))
		maps.Copy(m, c.names)
		c.names, c.peakNames = m, len(m)
	}
	c.peakNames = max(c.peakNames, len(c.names))
}

// forEachDirent calls f with the NUL-terminated name (without the NUL in
// the slice, but followed by it in memory) of every linux_dirent64 in b,
// skipping "." and "..".
func forEachDirent(b []byte, f func(name []byte)) {
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		if reclen < 19 || reclen > len(b) {
			return
		}
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[reclen:]
		if len(name) == 0 || (name[0] == '.' && (len(name) == 1 || (len(name) == 2 && name[1] == '.'))) {
			continue
		}
		f(name)
	}
}

// parsePID accepts an all-digit /proc entry.
func parsePID(b []byte) (int32, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var n int32
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int32(ch-'0')
	}
	return n, true
}

// parseSocketLink reads the inode of a "socket:[12345]" link target.
func parseSocketLink(b []byte) (uint32, bool) {
	const pre = "socket:["
	if len(b) < len(pre)+2 || string(b[:len(pre)]) != pre || b[len(b)-1] != ']' {
		return 0, false
	}
	var n uint64
	for _, ch := range b[len(pre) : len(b)-1] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
		if n > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(n), true
}

// openat opens the NUL-terminated path relative to dir. It is a raw
// syscall because unix.Openat converts its string argument with an
// allocation, once per process scanned.
func openat(dir int, path []byte) (int, error) {
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dir), uintptr(unsafe.Pointer(&path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// readlinkat reads the link name (a NUL-terminated string at name) in dir
// into buf, without the per-call string conversion of unix.Readlinkat.
func readlinkat(dir int, name *byte, buf []byte) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dir), uintptr(unsafe.Pointer(name)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
