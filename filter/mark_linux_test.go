//go:build linux

package filter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// cgroupChildEnv makes the test binary a child that holds sockets (see
// holdSocketsInCgroup).
const cgroupChildEnv = "SOCKTOP_TEST_CGROUP_CHILD"

// The marks of markedSockets.
const (
	markListener = 0x5a   // the listener, and so the connections it accepts
	markClient   = 0x1    // the client of an established pair
	markTW       = 0x3    // the client that closes first: its TIME_WAIT keeps it
	markUDP      = 0x5a00 // a UDP socket
)

// withMark is a net Control function setting SO_MARK, which needs
// CAP_NET_ADMIN.
func withMark(mark int, serr *error) func(_, _ string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { *serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark) })
	}
}

// markedSockets adds sockets with marks to own: a listener, a pair made
// with it, a TIME_WAIT left by a marked client, and a UDP socket. It
// skips t without CAP_NET_ADMIN. It returns the TIME_WAIT's key.
func markedSockets(t *testing.T, own *ownSockets) collect.Key {
	t.Helper()
	var serr error
	lc := net.ListenConfig{Control: withMark(markListener, &serr)}
	l, err := lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(testAddr4, 0).String())
	if err == nil && serr != nil {
		l.Close()
		err = serr
	}
	if err != nil {
		t.Skipf("no marked socket (SO_MARK needs CAP_NET_ADMIN): %v", err)
	}
	ln := l.(*net.TCPListener)
	t.Cleanup(func() { ln.Close() })
	own.add(t, ln)
	dial := func(mark int) (*net.TCPConn, *net.TCPConn) {
		var serr error
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)), Control: withMark(mark, &serr)}
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil || serr != nil {
			t.Fatalf("dial with mark %#x: %v %v", mark, err, serr)
		}
		t.Cleanup(func() { c.Close() })
		s, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		own.add(t, c.(*net.TCPConn))
		own.add(t, s)
		return c.(*net.TCPConn), s
	}
	dial(markClient)
	c, s := dial(markTW)
	tw := collect.Key{Proto: collect.TCP, Local: netip.MustParseAddrPort(c.LocalAddr().String()), Remote: netip.MustParseAddrPort(c.RemoteAddr().String())}
	own.tuples[tw] = true
	c.Close()
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	lp := net.ListenConfig{Control: withMark(markUDP, &serr)}
	u, err := lp.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(testAddr4, 0).String())
	if err != nil || serr != nil {
		t.Fatalf("udp with mark: %v %v", err, serr)
	}
	t.Cleanup(func() { u.Close() })
	own.add(t, u.(*net.UDPConn))
	return tw
}

// cgroup2Dir is where cgroup2 is mounted, "" when it is not.
func cgroup2Dir() string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	return ""
}

// cgroupChild makes a cgroup v2 of the test's own and starts a child in
// it (clone3's CLONE_INTO_CGROUP) that holds a TCP listener and a UDP
// socket, which it adds to own; it returns the cgroup's path as ss prints
// it. It skips t when cgroup2 is not mounted writable. The child and the
// cgroup go at the end of the test.
func cgroupChild(t *testing.T, own *ownSockets) string {
	t.Helper()
	path, why := tryCgroupChild(t, own)
	if why != "" {
		t.Skip(why)
	}
	return path
}

// tryCgroupChild is cgroupChild, saying why in place of skipping.
func tryCgroupChild(t *testing.T, own *ownSockets) (string, string) {
	t.Helper()
	mount := cgroup2Dir()
	if mount == "" {
		return "", "cgroup2 is not mounted"
	}
	name := fmt.Sprintf("socktop-test-%d-%d", os.Getpid(), rand.Uint32())
	dir := filepath.Join(mount, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Sprintf("cgroup2 at %s is not writable: %v", mount, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cgroupChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.Remove(dir)
		return "", fmt.Sprintf("no child in a cgroup of its own (CLONE_INTO_CGROUP): %v", err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
		// The cgroup empties as the child is reaped; rmdir may race it.
		for i := 0; i < 100; i++ {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", dir)
	})
	r := bufio.NewReader(out)
	for range 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the child in %s: %v", dir, err)
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("the child in %s said %q", dir, line)
		}
		port, err1 := strconv.ParseUint(f[0], 10, 16)
		ino, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("the child in %s said %q", dir, line)
		}
		own.ports[uint16(port)] = true
		own.inodes[uint32(ino)] = true
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(dir, mount), "/"), ""
}

// ownCgroup is the cgroup v2 path of the test process, "" when unknown.
func ownCgroup() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	return ""
}

// holdSocketsInCgroup is the child of cgroupChild: it makes a TCP
// listener and a UDP socket, prints "PORT INODE" for each, and holds them
// until its stdin closes.
func holdSocketsInCgroup() {
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, c := range []struct {
		conn syscall.Conn
		addr net.Addr
	}{{ln, ln.Addr()}, {u, u.LocalAddr()}} {
		rc, _ := c.conn.SyscallConn()
		var st unix.Stat_t
		rc.Control(func(fd uintptr) { unix.Fstat(int(fd), &st) })
		fmt.Printf("%d %d\n", netip.MustParseAddrPort(c.addr.String()).Port(), st.Ino)
	}
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
	u.Close()
}

// ssDetails returns ss -tanuHe's rows for the test's ports, by socket
// cookie (sk:HEX).
func ssDetails(t *testing.T, own *ownSockets) map[uint64][]string {
	t.Helper()
	out, err := exec.Command("ss", "-tanuHe", ssNarrow(own.ports)).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	rows := map[uint64][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		for _, w := range f {
			if hex, ok := strings.CutPrefix(w, "sk:"); ok {
				c, err := strconv.ParseUint(hex, 16, 64)
				if err != nil {
					t.Fatalf("ss row %q: %v", line, err)
				}
				rows[c] = f
			}
		}
	}
	return rows
}

// field returns the value of ss's "name:value" word in row, "" when absent.
func field(row []string, name string) string {
	for _, w := range row {
		if v, ok := strings.CutPrefix(w, name+":"); ok {
			return v
		}
	}
	return ""
}

// TestMarkAndCgroupAgreeWithSS checks the marks and cgroups of real
// sockets against ss -e, and the sockets the fwmark and cgroup
// conditions select (the kernel's program, then Match) against those ss
// selects with the same expression.
func TestMarkAndCgroupAgreeWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	own := newOwnSockets()
	tw := markedSockets(t, own)
	cg := cgroupChild(t, own)
	socks := own.snapshot(t, func(s []collect.Socket) bool {
		hasTW := false
		for i := range s {
			hasTW = hasTW || s[i].Key() == tw && s[i].State == collect.StateTimeWait
		}
		// The listener, the live pair, the TIME_WAIT, UDP, and the child's two.
		return hasTW && len(s) == 7
	})
	rows := ssDetails(t, own)
	inCgroup, marked := 0, 0
	for i := range socks {
		s := &socks[i]
		row, ok := rows[s.Cookie]
		if !ok {
			t.Errorf("ss does not list %s (cookie %x)", sockID(s), s.Cookie)
			continue
		}
		ssMark := field(row, "fwmark")
		switch {
		case !s.Known(collect.FieldMark) && s.State == collect.StateTimeWait:
			// An older kernel does not report it.
			if ssMark != "" {
				t.Errorf("TIME_WAIT %s: mark unknown, ss fwmark %q", sockID(s), ssMark)
			}
		case !s.Known(collect.FieldMark):
			t.Errorf("%s: mark unknown as root", sockID(s))
		case s.Mark == 0 && ssMark != "", s.Mark != 0 && ssMark != "0x"+strconv.FormatUint(uint64(s.Mark), 16):
			t.Errorf("%s: mark %#x, ss fwmark %q", sockID(s), s.Mark, ssMark)
		case s.Mark != 0:
			marked++
		}
		path, _ := collect.CgroupPath(s.CgroupID)
		if ss := field(row, "cgroup"); ss != path {
			t.Errorf("%s: cgroup %d %q, ss %q", sockID(s), s.CgroupID, path, ss)
		}
		if path == cg {
			inCgroup++
		}
	}
	// The listener, the pair's two ends, the UDP socket, and the TIME_WAIT
	// where the kernel reports its mark.
	wantMarked := 4
	for i := range socks {
		if socks[i].State == collect.StateTimeWait && socks[i].Known(collect.FieldMark) {
			wantMarked++
		}
	}
	if marked != wantMarked || inCgroup != 2 {
		t.Errorf("%d marked sockets (want %d) and %d in %s (want the child's 2)", marked, wantMarked, inCgroup, cg)
	}

	for _, expr := range []string{
		fmt.Sprintf("fwmark = %#x", markListener),
		fmt.Sprintf("fwmark == %d", markTW),
		fmt.Sprintf("fwmark != %#x", markListener),
		"fwmark 0x1/0x1",
		"fwmark = 0x5a00/0xff00",
		"fwmark = 0",
		"cgroup = " + cg,
		"cgroup != " + cg,
		"cgroup " + cg + " or fwmark 0x1",
		fmt.Sprintf("not fwmark = %#x and not cgroup = %s", markUDP, cg),
	} {
		f, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		src := collect.NewNetlink(collect.Options{Kernel: f})
		snap, err := src.Snapshot(context.Background())
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Notices) != 0 {
			t.Errorf("%q as root: notices %q", expr, snap.Notices)
		}
		kept := map[uint64]bool{}
		for i := range snap.Sockets {
			if s := &snap.Sockets[i]; own.has(s) && f.Match(s) {
				kept[s.Cookie] = true
			}
		}
		var got []string
		for i := range socks {
			if kept[socks[i].Cookie] {
				got = append(got, sockID(&socks[i]))
			}
		}
		want := runSS(t, []string{expr}, own, socks)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%q:\nsocktop %q\n     ss %q", expr, got, want)
		}
		if len(want) == 0 {
			t.Errorf("%q: ss selects none of the test's sockets: the comparison means nothing", expr)
		}
	}
}

// TestMarkAsNobody is the unprivileged path: no mark is reported, the
// kernel's program leaves the fwmark condition out (the kernel would
// refuse it), the snapshot says the condition cannot be decided, and the
// sockets it cannot decide are kept rather than dropped.
func TestMarkAsNobody(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own := newOwnSockets()
	own.add(t, ln)
	port := ln.Addr().(*net.TCPAddr).Port
	sport := fmt.Sprintf("sport = :%d", port)
	narrow, err := Parse(sport)
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{"fwmark = 0x5a and " + sport, "not fwmark = 0x5a and " + sport} {
		f, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range []uint8{0, 4} {
			if got, want := f.Bytecode(collect.TCP, fam), narrow.Bytecode(collect.TCP, fam); string(got) != string(want) {
				t.Errorf("%q: program %x, want the port's alone %x", expr, got, want)
			}
		}
		src := collect.NewNetlink(collect.Options{Kernel: f})
		snap, err := src.Snapshot(context.Background())
		src.Close()
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if snap.Source != "netlink" || !snap.Filtered {
			t.Errorf("%q: source %s, filtered %v", expr, snap.Source, snap.Filtered)
		}
		if !strings.Contains(strings.Join(snap.Notices, "\n"), "CAP_NET_ADMIN") {
			t.Errorf("%q: notices %q, want the one about marks", expr, snap.Notices)
		}
		found := 0
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			if !own.has(s) {
				continue
			}
			found++
			if s.Known(collect.FieldMark) {
				t.Errorf("%s: mark %#x known without CAP_NET_ADMIN", sockID(s), s.Mark)
			}
			if f.Decides(s) || !f.Match(s) {
				t.Errorf("%q: %s decided %v, kept %v; want undecided and kept", expr, sockID(s), f.Decides(s), f.Match(s))
			}
		}
		if found != 1 {
			t.Errorf("%q: %d of the test's sockets in the snapshot, want its listener", expr, found)
		}
	}
}

// usernsEnv marks the child TestMarkProgramRefused runs in a user
// namespace of its own.
const usernsEnv = "SOCKTOP_TEST_USERNS"

// TestMarkProgramRefused is the case the capability check cannot see: in
// a user namespace of its own socktop holds CAP_NET_ADMIN, but not over
// the host's network namespace, so the kernel refuses a program with
// MARK_COND. The dump is made again without a program, with a notice,
// rather than failing over to another source.
func TestMarkProgramRefused(t *testing.T) {
	if os.Getenv(usernsEnv) == "" {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skipf("no unshare: %v", err)
		}
		cmd := exec.Command(unshare, "-U", "-r", os.Args[0], "-test.run=^TestMarkProgramRefused$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), usernsEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil && strings.Contains(string(out), "unshare failed") {
			t.Skipf("no user namespace here: %s", out)
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestMarkProgramRefused") {
			t.Fatalf("in a user namespace of its own: %v\n%s", err, out)
		}
		t.Logf("in a user namespace of its own:\n%s", out)
		return
	}
	if !netAdmin() {
		t.Fatal("no CAP_NET_ADMIN in a user namespace of the test's own")
	}
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own := newOwnSockets()
	own.add(t, ln)
	expr := fmt.Sprintf("fwmark = 0x5a and sport = :%d", ln.Addr().(*net.TCPAddr).Port)
	f, err := Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	src := collect.NewNetlink(collect.Options{Kernel: f})
	defer src.Close()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	if !strings.Contains(strings.Join(snap.Notices, "\n"), "refused the filter's program") {
		t.Errorf("notices %q, want the refused program's", snap.Notices)
	}
	found := 0
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if own.has(s) {
			found++
			if s.Known(collect.FieldMark) || !f.Match(s) {
				t.Errorf("%s: mark known %v, kept %v; want unknown and kept", sockID(s), s.Known(collect.FieldMark), f.Match(s))
			}
		}
	}
	if found != 1 {
		t.Errorf("%d of the test's sockets in the unfiltered dump, want its listener", found)
	}
}
