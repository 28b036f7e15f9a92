//go:build linux

package collect_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/internal/waitfor"
)

const loopWait = 15 * time.Second

func sockCookie(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cookie uint64
	var gerr error
	if err := rc.Control(func(fd uintptr) { cookie, gerr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil || cookie == 0 {
		t.Fatalf("SO_COOKIE: %d, %v", cookie, gerr)
	}
	return cookie
}

func unmapped(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func pathString(p []collect.Step) string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteString(" -> ")
		}
		fmt.Fprintf(&b, "%s(%s)", s.State, s.Source)
	}
	return b.String()
}

// checkKernelPath checks that p reads want exactly, every step after the
// first learnt from the kernel, at non-decreasing times.
func checkKernelPath(t *testing.T, side string, p []collect.Step, want ...collect.State) {
	t.Helper()
	got := make([]collect.State, len(p))
	for i := range p {
		got[i] = p[i].State
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s path %s, want %v", side, pathString(p), want)
		return
	}
	if !p[0].At.IsZero() {
		t.Errorf("%s: first step %+v, want no time: the socket's entry into %s was not seen", side, p[0], p[0].State)
	}
	for i := 1; i < len(p); i++ {
		if p[i].Source != collect.Kernel {
			t.Errorf("%s: step %d %s is %s, want kernel (%s)", side, i, p[i].State, p[i].Source, pathString(p))
		}
		if i > 1 && p[i].At.Before(p[i-1].At) {
			t.Errorf("%s: step %d %s at %v, before step %d at %v", side, i, p[i].State, p[i].At, i-1, p[i-1].At)
		}
	}
}

// TestTrackerKernelLoopback follows a real loopback connection through
// the tracker fed by the kernel's events and destroy records, with the
// best reader this machine has and with the tracefs one: both sides'
// paths read the exact states of the state diagram, the client's
// FIN_WAIT_2 -> TIME_WAIT joined to its mini-socket, and the server's
// destroy record carries the owner (this process) remembered from the
// dump and the bytes it received. The client half-closes, so its FIN_WAIT_2
// waits for the server's FIN in the full socket, which then gives way to
// the TIME_WAIT mini-socket.
func TestTrackerKernelLoopback(t *testing.T) {
	for _, mode := range []events.Mode{"", events.ModeTracefs} {
		name := string(mode)
		if name == "" {
			name = "best"
		}
		t.Run(name, func(t *testing.T) { testTrackerLoopback(t, mode) })
	}
}

func testTrackerLoopback(t *testing.T, mode events.Mode) {
	st, err := events.Open(events.Options{Mode: mode, Closed: true})
	if err != nil {
		if mode != "" {
			t.Skipf("the %s reader cannot run here: %v", mode, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if st.Mode() == events.ModeSampled {
		t.Skipf("no tracepoint reader here, so transitions are only sampled and no path is exact: %v", st.Notices())
	}
	src := collect.NewNetlink(collect.Options{Owners: true})
	t.Cleanup(func() { src.Close() })

	var tk collect.Tracker
	var closed []collect.ClosedConn
	var kernelTrans []collect.Transition
	var ck, sk collect.Key
	update := func() collect.Snapshot {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		st.Feed(&tk)
		ch := tk.Update(&snap)
		if os.Getenv("TRK_DEBUG") != "" {
			t.Logf("update: %d sockets, %d transitions, feed+update %v, owners %v", len(snap.Sockets), len(ch.Transitions), time.Since(t0), snap.Owners)
		}
		closed = append(closed, ch.Closed...)
		for _, x := range ch.Transitions {
			if x.Source == collect.Kernel && (x.Key == ck || x.Key == sk) {
				kernelTrans = append(kernelTrans, x)
			}
		}
		return snap
	}

	// The connection is made before the first snapshot, whose owner scan
	// then finds it; its events since the stream opened merge there.
	var lcfg net.ListenConfig
	lcfg.SetMultipathTCP(false)
	l, err := lcfg.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.(*net.TCPListener)
	t.Cleanup(func() { ln.Close() })
	var d net.Dialer
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := c.(*net.TCPConn)
	t.Cleanup(func() { cl.Close() })
	sv, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sv.Close() })
	clientCookie, serverCookie := sockCookie(t, cl), sockCookie(t, sv)
	ck = collect.Key{Proto: collect.TCP, Local: unmapped(cl.LocalAddr()), Remote: unmapped(cl.RemoteAddr())}
	sk = collect.Key{Proto: collect.TCP, Local: ck.Remote, Remote: ck.Local}

	for _, m := range []struct {
		from, to *net.TCPConn
		msg      string
	}{{cl, sv, "ping"}, {sv, cl, "pong!"}} {
		if _, err := m.from.Write([]byte(m.msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(m.msg))
		m.to.SetReadDeadline(time.Now().Add(loopWait))
		if _, err := io.ReadFull(m.to, buf); err != nil {
			t.Fatal(err)
		}
	}
	update()
	// A dump that lists the server with its owner, for the destroy record.
	// The owner scan spaces itself by its own cost, which on a busy host
	// (and with -race) takes seconds.
	waitfor.Until(t, 4*loopWait, "a snapshot listing the server with its owner", func() bool {
		snap := update()
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			if s.Cookie == serverCookie && slices.ContainsFunc(s.Owners, func(o collect.Owner) bool { return o.PID == os.Getpid() }) {
				return true
			}
		}
		return false
	})

	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	sv.SetReadDeadline(time.Now().Add(loopWait))
	if n, err := sv.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("server read after the client's FIN: %d, %v; want EOF", n, err)
	}
	if err := sv.Close(); err != nil {
		t.Fatal(err)
	}
	last := func(k collect.Key) collect.State {
		p := tk.Path(k)
		if len(p) == 0 {
			return collect.StateUnknown
		}
		return p[len(p)-1].State
	}
	hasRecord := func(cookie uint64) bool {
		return slices.ContainsFunc(closed, func(c collect.ClosedConn) bool { return c.Cookie == cookie })
	}
	waitfor.UntilShow(t, loopWait, "the client in TIME_WAIT, the server CLOSED and its destroy record", func() bool {
		update()
		return last(ck) == collect.StateTimeWait && last(sk) == collect.StateClosed && hasRecord(serverCookie)
	}, func() string {
		return fmt.Sprintf("client %s; server %s; %d records", pathString(tk.Path(ck)), pathString(tk.Path(sk)), len(closed))
	})

	checkKernelPath(t, "client", tk.Path(ck), collect.StateClosed, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait)
	sp := tk.Path(sk)
	checkKernelPath(t, "server", sp, collect.StateListen, collect.StateSynRecv, collect.StateEstablished,
		collect.StateCloseWait, collect.StateLastAck, collect.StateClosed)
	if cp := tk.Path(ck); len(cp) == 6 && len(sp) == 6 && cp[5].At.Before(sp[4].At) {
		t.Errorf("client entered TIME_WAIT at %v, before the server's FIN (LAST_ACK at %v)", cp[5].At, sp[4].At)
	}
	joined := slices.ContainsFunc(kernelTrans, func(x collect.Transition) bool {
		return x.Key == ck && x.From == collect.StateFinWait2 && x.To == collect.StateTimeWait
	})
	unjoined := slices.ContainsFunc(kernelTrans, func(x collect.Transition) bool {
		return x.Key == ck && x.To == collect.StateClosed
	})
	if !joined || unjoined {
		t.Errorf("client's kernel transitions %+v: want FIN_WAIT_2 -> TIME_WAIT and no CLOSED", kernelTrans)
	}

	i := slices.IndexFunc(closed, func(c collect.ClosedConn) bool { return c.Cookie == serverCookie })
	rec := closed[i]
	if !rec.OwnersKnown || !slices.ContainsFunc(rec.Owners, func(o collect.Owner) bool { return o.PID == os.Getpid() }) {
		t.Errorf("server's record owners %v (known %v), want this process %d", rec.Owners, rec.OwnersKnown, os.Getpid())
	}
	// The kernel counts sequence space: each side's FIN is one more.
	if rec.Info == nil || rec.Info.BytesReceived != 4+1 || rec.Info.BytesAcked != 5+1 {
		t.Errorf("server's record tcp_info %+v, want 4 bytes and the FIN received, 5 and the FIN acked", rec.Info)
	}
	if d, ok := rec.Lifetime(); !ok || d <= 0 {
		t.Errorf("server's lifetime %v %v", d, ok)
	}
	checkKernelPath(t, "server's record", rec.Path, collect.StateListen, collect.StateSynRecv, collect.StateEstablished,
		collect.StateCloseWait, collect.StateLastAck, collect.StateClosed)

	// The client's full socket is destroyed when its descriptor goes; its
	// record has the joined path.
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, loopWait, "the client's destroy record", func() bool {
		update()
		return hasRecord(clientCookie)
	})
	rec = closed[slices.IndexFunc(closed, func(c collect.ClosedConn) bool { return c.Cookie == clientCookie })]
	checkKernelPath(t, "client's record", rec.Path, collect.StateClosed, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait)
}
