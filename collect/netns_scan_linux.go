//go:build linux

package collect

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Where ip netns and docker pin the namespaces they name.
const (
	netnsRunDir    = "/run/netns"
	dockerNetnsDir = "/run/docker/netns"
)

// noticeNetnsDenied is told once when some processes' namespaces could
// not be read: other users' processes when not root, and processes of a
// sandbox's outer layer even as root.
const noticeNetnsDenied = "some processes' network namespaces could not be read (permission denied): " +
	"a namespace only they are in is not shown"

// nsFound is a network namespace the scanner found, and a path that
// opens it.
type nsFound struct {
	ns   NetNS
	path string
}

// dirStamp is what stat says of a directory, enough to tell that an
// entry was added or removed.
type dirStamp struct {
	ok    bool
	ino   uint64
	mtime unix.Timespec
	nlink uint64
}

// nsScanner lists the host's network namespaces: the ones processes are
// in (/proc/*/ns/net) and the pinned ones (nsfs bind mounts: ip netns,
// docker, anything else). The /proc pass is spaced out as the owner scan
// is; the mount table is read again when /run/netns or /run/docker/netns
// changed, or with the /proc pass.
type nsScanner struct {
	now      func() time.Time
	stamps   [2]dirStamp
	mounts   map[uint32]string // pinned namespace -> its mount point
	procs    map[uint32]int    // namespace -> the lowest pid in it
	names    map[uint32]string // names given so far, kept while listed
	lastProc time.Time
	procCost time.Duration
	denied   bool
	link     []byte
	// keep, when set, leaves out the namespaces it refuses: the cost
	// benchmark counts its own namespaces only, not the host's.
	keep func(NetNS) bool
}

func newNSScanner() *nsScanner {
	return &nsScanner{
		now:    time.Now,
		mounts: make(map[uint32]string),
		procs:  make(map[uint32]int),
		names:  make(map[uint32]string),
		link:   make([]byte, 64),
	}
}

// list returns every network namespace found but socktop's own, ordered
// by inode, and a notice to tell ("" for none).
func (sc *nsScanner) list() ([]nsFound, string) {
	now := sc.now()
	procDue := sc.lastProc.IsZero() || sc.procCost < scanCheap || now.Sub(sc.lastProc) >= scanSpacing*sc.procCost
	changed := false
	for i, dir := range []string{netnsRunDir, dockerNetnsDir} {
		st := stampDir(dir)
		if st != sc.stamps[i] {
			sc.stamps[i] = st
			changed = true
		}
	}
	if changed || procDue {
		sc.scanMounts()
	}
	if procDue {
		sc.scanProcs(now)
	}
	own := ownNetNS()
	var out []nsFound
	seen := make(map[uint32]bool, len(sc.mounts)+len(sc.procs))
	add := func(ino uint32, path string) {
		if ino == own || seen[ino] {
			return
		}
		seen[ino] = true
		f := nsFound{ns: NetNS{Inode: ino, Name: sc.name(ino)}, path: path}
		if sc.keep == nil || sc.keep(f.ns) {
			out = append(out, f)
		}
	}
	for ino, path := range sc.mounts {
		add(ino, path)
	}
	for ino, pid := range sc.procs {
		add(ino, "/proc/"+strconv.Itoa(pid)+"/ns/net")
	}
	for ino := range sc.names {
		if !seen[ino] {
			delete(sc.names, ino)
		}
	}
	slices.SortFunc(out, func(a, b nsFound) int { return int(a.ns.Inode) - int(b.ns.Inode) })
	if sc.denied {
		return out, noticeNetnsDenied
	}
	return out, ""
}

// name names a namespace: its ip netns name, else the container of a
// process inside, else "pid N comm", else where it is pinned.
func (sc *nsScanner) name(ino uint32) string {
	if n, ok := sc.names[ino]; ok {
		return n
	}
	var n string
	path, pinned := sc.mounts[ino]
	switch {
	case pinned && filepath.Dir(path) == netnsRunDir:
		n = filepath.Base(path)
	case sc.procs[ino] != 0:
		n = procNSName(sc.procs[ino])
	case pinned:
		n = path
	}
	sc.names[ino] = n
	return n
}

// procNSName names a namespace after the process pid inside it: its
// container, else "pid N comm".
func procNSName(pid int) string {
	dir := "/proc/" + strconv.Itoa(pid)
	if cg, err := os.ReadFile(dir + "/cgroup"); err == nil {
		if c := containerFromCgroup(string(cg)); c != "" {
			return c
		}
	}
	comm, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return pidNSName(pid, "?")
	}
	return pidNSName(pid, strings.TrimSuffix(string(comm), "\n"))
}

func stampDir(dir string) dirStamp {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return dirStamp{}
	}
	return dirStamp{ok: true, ino: st.Ino, mtime: st.Mtim, nlink: uint64(st.Nlink)}
}

// scanMounts reads the nsfs mounts of network namespaces from this mount
// namespace's mount table: their root is "net:[INODE]".
func (sc *nsScanner) scanMounts() {
	clear(sc.mounts)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	r := bufio.NewScanner(f)
	r.Buffer(make([]byte, 0, 4096), 1<<20)
	for r.Scan() {
		ino, path, ok := parseNSMount(r.Bytes())
		if ok {
			if _, dup := sc.mounts[ino]; !dup || filepath.Dir(path) == netnsRunDir {
				sc.mounts[ino] = path
			}
		}
	}
}

// parseNSMount reads one mountinfo line and returns the namespace and
// mount point of a network namespace's nsfs mount.
func parseNSMount(line []byte) (uint32, string, bool) {
	// id parent major:minor root mountpoint options [optional...] - fstype source super
	sep := bytes.Index(line, []byte(" - "))
	if sep < 0 {
		return 0, "", false
	}
	tail := bytes.Fields(line[sep+3:])
	if len(tail) < 1 || string(tail[0]) != "nsfs" {
		return 0, "", false
	}
	f := bytes.Fields(line[:sep])
	if len(f) < 5 {
		return 0, "", false
	}
	root := f[3]
	ino, ok := parseNetLink(root)
	if !ok {
		return 0, "", false
	}
	return ino, unescapeMount(string(f[4])), true
}

// parseNetLink reads "net:[INODE]", the link of /proc/PID/ns/net and the
// root of its nsfs mount.
func parseNetLink(b []byte) (uint32, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("net:["))
	if !ok || len(rest) < 2 || rest[len(rest)-1] != ']' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:len(rest)-1]), 10, 32)
	return uint32(n), err == nil
}

// unescapeMount undoes the octal escapes (\040 for a space) mountinfo
// writes in paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// scanProcs reads every process's /proc/PID/ns/net link.
func (sc *nsScanner) scanProcs(start time.Time) {
	clear(sc.procs)
	sc.denied = false
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	defer d.Close()
	path := make([]byte, 0, 32)
	for {
		names, err := d.Readdirnames(512)
		for _, name := range names {
			if name[0] < '0' || name[0] > '9' {
				continue
			}
			pid, err := strconv.Atoi(name)
			if err != nil {
				continue
			}
			path = append(append(append(path[:0], "/proc/"...), name...), "/ns/net"...)
			n, err := unix.Readlink(string(path), sc.link)
			if err != nil {
				if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
					sc.denied = true
				}
				continue
			}
			if ino, ok := parseNetLink(sc.link[:n]); ok {
				if p, had := sc.procs[ino]; !had || pid < p {
					sc.procs[ino] = pid
				}
			}
		}
		if err != nil {
			break
		}
	}
	sc.lastProc = start
	sc.procCost = sc.now().Sub(start)
}
