package demo

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/probe"
)

// needLab skips a test that makes network namespaces when this process
// may not.
func needLab(t *testing.T) {
	t.Helper()
	if why := labAllowed(); why != "" {
		t.Skipf("no network namespaces here: %s", why)
	}
}

// ipOut runs ip (or tc) and returns its output; the tools are the oracle
// for what exists on the host.
func ipOut(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(tool, args...).CombinedOutput()
	return string(out), err
}

// labExists reports what `ip netns list` and `ip link` say is left of l.
func labLeft(t *testing.T, l *netLab) []string {
	t.Helper()
	var left []string
	ns, err := ipOut(t, "ip", "netns", "list")
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, ns)
	}
	for _, line := range strings.Split(ns, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == l.Name() {
			left = append(left, "namespace "+line)
		}
	}
	links, err := ipOut(t, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatalf("ip link: %v\n%s", err, links)
	}
	for _, line := range strings.Split(links, "\n") {
		if strings.Contains(line, " "+l.HostLink()+"@") || strings.Contains(line, " "+l.HostLink()+":") || strings.Contains(line, l.Name()) {
			left = append(left, "link "+line)
		}
	}
	if _, err := os.Stat(l.Path()); err == nil {
		left = append(left, "file "+l.Path())
	}
	return left
}

// A lab is a namespace with the name it promises, a veth pair whose ends
// have the addresses it gives and a tbf on both ends at its rate; Close
// leaves none of them, and a second Close is harmless.
func TestNetLabCreateClose(t *testing.T) {
	needLab(t)
	l, err := newNetLab(labConfig{RateBits: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if !strings.HasPrefix(l.Name(), labPrefix) {
		t.Errorf("name %q lacks %q", l.Name(), labPrefix)
	}
	if ns, _ := ipOut(t, "ip", "netns", "list"); !strings.Contains(ns, l.Name()) {
		t.Errorf("ip netns list does not show %s:\n%s", l.Name(), ns)
	}
	host, err := ipOut(t, "ip", "-o", "-4", "addr", "show", "dev", l.HostLink())
	if err != nil || !strings.Contains(host, " "+l.HostAddr().String()+"/30 ") {
		t.Errorf("ip addr on %s: want %s/30 (%v):\n%s", l.HostLink(), l.HostAddr(), err, host)
	}
	inside, err := ipOut(t, "ip", "-n", l.Name(), "-o", "-4", "addr", "show")
	if err != nil || !strings.Contains(inside, " "+l.NSAddr().String()+"/30 ") {
		t.Errorf("ip -n %s addr: want %s/30 (%v):\n%s", l.Name(), l.NSAddr(), err, inside)
	}
	for _, q := range [][]string{
		{"tc", "qdisc", "show", "dev", l.HostLink()},
		{"ip", "netns", "exec", l.Name(), "tc", "qdisc", "show", "dev", l.nsLink},
	} {
		out, err := ipOut(t, q[0], q[1:]...)
		if err != nil || !strings.Contains(out, "qdisc tbf 1: root") || !strings.Contains(out, "rate 10Mbit") {
			t.Errorf("%v: want a root tbf at 10Mbit (%v):\n%s", q, err, out)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if left := labLeft(t, l); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
}

// A transfer from the host into the namespace crosses the pair and its
// tbf: every byte arrives, and the rate is logged (it runs near
// 10 Mbit/s; the figure is not asserted, as no wall-clock figure is).
// The sockets are made with probe: the server inside the namespace with
// TCPIn and BindAddr, the client on the host with ConnectAddr.
func TestNetLabRate(t *testing.T) {
	needLab(t)
	l, err := newNetLab(labConfig{RateBits: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := probe.New(nil)
	t.Cleanup(p.Stop)
	ln, err := p.TCPIn("server", l.Path())
	if err != nil {
		t.Fatal(err)
	}
	const port = 5001 // the namespace is the test's own: no other socket is in it
	if err := ln.BindAddr(netip.AddrPortFrom(l.NSAddr(), port)); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(1); err != nil {
		t.Fatal(err)
	}
	c, err := p.TCP("client")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ConnectAddr(netip.AddrPortFrom(l.NSAddr(), port), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := c.Local().Addr(); got != l.HostAddr() {
		t.Errorf("client's local address %s, want the host end's %s", got, l.HostAddr())
	}
	a, err := ln.Accept("server", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Remote().Addr(); got != l.HostAddr() {
		t.Errorf("accepted peer %s, want %s", got, l.HostAddr())
	}
	send, recv := fileConn(t, c), fileConn(t, a)
	const total = 2 << 20
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, recv)
		got <- n
	}()
	start := time.Now()
	buf := make([]byte, 64<<10)
	for sent := 0; sent < total; sent += len(buf) {
		if _, err := send.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	send.(*net.TCPConn).CloseWrite()
	n := <-got
	took := time.Since(start)
	if n != total {
		t.Fatalf("received %d bytes of %d", n, total)
	}
	t.Logf("%d bytes across the tbf link in %v: %.2f Mbit/s (tbf rate 10 Mbit/s)", n, took, float64(n)*8/took.Seconds()/1e6)
}

// fileConn wraps a duplicate of ep's descriptor as a net.Conn, so a bulk
// transfer can use Go's blocking writes; it is closed with the test.
func fileConn(t *testing.T, ep *probe.Endpoint) net.Conn {
	t.Helper()
	// os.File closes its descriptor when collected: give it a copy, and
	// ep keeps its own.
	fd, err := syscall.Dup(ep.FD())
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), ep.Name())
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Without CAP_SYS_ADMIN and CAP_NET_ADMIN a lab is refused with
// ErrNeedsRoot and a reason, and nothing is made.
func TestNetLabNeedsRoot(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	before, _ := os.ReadDir(netnsDir)
	l, err := newNetLab(labConfig{})
	if !errors.Is(err, ErrNeedsRoot) {
		t.Fatalf("newNetLab as uid %d: %v, want ErrNeedsRoot", os.Geteuid(), err)
	}
	if l != nil {
		t.Error("a lab was returned with the error")
	}
	if !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("the error does not say what is missing: %v", err)
	}
	after, _ := os.ReadDir(netnsDir)
	if len(after) > len(before) {
		t.Errorf("namespaces appeared: %v -> %v", before, after)
	}
}

// labChildEnv makes the test binary a process that makes a lab, prints
// its name and host link, and waits to be killed.
const labChildEnv = "SOCKTOP_TEST_LAB_CHILD"

// TestNetLabChild is the child of TestNetLabStaleRemoved; run alone it
// has nothing to do.
func TestNetLabChild(t *testing.T) {
	if os.Getenv(labChildEnv) == "" {
		t.Skip("the child of TestNetLabStaleRemoved")
	}
	l, err := newNetLab(labConfig{RateBits: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("lab " + l.Name() + " " + l.HostLink() + "\n")
	select {}
}

// A process killed with SIGKILL cannot close its lab; the next lab made
// on the host removes it, and leaves the labs of live processes alone.
func TestNetLabStaleRemoved(t *testing.T) {
	needLab(t)
	live, err := newNetLab(labConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetLabChild$", "-test.v")
	cmd.Env = append(os.Environ(), labChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dead *netLab
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "lab" {
			dead = &netLab{name: f[1], hostLink: f[2], path: netnsDir + "/" + f[1]}
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	go io.Copy(io.Discard, out)
	cmd.Wait()
	if dead == nil {
		t.Fatal("the child made no lab")
	}
	t.Cleanup(func() { dead.Close() })
	if left := labLeft(t, dead); len(left) == 0 {
		t.Fatal("the killed child's lab is already gone: nothing to test")
	}
	next, err := newNetLab(labConfig{})
	if err != nil {
		t.Fatal(err)
	}
	next.Close()
	if left := labLeft(t, dead); len(left) > 0 {
		t.Errorf("the killed child's lab survived the next start: %v", left)
	}
	if left := labLeft(t, live); len(left) == 0 {
		t.Error("the live lab of this process was removed")
	}
}
