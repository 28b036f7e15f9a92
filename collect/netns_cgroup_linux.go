//go:build linux

package collect

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// inetDiagCgroupID is INET_DIAG_CGROUP_ID: the cgroup v2 id of the
// cgroup the socket was made in, which the kernel adds to every full
// socket's message.
const inetDiagCgroupID = 21

// maxCgroupIDs bounds the distinct cgroup ids one namespace's dump
// records: a container's sockets come from a few cgroups.
const maxCgroupIDs = 16

// cgroupIDs counts the cgroup ids of the sockets of one dump.
type cgroupIDs struct {
	ids   []uint64
	count []int
}

// note records the cgroup id of one inet_diag message's attributes.
func (c *cgroupIDs) note(attrs []byte) {
	raw := findAttr(attrs, inetDiagCgroupID)
	if len(raw) != 8 {
		return
	}
	id := binary.NativeEndian.Uint64(raw)
	for i, have := range c.ids {
		if have == id {
			c.count[i]++
			return
		}
	}
	if len(c.ids) < maxCgroupIDs {
		c.ids = append(c.ids, id)
		c.count = append(c.count, 1)
	}
}

func (c *cgroupIDs) reset() { c.ids, c.count = c.ids[:0], c.count[:0] }

// cgroupNamer turns cgroup v2 ids into container names. On cgroup2 an
// id is the kernfs node id of the cgroup's directory, which a file handle
// of type FILEID_KERNFS carries, so open_by_handle_at opens the directory
// and its /proc/self/fd link gives the path; no walk of the hierarchy.
type cgroupNamer struct {
	mount      string // where cgroup2 is mounted; "" when it is not
	mountFD    int
	handleType int32
	names      map[uint64]string // id -> container name, "" for none
	failed     bool              // the mount or the handles are refused
}

func newCgroupNamer() *cgroupNamer {
	c := &cgroupNamer{mountFD: -1, names: make(map[uint64]string)}
	c.mount = cgroup2Mount()
	if c.mount == "" {
		c.failed = true
		return c
	}
	fd, err := unix.Open(c.mount, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		c.failed = true
		return c
	}
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, c.mount, 0)
	if err != nil || h.Size() != 8 {
		unix.Close(fd)
		c.failed = true
		return c
	}
	c.mountFD, c.handleType = fd, h.Type()
	return c
}

// container returns the container name of cgroup id, "" when it is in
// none socktop knows or cannot be opened (it may be gone).
func (c *cgroupNamer) container(id uint64) string {
	if c.failed {
		return ""
	}
	if n, ok := c.names[id]; ok {
		return n
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(c.mountFD, unix.NewFileHandle(c.handleType, b[:]), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		if err == unix.EPERM {
			c.failed = true // needs CAP_DAC_READ_SEARCH
		}
		return ""
	}
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	unix.Close(fd)
	if err != nil {
		return ""
	}
	n := containerFromPath(strings.TrimPrefix(path, c.mount))
	if len(c.names) > 4096 {
		clear(c.names)
	}
	c.names[id] = n
	return n
}

// name returns the container most of the counted sockets were made in:
// a pod before any container, since its containers share the namespace.
func (c *cgroupNamer) name(ids *cgroupIDs) string {
	best, bestN, pod := "", 0, false
	for i, id := range ids.ids {
		n := c.container(id)
		if n == "" {
			continue
		}
		isPod := strings.HasPrefix(n, "pod:")
		if (isPod && !pod) || (isPod == pod && ids.count[i] > bestN) {
			best, bestN, pod = n, ids.count[i], isPod
		}
	}
	return best
}

func (c *cgroupNamer) close() {
	if c.mountFD >= 0 {
		unix.Close(c.mountFD)
		c.mountFD = -1
	}
}

// cgroup2Mount finds where cgroup2 is mounted: /sys/fs/cgroup on a
// unified host, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	r := bufio.NewScanner(f)
	r.Buffer(make([]byte, 0, 4096), 1<<20)
	for r.Scan() {
		line := r.Bytes()
		sep := bytes.Index(line, []byte(" - "))
		if sep < 0 {
			continue
		}
		tail := bytes.Fields(line[sep+3:])
		f := bytes.Fields(line[:sep])
		if len(tail) > 0 && string(tail[0]) == "cgroup2" && len(f) >= 5 && string(f[3]) == "/" {
			return unescapeMount(string(f[4]))
		}
	}
	return ""
}
