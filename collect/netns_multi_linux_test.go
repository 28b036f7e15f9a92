//go:build linux

package collect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// testNetns is a network namespace a test made with ip netns add.
type testNetns struct {
	name, path string
	inode      uint32
}

// newTestNetns makes a named network namespace with lo up, deleted when
// the test ends, pass or fail.
func newTestNetns(t testing.TB) testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("ip netns add needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	name := fmt.Sprintf("socktop-test-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(netnsRunDir + "/" + name); os.IsNotExist(err) {
			return // the test deleted it
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v\n%s", name, err, out)
	}
	ns := testNetns{name: name, path: netnsRunDir + "/" + name}
	ino, err := nsInode(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	ns.inode = ino
	return ns
}

// inNetns runs f on the test's goroutine with its thread in the network
// namespace at path, so the sockets f opens live there. The thread is put
// back before it is unlocked; if it cannot be, the test stops with the
// thread still locked, and Go retires it.
func inNetns(t testing.TB, path string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Fatalf("back from %s: %v", path, err)
		}
		runtime.UnlockOSThread()
	}()
	f()
}

// fillNetns opens, inside ns, a TCP listener with one connection
// accepted on it and a bound UDP socket; it returns the listener's port.
func fillNetns(t *testing.T, ns testNetns) int {
	t.Helper()
	var port int
	inNetns(t, ns.path, func() {
		var l *rawFD
		l, port = listenTCP(t, unix.AF_INET, 8, nil)
		dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
		acceptTCP(t, l)
		u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
		if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
			t.Fatal(err)
		}
	})
	return port
}

// ssIn runs ss inside the named namespace and parses its lines.
func ssIn(t *testing.T, name string, args ...string) []ssLine {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", name, "ss"}, args...)...).Output()
	if err != nil {
		t.Fatalf("ip netns exec %s ss %v: %v", name, args, err)
	}
	lines, err := parseSS(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// compareNetns checks the snapshot's rows of namespace ns against ss run
// inside it, field by field, and that they carry the namespace's name.
func compareNetns(t *testing.T, snap *Snapshot, ns testNetns, wantName string) {
	t.Helper()
	ss := map[Key]ssLine{}
	for _, l := range ssIn(t, ns.name, "-tanuHe") {
		ss[Key{Proto: l.proto, Local: l.local, Remote: l.peer}] = l
	}
	if len(ss) != 4 {
		t.Errorf("ss in %s lists %d sockets, want the test's 4 (listener, two ends, udp)", ns.name, len(ss))
	}
	seen := 0
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.NetNS.Inode != ns.inode {
			continue
		}
		seen++
		if s.NetNS.Name != wantName {
			t.Errorf("%v %v in %s: netns name %q, want %q", s.Proto, s.Local, ns.name, s.NetNS.Name, wantName)
		}
		l, ok := ss[Key{Proto: s.Proto, Local: s.Local, Remote: s.Remote}]
		if !ok {
			t.Errorf("%v %v -> %v in %s: not in ss", s.Proto, s.Local, s.Remote, ns.name)
			continue
		}
		if s.State.SSName() != l.state || s.RecvQ != l.recvQ || s.SendQ != l.sendQ || s.UID != l.uid || s.Inode != l.ino || s.Cookie != l.cookie {
			t.Errorf("%v %v -> %v in %s: socktop %s %d %d uid %d ino %d cookie %d; ss %s %d %d uid %d ino %d cookie %d",
				s.Proto, s.Local, s.Remote, ns.name, s.State.SSName(), s.RecvQ, s.SendQ, s.UID, s.Inode, s.Cookie,
				l.state, l.recvQ, l.sendQ, l.uid, l.ino, l.cookie)
		}
		if s.Inode != 0 && (len(s.Owners) == 0 || s.Owners[0].PID != os.Getpid()) {
			t.Errorf("%v %v in %s: owners %v, want this test (pid %d)", s.Proto, s.Local, ns.name, s.Owners, os.Getpid())
		}
	}
	if seen != len(ss) {
		t.Errorf("%s: socktop has %d rows, ss %d", ns.name, seen, len(ss))
	}
}

// TestAllNetNSMatchesSS makes three namespaces, each with a listener, a
// connection and a UDP socket, and compares one --all-netns snapshot with
// ss run inside each. Owners come from the one /proc scan: socket inodes
// are numbered host-wide (sockfs has one superblock), which the test
// checks too.
func TestAllNetNSMatchesSS(t *testing.T) {
	var spaces []testNetns
	for range 3 {
		ns := newTestNetns(t)
		fillNetns(t, ns)
		spaces = append(spaces, ns)
	}
	n := NewNetlink(Options{AllNetNS: true, Owners: true})
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range spaces {
		compareNetns(t, &snap, ns, ns.name)
	}
	inodes := map[uint32]NetNS{}
	own := 0
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.NetNS.Inode == ownNetNS() {
			own++
			if s.NetNS.Name != HostNetNSName {
				t.Errorf("own namespace named %q", s.NetNS.Name)
			}
		}
		if s.Inode == 0 {
			continue
		}
		if o, dup := inodes[s.Inode]; dup && o != s.NetNS {
			t.Errorf("socket inode %d in namespaces %v and %v", s.Inode, o, s.NetNS)
		}
		inodes[s.Inode] = s.NetNS
	}
	if own == 0 {
		t.Errorf("no socket of socktop's own namespace %d", ownNetNS())
	}
}

// TestNetNSKeysApart binds the same address and port in two namespaces:
// their Keys differ, and Diff tells the second listener apart as new.
func TestNetNSKeysApart(t *testing.T) {
	a, b := newTestNetns(t), newTestNetns(t)
	port := fillNetns(t, a)
	inNetns(t, b.path, func() {
		l := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
		if err := unix.Bind(l.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), port)); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(l.fd, 8); err != nil {
			t.Fatal(err)
		}
	})
	n := NewNetlink(Options{AllNetNS: true, TCP: true, States: 1 << StateListen})
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(loopback(unix.AF_INET), uint16(port))
	var la, lb *Socket
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.Local == want {
			switch s.NetNS.Inode {
			case a.inode:
				la = s
			case b.inode:
				lb = s
			}
		}
	}
	if la == nil || lb == nil {
		t.Fatalf("listeners on %v: in %s %v, in %s %v", want, a.name, la, b.name, lb)
	}
	if la.Key() == lb.Key() {
		t.Fatalf("both listeners have Key %+v", la.Key())
	}
	prev := Snapshot{Taken: snap.Taken, Sockets: []Socket{*la}}
	cur := Snapshot{Taken: snap.Taken.Add(time.Second), Sockets: []Socket{*la, *lb}}
	ch := Diff(&prev, &cur)
	if ch.Marks[0] != MarkSame || ch.Marks[1] != MarkNew {
		t.Errorf("marks %v, want same then new", ch.Marks)
	}
}

// TestHostKeysAgree: a socket of socktop's own namespace and a kernel
// event about it key the same whether the event names the namespace (the
// BPF reader) or cannot (tracefs, 0).
func TestHostKeysAgree(t *testing.T) {
	local, remote := netip.MustParseAddrPort("127.0.0.1:80"), netip.MustParseAddrPort("127.0.0.1:4000")
	s := Socket{Proto: TCP, Local: local, Remote: remote, NetNS: NetNS{Inode: ownNetNS(), Name: HostNetNSName}}
	bpf := StateEvent{Proto: TCP, Local: local, Remote: remote, NetNS: ownNetNS()}
	tracefs := StateEvent{Proto: TCP, Local: local, Remote: remote}
	if s.Key() != bpf.Key() || s.Key() != tracefs.Key() {
		t.Errorf("keys differ: socket %+v, bpf event %+v, tracefs event %+v", s.Key(), bpf.Key(), tracefs.Key())
	}
	other := StateEvent{Proto: TCP, Local: local, Remote: remote, NetNS: ownNetNS() + 1}
	if other.Key() == s.Key() {
		t.Errorf("an event of another namespace keys as the host's socket: %+v", other.Key())
	}
}

// TestNetNSOneByNamePIDPath asks for one namespace by its ip netns name,
// its path and the pid of a process inside: each agrees with ss there.
func TestNetNSOneByNamePIDPath(t *testing.T) {
	ns := newTestNetns(t)
	fillNetns(t, ns)
	sleep := exec.Command("ip", "netns", "exec", ns.name, "sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	pid := strconv.Itoa(sleep.Process.Pid)
	// ip netns exec execs the command in place: wait until it is inside.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ino, err := nsInode("/proc/" + pid + "/ns/net"); err == nil && ino == ns.inode {
			if comm, _ := os.ReadFile("/proc/" + pid + "/comm"); string(comm) == "sleep\n" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %s never entered %s", pid, ns.name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct{ arg, name string }{
		{ns.name, ns.name},
		{ns.path, ns.name},
		{pid, ""}, // named after the process: checked below
	} {
		path, err := ResolveNetNS(c.arg)
		if err != nil {
			t.Fatalf("-N %s: %v", c.arg, err)
		}
		n := NewNetlink(Options{NetNS: path, Owners: true})
		snap, err := n.Snapshot(context.Background())
		n.Close()
		if err != nil {
			t.Fatalf("-N %s: %v", c.arg, err)
		}
		name := c.name
		if name == "" {
			name = "pid " + pid + " sleep"
		}
		compareNetns(t, &snap, ns, name)
		for i := range snap.Sockets {
			if snap.Sockets[i].NetNS.Inode != ns.inode {
				t.Errorf("-N %s lists a socket of namespace %v", c.arg, snap.Sockets[i].NetNS)
				break
			}
		}
	}
	for _, bad := range []string{"socktop-test-nosuch", "/nonexistent/ns", "/proc/self/ns/mnt", "999999999"} {
		if _, err := ResolveNetNS(bad); err == nil {
			t.Errorf("-N %s: no error", bad)
		}
	}
}

// TestNetNSDeletedVanishes deletes a namespace between two snapshots: the
// second has none of its rows, no error, and the socket kept in it is
// closed, though the test still holds sockets that keep it alive.
func TestNetNSDeletedVanishes(t *testing.T) {
	ns := newTestNetns(t)
	fillNetns(t, ns)
	n := NewNetlink(Options{AllNetNS: true})
	t.Cleanup(func() { n.Close() })
	count := func(s *Snapshot) int {
		c := 0
		for i := range s.Sockets {
			if s.Sockets[i].NetNS.Inode == ns.inode {
				c++
			}
		}
		return c
	}
	s1, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := count(&s1); c != 4 {
		t.Fatalf("first snapshot has %d rows of %s, want 4", c, ns.name)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v\n%s", err, out)
	}
	s2, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := count(&s2); c != 0 {
		t.Errorf("second snapshot still has %d rows of the deleted %s", c, ns.name)
	}
	if _, kept := n.others.conns[ns.inode]; kept {
		t.Errorf("the sock_diag socket in the deleted %s is still kept", ns.name)
	}
}
