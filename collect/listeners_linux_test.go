//go:build linux

package collect

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
)

// fileOverflows reads ListenOverflows from path with a parser of its
// own, so the test does not check ParseNetstat against itself.
func fileOverflows(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, n := range names {
			if n == "ListenOverflows" {
				v, err := strconv.ParseUint(fields[i], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		t.Fatalf("%s: no ListenOverflows", path)
	}
	t.Fatalf("%s: no TcpExt", path)
	return 0
}

// overflowsNow reads ListenOverflows with ReadListenCounters and checks
// it against the file read just before and just after.
func overflowsNow(t *testing.T) uint64 {
	t.Helper()
	lo := fileOverflows(t, "/proc/net/netstat")
	c, err := ReadListenCounters("")
	if err != nil {
		t.Fatal(err)
	}
	hi := fileOverflows(t, "/proc/net/netstat")
	if !c.ListenOverflows.Known || c.ListenOverflows.Value < lo || c.ListenOverflows.Value > hi {
		t.Fatalf("ListenOverflows = %+v, the file said %d then %d", c.ListenOverflows, lo, hi)
	}
	return c.ListenOverflows.Value
}

// healthOf returns the health of the listener that r holds, found by
// inode.
func healthOf(t *testing.T, snap *Snapshot, hs []ListenerHealth, r *rawFD) *ListenerHealth {
	t.Helper()
	in := inodeOf(t, r.fd)
	for i := range hs {
		if snap.Sockets[hs[i].Index].Inode == in {
			return &hs[i]
		}
	}
	return nil
}

// ssListener returns ss's Recv-Q and Send-Q of the listener of inode in.
func ssListener(t *testing.T, in uint32) (recvQ, sendQ uint32) {
	t.Helper()
	out, err := exec.Command("ss", "-ltnHe").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	lines, err := parseSS(out, TCP)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if l.ino == in {
			return l.recvQ, l.sendQ
		}
	}
	t.Fatalf("ss does not list listener inode %d", in)
	return 0, 0
}

func TestListenerFullAndOverflow(t *testing.T) {
	src, err := NewSource("netlink", Options{TCP: true, IPv4: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.(interface{ Close() error }).Close()
	l, port := listenTCP(t, unix.AF_INET, 1, nil)
	in := inodeOf(t, l.fd)
	var x ListenerIndex
	// The kernel queues backlog+1: the first completed connection leaves
	// the queue at its backlog, which is not full yet.
	dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	snap := waitSnapshot(t, src, func(s *Snapshot) bool {
		f := findFD(t, s, l)
		return f != nil && f.RecvQ == 1
	})
	h := healthOf(t, &snap, x.Health(snap.Sockets), l)
	if h == nil || h.Full() || h.AcceptQueue != 1 || h.Backlog != 1 {
		t.Fatalf("one connection queued, backlog 1: health %+v, want 1/1 and not full", h)
	}
	dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	snap = waitSnapshot(t, src, func(s *Snapshot) bool {
		f := findFD(t, s, l)
		return f != nil && f.RecvQ == 2
	})
	h = healthOf(t, &snap, x.Health(snap.Sockets), l)
	if h == nil || !h.Full() || h.AcceptQueue != 2 || h.Backlog != 1 || !h.QueueKnown {
		t.Fatalf("two connections queued, backlog 1: health %+v, want 2/1 and full", h)
	}
	if rq, sq := ssListener(t, in); rq != h.AcceptQueue || sq != h.Backlog {
		t.Errorf("ss says Recv-Q %d Send-Q %d, health says %d/%d", rq, sq, h.AcceptQueue, h.Backlog)
	}

	// A SYN that finds the accept queue full is dropped and counted,
	// whatever tcp_syncookies says (tcp_conn_request checks the accept
	// queue after choosing a cookie).
	before := overflowsNow(t)
	late := newSocket(t, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK)
	setInt(t, late, unix.IPPROTO_TCP, unix.TCP_SYNCNT, 1)
	if err := unix.Connect(late.fd, sockaddr(unix.AF_INET, testAddr4, port)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		t.Fatalf("connect: %v", err)
	}
	var after uint64
	waitfor.Until(t, 10*time.Second, "ListenOverflows to move", func() bool {
		after = overflowsNow(t)
		return after > before
	})
	t.Logf("ListenOverflows %d -> %d", before, after)
}

// countSSSynRecv counts ss's SYN-RECV rows whose local address is local.
func countSSSynRecv(t *testing.T, local netip.AddrPort) int {
	t.Helper()
	out, err := exec.Command("ss", "-tanH", "state", "syn-recv").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	lines, err := parseSS(out, TCP)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range lines {
		if l.local.Addr().Unmap() == local.Addr() && l.local.Port() == local.Port() {
			n++
		}
	}
	return n
}

func TestListenerSynQueue(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_syncookies"); err == nil && strings.TrimSpace(string(b)) == "2" {
		t.Skip("tcp_syncookies=2: every SYN is answered with a cookie, no request socket is kept")
	}
	src, err := NewSource("netlink", Options{TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.(interface{ Close() error }).Close()
	// TCP_DEFER_ACCEPT drops the bare final ACK, so each client's request
	// socket stays SYN_RECV while the client believes it is connected.
	deferred := func(r *rawFD) {
		setInt(t, r, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30)
		setInt(t, r, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	listen := func(fam int, a netip.Addr, port int) *rawFD {
		l := newSocket(t, fam, unix.SOCK_STREAM)
		deferred(l)
		if err := unix.Bind(l.fd, sockaddr(fam, a, port)); err != nil {
			t.Fatalf("bind %v:%d: %v", a, port, err)
		}
		if err := unix.Listen(l.fd, 8); err != nil {
			t.Fatal(err)
		}
		return l
	}
	// A wildcard listener and a more specific one on the same port: the
	// kernel gives a SYN to the specific one when the address is its.
	wild := listen(unix.AF_INET, netip.IPv4Unspecified(), 0)
	port := localPort(t, wild)
	exact := listen(unix.AF_INET, testAddr4, port)
	// A dual-stack [::] listener takes IPv4 SYNs of its port.
	dual := listen(unix.AF_INET6, netip.IPv6Unspecified(), 0)
	dualPort := localPort(t, dual)

	other := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	dialTCP(t, unix.AF_INET, other, port, nil)
	dialTCP(t, unix.AF_INET, testAddr4, dualPort, nil)

	var x ListenerIndex
	var hw, he, hd *ListenerHealth
	waitSnapshot(t, src, func(s *Snapshot) bool {
		hs := x.Health(s.Sockets)
		hw, he, hd = healthOf(t, s, hs, wild), healthOf(t, s, hs, exact), healthOf(t, s, hs, dual)
		return hw != nil && he != nil && hd != nil && he.SynQueue >= 2 && hw.SynQueue >= 1 && hd.SynQueue >= 1
	})
	for _, c := range []struct {
		name  string
		h     *ListenerHealth
		local netip.AddrPort
	}{
		{"exact", he, netip.AddrPortFrom(testAddr4, uint16(port))},
		{"wildcard", hw, netip.AddrPortFrom(other, uint16(port))},
		{"dual-stack", hd, netip.AddrPortFrom(testAddr4, uint16(dualPort))},
	} {
		if !c.h.SynKnown {
			t.Errorf("%s: SYN queue unknown", c.name)
		}
		if n := countSSSynRecv(t, c.local); n != c.h.SynQueue {
			t.Errorf("%s listener: SYN queue %d, ss lists %d SYN-RECV rows on %v", c.name, c.h.SynQueue, n, c.local)
		}
	}
	x.NoSynRecv = true
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, &snap, x.Health(snap.Sockets), exact); h == nil || h.SynKnown || h.SynQueue != 0 {
		t.Errorf("without SYN_RECV rows the SYN queue is unknown, got %+v", h)
	}
}

// overflowOnce fills a backlog-1 listener and sends one SYN more, which
// the kernel drops and counts in ListenOverflows.
func overflowOnce(t *testing.T) {
	t.Helper()
	_, port := listenTCP(t, unix.AF_INET, 1, nil)
	dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	dialTCP(t, unix.AF_INET, testAddr4, port, nil)
	late := newSocket(t, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK)
	setInt(t, late, unix.IPPROTO_TCP, unix.TCP_SYNCNT, 1)
	if err := unix.Connect(late.fd, sockaddr(unix.AF_INET, testAddr4, port)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		t.Fatalf("connect: %v", err)
	}
}

// TestListenCountersOfNetNS reads the counters of another namespace (the
// host's, from a namespace of the test's own) through its path, as -N
// does, and checks them against the file of a process in it: the test
// binary that started this one.
func TestListenCountersOfNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("entering another network namespace needs root")
	}
	if !inQuietNetns(t) {
		return
	}
	overflowOnce(t)
	waitfor.Until(t, 10*time.Second, "this namespace's ListenOverflows to move", func() bool {
		return overflowsNow(t) > 0
	})
	own := overflowsNow(t)
	parent := "/proc/" + strconv.Itoa(os.Getppid())
	lo := fileOverflows(t, parent+"/net/netstat")
	host, err := ReadListenCounters(parent + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	hi := fileOverflows(t, parent+"/net/netstat")
	if !host.ListenOverflows.Known || host.ListenOverflows.Value < lo || host.ListenOverflows.Value > hi {
		t.Errorf("the parent namespace's ListenOverflows through its path = %+v, %s/net/netstat said %d then %d", host.ListenOverflows, parent, lo, hi)
	}
	if _, err := ReadListenCounters("/nonexistent/ns"); err == nil {
		t.Error("a namespace path that does not exist: no error")
	}
	t.Logf("own namespace %d, host %d", own, host.ListenOverflows.Value)
}
