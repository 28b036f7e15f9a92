//go:build linux

package collect

import (
	"bytes"
	"encoding/binary"
	"slices"
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
// times its cost has passed: on a host with 100k descriptors a scan takes
// most of a second, and a busy server creates new sockets between every
// two snapshots. New sockets then show without owner for a few seconds,
// instead of the collector eating a core.
const (
	scanCheap   = 50 * time.Millisecond
	scanSpacing = 3
)

// ownerCache maps socket inodes to the processes holding them, found by
// reading every /proc/PID/fd link. The scan is the dominant cost on a big
// host, so it runs only when a snapshot holds an inode the cache has never
// seen (or after ownerRefresh), and it reads with raw syscalls into reused
// buffers: no allocation per process or per descriptor.
type ownerCache struct {
	byInode  map[uint32][]Owner // nil value: looked for, nobody holds it
	lastScan time.Time          // start of the last scan
	lastCost time.Duration      // how long it took
	refresh  time.Duration
	denied   bool

	want  []uint32   // sorted inodes of the snapshot being resolved
	pairs []inodePID // (inode, pid) found by the scan
	names map[int32]procName
	gen   uint32

	procBuf []byte // getdents of /proc
	fdBuf   []byte // getdents of /proc/PID/fd
	link    []byte // readlink target
	path    []byte // NUL-terminated paths for raw syscalls
}

type inodePID struct {
	inode uint32
	pid   int32
}

type procName struct {
	name string
	gen  uint32
}

func newOwnerCache() *ownerCache {
	return &ownerCache{
		byInode: make(map[uint32][]Owner),
		refresh: ownerRefresh,
		names:   make(map[int32]procName),
		procBuf: make([]byte, 32<<10),
		fdBuf:   make([]byte, 32<<10),
		link:    make([]byte, 64),
		path:    make([]byte, 0, 64),
	}
}

// resolve sets Owners on every socket with an inode, scanning /proc first
// when needed. It returns a notice to tell the user, or "".
func (c *ownerCache) resolve(socks []Socket) string {
	stale := time.Since(c.lastScan) >= c.refresh
	if !stale {
		for i := range socks {
			if in := socks[i].Inode; in != 0 {
				if _, ok := c.byInode[in]; !ok {
					stale = true
					break
				}
			}
		}
	}
	if stale && c.mayScan(time.Now()) {
		c.scan(socks)
		c.lastCost = time.Since(c.lastScan)
	}
	for i := range socks {
		if in := socks[i].Inode; in != 0 {
			socks[i].Owners = c.byInode[in]
		}
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

// scan rebuilds the cache for the inodes of socks with one pass over
// /proc/*/fd.
func (c *ownerCache) scan(socks []Socket) {
	c.lastScan = time.Now()
	c.gen++
	c.want = c.want[:0]
	for i := range socks {
		if in := socks[i].Inode; in != 0 {
			c.want = append(c.want, in)
		}
	}
	slices.Sort(c.want)
	c.want = slices.Compact(c.want)
	c.pairs = c.pairs[:0]

	proc, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		c.rebuild()
		return
	}
	defer unix.Close(proc)
	for {
		nr, err := unix.Getdents(proc, c.procBuf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || nr <= 0 {
			break
		}
		forEachDirent(c.procBuf[:nr], func(name []byte) {
			pid, ok := parsePID(name)
			if ok {
				c.scanPID(proc, pid, name)
			}
		})
	}
	c.rebuild()
}

// scanPID reads the fd links of one process.
func (c *ownerCache) scanPID(proc int, pid int32, name []byte) {
	c.path = append(append(c.path[:0], name...), "/fd\x00"...)
	dir, err := openat(proc, c.path)
	if err != nil {
		if err == unix.EACCES || err == unix.EPERM {
			c.denied = true
		}
		return // ENOENT: the process exited meanwhile
	}
	defer unix.Close(dir)
	found := false
	for {
		nr, err := unix.Getdents(dir, c.fdBuf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || nr <= 0 {
			break
		}
		forEachDirent(c.fdBuf[:nr], func(fd []byte) {
			// The dirent name is NUL-terminated in the buffer, which is
			// what readlinkat wants.
			l, err := readlinkat(dir, &fd[0], c.link)
			if err != nil {
				return
			}
			in, ok := parseSocketLink(c.link[:l])
			if !ok {
				return
			}
			if _, hit := slices.BinarySearch(c.want, in); hit {
				c.pairs = append(c.pairs, inodePID{inode: in, pid: pid})
				found = true
			}
		})
	}
	if found {
		c.readComm(proc, pid, name)
	}
}

// readComm refreshes the name of pid, allocating only when it changed.
func (c *ownerCache) readComm(proc int, pid int32, name []byte) {
	c.path = append(append(c.path[:0], name...), "/comm\x00"...)
	fd, err := openat(proc, c.path)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	nr, err := unix.Read(fd, c.link[:cap(c.link)])
	if err != nil || nr < 0 {
		return
	}
	comm := bytes.TrimSuffix(c.link[:nr], []byte("\n"))
	old, ok := c.names[pid]
	if ok && old.name == string(comm) {
		c.names[pid] = procName{name: old.name, gen: c.gen}
		return
	}
	c.names[pid] = procName{name: string(comm), gen: c.gen}
}

// rebuild turns the pairs of a scan into the inode map: one backing array
// for every owner of every socket.
func (c *ownerCache) rebuild() {
	slices.SortFunc(c.pairs, func(a, b inodePID) int {
		if a.inode != b.inode {
			return int(int64(a.inode) - int64(b.inode))
		}
		return int(a.pid - b.pid)
	})
	// A process holding one socket on two descriptors is one owner.
	c.pairs = slices.Compact(c.pairs)
	clear(c.byInode)
	backing := make([]Owner, len(c.pairs))
	for i, p := range c.pairs {
		backing[i] = Owner{PID: int(p.pid), Name: c.names[p.pid].name}
	}
	for i := 0; i < len(c.pairs); {
		j := i + 1
		for j < len(c.pairs) && c.pairs[j].inode == c.pairs[i].inode {
			j++
		}
		c.byInode[c.pairs[i].inode] = backing[i:j:j]
		i = j
	}
	for _, in := range c.want {
		if _, ok := c.byInode[in]; !ok {
			c.byInode[in] = nil
		}
	}
	for pid, n := range c.names {
		if n.gen != c.gen {
			delete(c.names, pid)
		}
	}
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
