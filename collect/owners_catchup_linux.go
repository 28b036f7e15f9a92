package collect

import (
	"slices"

	"golang.org/x/sys/unix"
)

// procPath is "/proc" for openat, NUL-terminated once rather than at
// every refresh.
var procPath = []byte("/proc\x00")

// maxCatchUp bounds the processes one catch-up reads; more new ones than
// that (a fork bomb, a build) wait for the next full scan, which reads
// them all at once for less.
const maxCatchUp = 64

// catchUp brings the owners up to date with processes that started or
// ended since the last pass, without a full scan. A fork or an exit makes
// no socket inode, so resolve cannot see it, and the owners column would
// go on listing a dead holder, or miss a new one, until ownerRefresh: the
// very moment a learner forks a server is the one it must show. Listing
// /proc costs one getdents; only what changed is read.
//
// A process is read once it has been seen twice: the child of a fork
// holds every descriptor of its parent until it calls exec, and one
// caught in between would be listed as the owner of sockets its exec
// then closed.
func (c *ownerCache) catchUp() {
	proc, err := openat(unix.AT_FDCWD, procPath)
	if err != nil {
		return
	}
	defer unix.Close(proc)
	c.nowPIDs = c.nowPIDs[:0]
	if readDir(proc, c.procBuf, c.listPID) != nil {
		return // a partial list would look like exits
	}
	now := c.nowPIDs
	slices.Sort(now)
	var gone, fresh []int32
	mergeDiff(c.pids, now, func(p int32) { gone = append(gone, p) }, func(p int32) { fresh = append(fresh, p) })
	if len(gone) > 0 {
		c.dropPIDs(gone)
	}
	// Read the processes that were new last time and are still here.
	var ready []int32
	for _, p := range c.young {
		if _, ok := slices.BinarySearch(now, p); ok {
			ready = append(ready, p)
		}
	}
	c.young = append(c.young[:0], fresh...)
	if len(ready) > 0 && len(ready) <= maxCatchUp {
		c.addPIDs(proc, ready)
	}
	c.pids, c.nowPIDs = now, c.pids
}

func (c *ownerCache) listPID(_ int, name []byte) {
	if pid, ok := parsePID(name); ok {
		c.nowPIDs = append(c.nowPIDs, pid)
	}
}

// mergeDiff walks two sorted lists and reports what only old has and
// what only cur has.
func mergeDiff(old, cur []int32, onlyOld, onlyCur func(int32)) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || i < len(old) && old[i] < cur[j]:
			onlyOld(old[i])
			i++
		case i == len(old) || cur[j] < old[i]:
			onlyCur(cur[j])
			j++
		default:
			i++
			j++
		}
	}
}

// dropPIDs removes the exited processes from every owner list. The lists
// share one backing array, so a shortened one is copied rather than
// edited in place.
func (c *ownerCache) dropPIDs(gone []int32) {
	// On a busy host processes end at every refresh, nearly none of them
	// holding a socket of the table: the map is walked only for one that
	// held one.
	held := false
	for _, p := range gone {
		if _, ok := slices.BinarySearch(c.holders, p); ok {
			held = true
			break
		}
	}
	if !held {
		return
	}
	c.holders = slices.DeleteFunc(c.holders, func(p int32) bool { return pidIn(gone, int(p)) })
	type change struct {
		in   uint32
		kept []Owner
	}
	var changes []change
	c.byInode.each(func(in uint32, owners []Owner) bool {
		if !slices.ContainsFunc(owners, func(o Owner) bool { return pidIn(gone, o.PID) }) {
			return true
		}
		kept := make([]Owner, 0, len(owners)-1)
		for _, o := range owners {
			if !pidIn(gone, o.PID) {
				kept = append(kept, o)
			}
		}
		changes = append(changes, change{in, kept})
		return true
	})
	for _, ch := range changes {
		c.byInode.set(ch.in, ch.kept)
		c.ver++
	}
}

func pidIn(sorted []int32, pid int) bool {
	_, ok := slices.BinarySearch(sorted, int32(pid))
	return ok
}

// addPIDs reads the descriptors of the given processes and adds them as
// owners of the sockets the cache already knows; a socket it does not
// know yet makes the next snapshot due for a full scan anyway.
func (c *ownerCache) addPIDs(proc int, pids []int32) {
	if len(c.workers) == 0 {
		c.workers = append(c.workers, &scanWorker{
			fdBuf: make([]byte, 32<<10),
			link:  make([]byte, 64),
			path:  make([]byte, 0, 32),
		})
	}
	w := c.workers[0]
	for _, pid := range pids {
		w.pairs, w.comms = w.pairs[:0], w.comms[:0]
		w.scanPID(proc, pid, nil, c.names, &bigJobs{})
		if len(w.pairs) == 0 {
			continue
		}
		name := ""
		for _, pn := range w.comms {
			c.names[pn.pid] = procName{name: pn.name, gen: c.gen}
			name = pn.name
		}
		for _, p := range w.pairs {
			owners, ok := c.byInode.get(p.inode)
			if !ok || slices.ContainsFunc(owners, func(o Owner) bool { return o.PID == int(pid) }) {
				continue
			}
			// A fresh slice: the old one shares its backing array.
			grown := make([]Owner, len(owners), len(owners)+1)
			copy(grown, owners)
			grown = append(grown, Owner{PID: int(pid), Name: name})
			slices.SortFunc(grown, func(a, b Owner) int { return a.PID - b.PID })
			c.byInode.set(p.inode, grown)
			c.ver++
			if at, ok := slices.BinarySearch(c.holders, pid); !ok {
				c.holders = slices.Insert(c.holders, at, pid)
			}
		}
	}
}
