//go:build linux

package segments

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
)

func TestMain(m *testing.M) { kerneltest.Main(m) }

// waitBound bounds the waits for segments the kernel has already sent;
// it decides nothing but how long a failing test hangs.
const waitBound = 20 * time.Second

// needRoot skips a capture test without CAP_NET_RAW; TestStartNotRoot
// covers that path.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("capturing needs root")
	}
}

func startCapture(t *testing.T, ports ...uint16) *Capture {
	t.Helper()
	c, err := Start(Options{Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func listen(t *testing.T, network, addr string) (net.Listener, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).AddrPort()
}

// conn is one test connection, its ends as the client sees them.
type conn struct {
	client, server netip.AddrPort
	c, s           *net.TCPConn
}

func dial(t *testing.T, ln net.Listener) *conn {
	t.Helper()
	c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &conn{
		client: c.LocalAddr().(*net.TCPAddr).AddrPort(),
		server: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
		c:      c.(*net.TCPConn), s: s.(*net.TCPConn),
	}
}

// quickAck makes the kernel send a delayed ACK of what conn received now,
// so the test's segments do not depend on the delayed-ACK timer: a FIN
// puts the receiver in pingpong mode, and a close within its 40 ms would
// send one FIN,ACK instead of an ACK and a FIN.
func quickAck(t *testing.T, c *net.TCPConn) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// politeClose runs the exchange: the client sends payload and closes,
// the server reads to the end and closes.
func politeClose(t *testing.T, k *conn, payload string) {
	t.Helper()
	if _, err := k.c.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(payload))
	if _, err := io.ReadFull(k.s, buf); err != nil {
		t.Fatal(err)
	}
	quickAck(t, k.s)
	if err := k.c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := k.s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("server read after the client's close: %d, %v; want EOF", n, err)
	}
	quickAck(t, k.s)
	if err := k.s.Close(); err != nil {
		t.Fatal(err)
	}
}

// of reports whether s belongs to k's 4-tuple, in either direction.
func (k *conn) of(s *Segment) bool {
	return s.Src == k.client && s.Dst == k.server || s.Src == k.server && s.Dst == k.client
}

// gather drains c into all until done says the segments are complete.
func gather(t *testing.T, c *Capture, all []Segment, done func([]Segment) bool) []Segment {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !done(all) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for segments; have %d:\n%s", len(all), dump(all))
		}
		time.Sleep(time.Millisecond)
		all = c.Drain(all)
	}
	return all
}

// fence makes a connection to ln and collects until its SYN arrived: the
// kernel delivers loopback packets in order, so every segment sent
// before the fence is then in the result.
func fence(t *testing.T, c *Capture, ln net.Listener, all []Segment) []Segment {
	t.Helper()
	f := dial(t, ln)
	return gather(t, c, all, func(segs []Segment) bool {
		for i := range segs {
			if segs[i].Src == f.client && segs[i].Flags == SYN {
				return true
			}
		}
		return false
	})
}

// only returns the segments of k, in order.
func (k *conn) only(all []Segment) []Segment {
	var out []Segment
	for i := range all {
		if k.of(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}

func dump(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		fmt.Fprintf(&b, "%s %s > %s %s seq %d ack %d len %d win %d\n",
			s.Time.Format("15:04:05.000000"), s.Src, s.Dst, s.Flags, s.Seq, s.Ack, s.Len, s.Win)
	}
	return b.String()
}

// step is one expected segment: who sent it, its SYN/ACK/FIN/RST bits,
// its payload length.
type step struct {
	fromClient bool
	flags      Flags
	len        int
}

const control = SYN | ACK | FIN | RST

func checkSteps(t *testing.T, k *conn, got []Segment, want []step) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		w := want[i]
		from := k.server
		if w.fromClient {
			from = k.client
		}
		ok = got[i].Src == from && got[i].Flags&control == w.flags && got[i].Len == w.len
	}
	if !ok {
		var b strings.Builder
		for _, w := range want {
			who := "server"
			if w.fromClient {
				who = "client"
			}
			fmt.Fprintf(&b, "%s %s len %d\n", who, w.flags, w.len)
		}
		t.Fatalf("segments of %s <-> %s:\n%swant:\n%s", k.client, k.server, dump(got), b.String())
	}
}

// TestCapturePoliteClose: a connection on the test's own loopback
// address, IPv4 and IPv6, shows the handshake, the data and its ACK, and
// both FINs with their ACKs, each once, with consistent numbers and
// times from the kernel.
func TestCapturePoliteClose(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct{ name, network, addr string }{
		{"ipv4", "tcp4", kerneltest.Addr4.String()},
		{"ipv6", "tcp6", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, srv := listen(t, tc.network, tc.addr)
			c := startCapture(t, srv.Port())
			before := time.Now()
			k := dial(t, ln)
			politeClose(t, k, "hello")
			after := time.Now()
			all := gather(t, c, nil, func(segs []Segment) bool { return len(k.only(segs)) >= 9 })
			got := k.only(fence(t, c, ln, all))
			checkSteps(t, k, got, []step{
				{true, SYN, 0},
				{false, SYN | ACK, 0},
				{true, ACK, 0},
				{true, ACK, 5},
				{false, ACK, 0},
				{true, FIN | ACK, 0},
				{false, ACK, 0},
				{false, FIN | ACK, 0},
				{true, ACK, 0},
			})
			cisn, sisn := got[0].Seq, got[1].Seq
			numbers := []struct {
				i        int
				seq, ack uint32
			}{
				{1, sisn, cisn + 1}, {2, cisn + 1, sisn + 1}, {3, cisn + 1, sisn + 1},
				{4, sisn + 1, cisn + 6}, {5, cisn + 6, sisn + 1}, {6, sisn + 1, cisn + 7},
				{7, sisn + 1, cisn + 7}, {8, cisn + 7, sisn + 2},
			}
			for _, n := range numbers {
				if got[n.i].Seq != n.seq || got[n.i].Ack != n.ack {
					t.Errorf("segment %d: seq %d ack %d, want %d %d\n%s", n.i, got[n.i].Seq, got[n.i].Ack, n.seq, n.ack, dump(got))
				}
			}
			if got[0].Win == 0 || got[1].Win == 0 {
				t.Errorf("handshake windows %d, %d: want the advertised ones", got[0].Win, got[1].Win)
			}
			for i := range got {
				if got[i].Time.Before(before) || got[i].Time.After(after) {
					t.Errorf("segment %d at %s, outside the exchange %s .. %s", i, got[i].Time, before, after)
				}
				if i > 0 && got[i].Time.Before(got[i-1].Time) {
					t.Errorf("segment %d at %s before segment %d at %s", i, got[i].Time, i-1, got[i-1].Time)
				}
			}
		})
	}
}

// TestCaptureAbortiveClose: a close with SO_LINGER 0 sends an RST and no
// FIN.
func TestCaptureAbortiveClose(t *testing.T) {
	needRoot(t)
	ln, srv := listen(t, "tcp4", kerneltest.Addr4.String())
	c := startCapture(t, srv.Port())
	k := dial(t, ln)
	if _, err := k.c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(k.s, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	quickAck(t, k.s)
	if err := k.c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := k.c.Close(); err != nil {
		t.Fatal(err)
	}
	all := gather(t, c, nil, func(segs []Segment) bool {
		segs = k.only(segs)
		return len(segs) > 0 && segs[len(segs)-1].Flags&RST != 0
	})
	got := k.only(fence(t, c, ln, all))
	checkSteps(t, k, got, []step{
		{true, SYN, 0},
		{false, SYN | ACK, 0},
		{true, ACK, 0},
		{true, ACK, 2},
		{false, ACK, 0},
		{true, RST | ACK, 0},
	})
	if got[5].Seq != got[0].Seq+3 {
		t.Errorf("RST seq %d, want the client's next byte %d", got[5].Seq, got[0].Seq+3)
	}
}

// TestCaptureFilter: the kernel's filter passes only the chosen port: a
// connection on another port, made first, is not captured, while one on
// the chosen port, made after it, is.
func TestCaptureFilter(t *testing.T) {
	needRoot(t)
	lnA, srvA := listen(t, "tcp4", kerneltest.Addr4.String())
	lnB, srvB := listen(t, "tcp4", kerneltest.Addr4.String())
	c := startCapture(t, srvA.Port())
	other := dial(t, lnB)
	politeClose(t, other, "not me")
	all := fence(t, c, lnA, nil)
	for i := range all {
		s := &all[i]
		if s.Src.Port() != srvA.Port() && s.Dst.Port() != srvA.Port() {
			t.Errorf("captured a segment without port %d: %s", srvA.Port(), dump(all[i:i+1]))
		}
		if other.of(s) {
			t.Errorf("captured the connection on port %d: %s", srvB.Port(), dump(all[i:i+1]))
		}
	}
}

// TestCaptureKernelTime: a segment's time is when the kernel saw it, not
// when the reader got to it. The reader is held while a handshake runs,
// so it reads the SYN-ACK after connect returned; the kernel saw it
// before.
func TestCaptureKernelTime(t *testing.T) {
	needRoot(t)
	ln, srv := listen(t, "tcp4", kerneltest.Addr4.String())
	c := startCapture(t, srv.Port())
	c.mu.Lock()
	k := dial(t, ln)
	connected := time.Now()
	c.mu.Unlock()
	all := gather(t, c, nil, func(segs []Segment) bool { return len(k.only(segs)) >= 3 })
	got := k.only(all)
	checkSteps(t, k, got[:3], []step{{true, SYN, 0}, {false, SYN | ACK, 0}, {true, ACK, 0}})
	for i := range got[:3] {
		if !got[i].Time.Before(connected) {
			t.Errorf("handshake segment %d at %s, not before connect returned at %s", i, got[i].Time, connected)
		}
	}
}

// TestCaptureLost: segments beyond what the capture holds undrained are
// counted, not kept.
func TestCaptureLost(t *testing.T) {
	needRoot(t)
	ln, srv := listen(t, "tcp4", kerneltest.Addr4.String())
	c := startCapture(t, srv.Port())
	c.mu.Lock()
	c.max = 2
	c.mu.Unlock()
	politeClose(t, dial(t, ln), "hello")
	deadline := time.Now().Add(waitBound)
	for c.Lost() < 7 {
		if time.Now().After(deadline) {
			t.Fatalf("lost %d of the 9 segments, want at least 7 with room for 2", c.Lost())
		}
		time.Sleep(time.Millisecond)
	}
	if got := c.Drain(nil); len(got) != 2 {
		t.Errorf("kept %d segments, want 2:\n%s", len(got), dump(got))
	}
}

// TestCaptureRingFull: while the reader is held, the kernel fills the
// ring and drops the rest; Lost counts them, and keeps counting across
// calls though the kernel zeroes its count on each read; once the reader
// has emptied the ring, capture goes on.
func TestCaptureRingFull(t *testing.T) {
	needRoot(t)
	ln, srv := listen(t, "tcp4", kerneltest.Addr4.String())
	c := startCapture(t, srv.Port())
	c.mu.Lock()
	// Each connection is a SYN, a SYN-ACK, an ACK and an RST, and leaves
	// no TIME_WAIT behind.
	const conns = ringFrames/4 + 200
	for range conns {
		k := dial(t, ln)
		if err := k.c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		k.c.Close()
		k.s.Close()
	}
	c.mu.Unlock()
	lost := c.Lost()
	if lost == 0 {
		t.Fatalf("no loss counted after %d segments into a ring of %d", 4*conns, ringFrames)
	}
	// The ring is free again once its whole content is drained.
	all := gather(t, c, nil, func(segs []Segment) bool { return len(segs) >= ringFrames })
	if len(all) > ringFrames+1 {
		t.Errorf("drained %d segments, more than the ring's %d and the one in hand", len(all), ringFrames)
	}
	fence(t, c, ln, all)
	if again := c.Lost(); again < lost {
		t.Errorf("Lost went from %d to %d", lost, again)
	}
}

// TestStartBadOptions: no ports, port 0 and too many ports are errors.
func TestStartBadOptions(t *testing.T) {
	many := make([]uint16, maxPorts+1)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	for _, ports := range [][]uint16{nil, {0}, {80, 0}, many} {
		if c, err := Start(Options{Ports: ports}); err == nil {
			c.Close()
			t.Errorf("Start with ports %v: no error", ports)
		}
	}
}

// TestStartManyPorts: the most ports allowed still compile into a
// filter the kernel takes.
func TestStartManyPorts(t *testing.T) {
	needRoot(t)
	many := make([]uint16, maxPorts)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	startCapture(t, many...)
}

const notRootEnv = "SOCKTOP_SEGMENTS_NOTROOT"

// TestStartNotRoot runs this test binary as nobody with no capabilities:
// Start fails with ErrUnavailable and says what restores it.
func TestStartNotRoot(t *testing.T) {
	if os.Getenv(notRootEnv) == "1" || os.Geteuid() != 0 {
		_, err := Start(Options{Ports: []uint16{9}})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Start without CAP_NET_RAW: %v, want ErrUnavailable", err)
		}
		for _, s := range []string{"CAP_NET_RAW", "root", "setcap cap_net_raw+ep", "lost"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "segments.test")
	if err := kerneltest.CopyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.run=^TestStartNotRoot$", "-test.v", "-test.count=1"}
	var cmd *exec.Cmd
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		cmd = exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), notRootEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged run failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestStartNotRoot") {
		t.Fatalf("unprivileged run did not pass:\n%s", out)
	}
}
