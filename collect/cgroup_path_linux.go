//go:build linux

package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// maxCgroupPaths bounds the id -> path cache; past it the cache starts
// again, as a host's cgroups come and go.
const maxCgroupPaths = 4096

// cgroupPathCache is the id -> path cache CgroupPath reads. Paths are
// relative to the cgroup2 mount, as ss prints them; "" records an id that
// could not be found, so it is not looked for on every refresh.
type cgroupPathCache struct {
	mu     sync.Mutex
	mount  string
	inited bool
	byID   map[uint64]string
}

var cgroupPaths cgroupPathCache

// CgroupPath returns the path of the cgroup v2 whose id is id (as
// Socket.CgroupID holds it), relative to the cgroup2 mount as ss prints
// it: "/" for the root, "/system.slice/ssh.service". It reports false
// when the cgroup cannot be found: it is gone, cgroup2 is not mounted,
// or id is 0. Answers are cached.
//
// As ss does, it walks the hierarchy once, which needs no privilege, and
// asks the kernel for the directory behind a handle carrying the id
// (open_by_handle_at, CAP_DAC_READ_SEARCH) for cgroups made since; without
// that privilege a new id walks the hierarchy again, once.
func CgroupPath(id uint64) (string, bool) {
	if id == 0 {
		return "", false
	}
	c := &cgroupPaths
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inited {
		c.inited = true
		c.mount = cgroup2Mount()
		c.byID = make(map[uint64]string)
		c.walk()
	}
	if p, ok := c.byID[id]; ok {
		return p, p != ""
	}
	if c.mount == "" {
		return "", false
	}
	if p, ok := c.open(id); ok {
		c.add(id, p)
		return p, true
	}
	c.walk()
	if p, ok := c.byID[id]; ok && p != "" {
		return p, true
	}
	c.add(id, "")
	return "", false
}

func (c *cgroupPathCache) add(id uint64, p string) {
	if len(c.byID) >= maxCgroupPaths {
		clear(c.byID)
	}
	c.byID[id] = p
}

// walk records the id of every directory of the hierarchy.
func (c *cgroupPathCache) walk() {
	if c.mount == "" {
		return
	}
	filepath.WalkDir(c.mount, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if id, err := handleID(path); err == nil {
			c.add(id, relCgroup(c.mount, path))
		}
		return nil
	})
}

// open finds the directory of id through a file handle: on cgroup2 the
// id is the kernfs node id a FILEID_KERNFS handle carries.
func (c *cgroupPathCache) open(id uint64) (string, bool) {
	mfd, err := unix.Open(c.mount, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(mfd)
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, c.mount, 0)
	if err != nil {
		return "", false
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(h.Type(), b[:]), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return "", false
	}
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	unix.Close(fd)
	if err != nil {
		return "", false
	}
	// The link is the path in socktop's mount namespace, which is where
	// c.mount was found.
	return relCgroup(c.mount, path), true
}

// relCgroup is path relative to the cgroup2 mount, "/" for the root.
func relCgroup(mount, path string) string {
	rel := strings.TrimPrefix(path, mount)
	if rel == "" {
		return "/"
	}
	return rel
}

// handleID is the cgroup id of the directory at path: its file handle.
func handleID(path string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		return 0, err
	}
	if h.Size() != 8 {
		return 0, fmt.Errorf("a file handle of %d bytes, not a cgroup2 id", h.Size())
	}
	return binary.NativeEndian.Uint64(h.Bytes()), nil
}

// CgroupID returns the id of the cgroup v2 at path, which is relative
// to the cgroup2 mount as ss prints it ("/system.slice", "/" for the
// root) or the directory's full path under the mount. The error says
// where cgroup2 is mounted, or that it is not.
func CgroupID(path string) (uint64, error) {
	mount := cgroup2Mount()
	if mount == "" {
		return 0, errors.New("cgroup2 is not mounted")
	}
	full := filepath.Clean(path)
	if full != mount && !strings.HasPrefix(full, mount+"/") {
		full = filepath.Join(mount, path)
	}
	if full != mount && !strings.HasPrefix(full, mount+"/") {
		return 0, fmt.Errorf("%s is outside the cgroup2 mount %s", path, mount)
	}
	st, err := os.Stat(full)
	if err != nil {
		return 0, fmt.Errorf("no cgroup %s under the cgroup2 mount %s", path, mount)
	}
	if !st.IsDir() {
		return 0, fmt.Errorf("%s is not a cgroup (a file of %s)", path, mount)
	}
	id, err := handleID(full)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return id, nil
}
