//go:build linux

package collect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// noticeNetnsNoAdmin is told once when socktop may not enter the other
// namespaces (setns needs CAP_SYS_ADMIN).
const noticeNetnsNoAdmin = "not permitted to enter other network namespaces (setns needs CAP_SYS_ADMIN): " +
	"their sockets are not shown, only this namespace's"

// nsConn is the sock_diag socket kept open inside one other network
// namespace. The socket holds the namespace alive, so it is closed as
// soon as the namespace is no longer found.
type nsConn struct {
	ns   NetNS
	path string // how it was found, to enter it
	fd   int    // -1 until opened
	port uint32
	stat nsStat // the namespace's sockstat files, opened with fd
	// skip is the Netlink.skip of its last dump, for tests.
	skip uint8
	seen uint32 // the generation of the last list that had it
	// failed is set when the socket could not be opened; it is tried
	// again when the namespace is found by another path.
	failed bool
}

// netnsSet is the other namespaces of a Netlink with AllNetNS.
type netnsSet struct {
	scan  *nsScanner
	conns map[uint32]*nsConn
	order []*nsConn // conns by inode
	gen   uint32
	buf   []byte // sockstat text
	// cgNamer and cgIDs name a namespace no process names after the
	// container its sockets were made in (INET_DIAG_CGROUP_ID).
	cgNamer *cgroupNamer
	cgIDs   cgroupIDs
	// noAdmin is set once setns was refused: no namespace is tried again.
	noAdmin bool
}

// initNetNS sets up what the options ask for: the namespace the main
// socket lives in and the others to dump.
func (n *Netlink) initNetNS() {
	n.self = NetNS{Inode: ownNetNS(), Name: HostNetNSName}
	if n.opts.NetNS != "" {
		n.nsPath = n.opts.NetNS
		n.self = NetNS{Name: n.opts.NetNS}
		if ino, err := nsInode(n.nsPath); err == nil {
			n.self.Inode = ino
			n.nsWant = ino
			n.self.Name = nsPathName(n.nsPath, ino)
		}
		return
	}
	if n.opts.AllNetNS {
		n.others = &netnsSet{scan: newNSScanner(), conns: make(map[uint32]*nsConn)}
	}
}

// nsPathName names the namespace at path for -N: its ip netns name, its
// own namespace's "host", or the name the scanner would give it.
func nsPathName(path string, ino uint32) string {
	switch {
	case ino == ownNetNS():
		return HostNetNSName
	case filepath.Dir(path) == netnsRunDir:
		return filepath.Base(path)
	}
	if rest, ok := strings.CutPrefix(path, "/proc/"); ok {
		if pid, _, ok := strings.Cut(rest, "/"); ok && isDigits(pid) {
			p, _ := strconv.Atoi(pid)
			return procNSName(p)
		}
	}
	return path
}

// openInLocked opens n's socket inside the namespace at n.nsPath. Its
// errors never wrap ErrUnsupported: a namespace the user named must not
// be swapped for another source's view of socktop's own.
func (n *Netlink) openInLocked() error {
	fd, err := socketIn(n.nsPath, n.nsWant, n.protocol)
	if err != nil {
		return err
	}
	return n.bindLocked(fd)
}

// tagLocked sets the namespace of the sockets of n's own socket. In the
// same pass it lists the table's timed rows for the next patch
// (timedRows), as of taken.
func (n *Netlink) tagLocked(socks []Socket, taken time.Time) {
	t := &n.patch.timed
	t.start()
	for i := range socks {
		socks[i].NetNS = n.self
		t.note(&socks[i], i)
	}
	t.done(socks, taken)
}

// dumpOthersLocked appends the sockets of every other namespace found,
// each dumped on the socket kept in it. A namespace that fails is left
// out, with a notice, and the snapshot marked Partial; only the context
// ending is an error.
func (n *Netlink) dumpOthersLocked(ctx context.Context, snap *Snapshot, socks []Socket, mask StateMask) ([]Socket, error) {
	set := n.others
	found, notice := set.scan.list()
	if notice != "" {
		n.told.add(snap, notice)
	}
	set.sync(found)
	if set.noAdmin {
		snap.Partial = true
		return socks, nil
	}
	fd, port, path, want := n.fd, n.port, n.nsPath, n.nsWant
	defer func() { n.fd, n.port, n.nsPath, n.nsWant = fd, port, path, want }()
	for _, c := range set.order {
		if err := ctx.Err(); err != nil {
			return socks, err
		}
		if c.failed {
			continue
		}
		n.fd, n.port, n.nsPath, n.nsWant = c.fd, c.port, c.path, c.ns.Inode
		if err := n.openOtherLocked(c); err != nil {
			c.failed = true
			switch {
			case errors.Is(err, unix.EPERM):
				set.noAdmin = true
				snap.Partial = true
				n.told.add(snap, noticeNetnsNoAdmin)
				return socks, nil
			case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH), errors.Is(err, ErrNotFound):
				// Gone since it was found (its last process exited).
			default:
				snap.Partial = true
				n.told.add(snap, fmt.Sprintf("network namespace %s: %v", nsLabel(c.ns), err))
			}
			continue
		}
		before := len(socks)
		if set.buf == nil {
			set.buf = make([]byte, 4096)
		}
		c.skip = c.stat.skip(set.buf, tcpStates(mask))
		n.skip = c.skip
		naming := set.wantsName(c)
		if naming {
			set.cgIDs.reset()
			n.cg = &set.cgIDs
		}
		var err error
		socks, err = n.dumpTableLocked(ctx, snap, socks, mask)
		n.skip, n.cg = 0, nil
		if naming && err == nil {
			set.nameFromCgroups(c)
		}
		c.fd, c.port = n.fd, n.port
		if err != nil {
			clear(socks[before:])
			socks = socks[:before]
			if ctx.Err() != nil {
				return socks, ctx.Err()
			}
			snap.Partial = true
			n.told.add(snap, fmt.Sprintf("network namespace %s: %v", nsLabel(c.ns), err))
			continue
		}
		for i := before; i < len(socks); i++ {
			socks[i].NetNS = c.ns
		}
	}
	return socks, nil
}

// openOtherLocked opens n's socket, pointed at c, inside c's namespace
// with c's sockstat files beside it, unless it is open.
func (n *Netlink) openOtherLocked(c *nsConn) error {
	if n.fd >= 0 {
		return nil
	}
	st := newNSStat()
	fd, err := socketInWith(n.nsPath, n.nsWant, n.protocol, st.openInside)
	if err != nil {
		st.close()
		return err
	}
	c.stat.close()
	c.stat = st
	return n.bindLocked(fd)
}

// nsLabel names a namespace in a notice.
func nsLabel(ns NetNS) string {
	if ns.Name != "" {
		return fmt.Sprintf("%q (%d)", ns.Name, ns.Inode)
	}
	return fmt.Sprint(ns.Inode)
}

// sync makes the set's conns the namespaces found: new ones get a conn
// (opened on first use), vanished ones are closed.
func (s *netnsSet) sync(found []nsFound) {
	s.gen++
	for _, f := range found {
		c := s.conns[f.ns.Inode]
		if c == nil {
			c = &nsConn{ns: f.ns, path: f.path, fd: -1, stat: newNSStat()}
			s.conns[f.ns.Inode] = c
		} else if c.path != f.path {
			c.path, c.failed = f.path, false
		}
		c.ns.Name = f.ns.Name
		c.seen = s.gen
	}
	s.order = s.order[:0]
	for ino, c := range s.conns {
		if c.seen != s.gen {
			c.close()
			delete(s.conns, ino)
			continue
		}
		s.order = append(s.order, c)
	}
	slices.SortFunc(s.order, func(a, b *nsConn) int { return cmp.Compare(a.ns.Inode, b.ns.Inode) })
}

func (c *nsConn) close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.stat.close()
}

// wantsName reports whether c's name may come from its sockets' cgroups:
// it has no ip netns name and no process inside named a container.
func (s *netnsSet) wantsName(c *nsConn) bool {
	if _, ok := ContainerOf(c.ns.Name); ok {
		return false
	}
	if p, ok := s.scan.mounts[c.ns.Inode]; ok && filepath.Dir(p) == netnsRunDir {
		return false
	}
	return true
}

// nameFromCgroups names c after the container most of its sockets were
// made in, if any, from now on while it is listed.
func (s *netnsSet) nameFromCgroups(c *nsConn) {
	if len(s.cgIDs.ids) == 0 {
		return
	}
	if s.cgNamer == nil {
		s.cgNamer = newCgroupNamer()
	}
	if name := s.cgNamer.name(&s.cgIDs); name != "" {
		c.ns.Name = name
		s.scan.names[c.ns.Inode] = name
	}
}

func (s *netnsSet) closeAll() {
	if s.cgNamer != nil {
		s.cgNamer.close()
		s.cgNamer = nil
	}
	for ino, c := range s.conns {
		c.close()
		delete(s.conns, ino)
	}
	s.order = s.order[:0]
}

// inNSLocked points n's socket at the kept socket of namespace ino for
// the call of f (tcp_info of a socket in another namespace).
func (n *Netlink) inNSLocked(ino uint32, f func() error) error {
	if n.others == nil || ino == 0 || ino == n.self.Inode {
		return f()
	}
	c := n.others.conns[ino]
	if c == nil {
		return fmt.Errorf("collect: network namespace %d is gone: %w", ino, ErrNotFound)
	}
	fd, port, path, want := n.fd, n.port, n.nsPath, n.nsWant
	n.fd, n.port, n.nsPath, n.nsWant = c.fd, c.port, c.path, c.ns.Inode
	err := f()
	c.fd, c.port = n.fd, n.port
	n.fd, n.port, n.nsPath, n.nsWant = fd, port, path, want
	return err
}
