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
	"testing"
	"time"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/internal/kerneltest"
)

const loopWait = 15 * time.Second

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

// kernelPathErr says how p differs from want read exactly, every step
// after the first learnt from the kernel, at non-decreasing times; "" if
// it does not.
func kernelPathErr(side string, p []collect.Step, want ...collect.State) string {
	got := make([]collect.State, len(p))
	for i := range p {
		got[i] = p[i].State
	}
	if !slices.Equal(got, want) {
		return fmt.Sprintf("%s path %s, want %v", side, pathString(p), want)
	}
	if !p[0].At.IsZero() {
		return fmt.Sprintf("%s: first step %+v, want no time: the socket's entry into %s was not seen", side, p[0], p[0].State)
	}
	for i := 1; i < len(p); i++ {
		if p[i].Source != collect.Kernel {
			return fmt.Sprintf("%s: step %d %s is %s, want kernel (%s)", side, i, p[i].State, p[i].Source, pathString(p))
		}
		if i > 1 && p[i].At.Before(p[i-1].At) {
			return fmt.Sprintf("%s: step %d %s at %v, before step %d at %v", side, i, p[i].State, p[i].At, i-1, p[i-1].At)
		}
	}
	return ""
}

// endsKernel reports whether p's last step is s, learnt from the kernel.
func endsKernel(p []collect.Step, s collect.State) bool {
	return len(p) > 0 && p[len(p)-1].State == s && p[len(p)-1].Source == collect.Kernel
}

// TestTrackerKernelLoopback follows a real loopback connection through
// the tracker fed by the kernel's events and destroy records, with the
// best reader this machine has and with the tracefs one: both sides'
// paths read the exact states of the state diagram, the client's
// FIN_WAIT_2 -> TIME_WAIT joined to its mini-socket, and the destroy
// records carry the owner (this process) remembered from the dump, the
// bytes the server received and the joined path. The client
// half-closes, so its FIN_WAIT_2 waits for the server's FIN in the full
// socket, which then gives way to the TIME_WAIT mini-socket.
//
// The host is busy: when the stream counted losses during an attempt
// that fell short (the missing steps may be among them), the test makes
// another connection, up to three times.
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
	r := &loopRun{t: t, st: st, src: src}
	const attempts = 3
	for a := 1; ; a++ {
		lost := r.lost
		errs := r.once()
		lost = r.lost - lost
		if len(errs) == 0 {
			return
		}
		if lost == 0 || a == attempts {
			for _, e := range errs {
				t.Error(e)
			}
			if lost > 0 {
				t.Errorf("the stream lost %d events or records during the last of %d attempts", lost, attempts)
			}
			return
		}
		t.Logf("attempt %d lost %d events or records and fell short (%s); again", a, lost, errs[0])
	}
}

// loopRun is the tracker of a test and what the attempts saw through it.
type loopRun struct {
	t    *testing.T
	st   *events.Stream
	src  *collect.Netlink
	tk   collect.Tracker
	lost uint64

	ck, sk      collect.Key
	cp, sp      []collect.Step // the latest paths of client and server
	closed      []collect.ClosedConn
	kernelTrans []collect.Transition
}

// update takes a snapshot, feeds the stream's input and updates the
// tracker, and notes the paths: a gone connection's is forgotten once
// thousands of others went after it, which a busy host does in seconds.
func (r *loopRun) update() collect.Snapshot {
	snap, err := r.src.Snapshot(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	r.st.Feed(&r.tk)
	ch := r.tk.Update(&snap)
	r.lost += ch.Lost
	for _, c := range ch.Closed {
		if c.Key() == r.ck || c.Key() == r.sk {
			r.closed = append(r.closed, c)
		}
	}
	for _, x := range ch.Transitions {
		if x.Source == collect.Kernel && (x.Key == r.ck || x.Key == r.sk) {
			r.kernelTrans = append(r.kernelTrans, x)
		}
	}
	if p := r.tk.Path(r.ck); p != nil {
		r.cp = p
	}
	if p := r.tk.Path(r.sk); p != nil {
		r.sp = p
	}
	return snap
}

// until updates until cond holds, and says what was awaited if it does
// not within the time given.
func (r *loopRun) until(d time.Duration, what string, cond func(*collect.Snapshot) bool) string {
	deadline := time.Now().Add(d)
	for {
		snap := r.update()
		if cond(&snap) {
			return ""
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("gave up after %v waiting for %s: client %s; server %s; %d records",
				d, what, pathString(r.cp), pathString(r.sp), len(r.closed))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *loopRun) record(cookie uint64) *collect.ClosedConn {
	for i := range r.closed {
		if r.closed[i].Cookie == cookie {
			return &r.closed[i]
		}
	}
	return nil
}

// once makes one connection and closes it, and returns what went wrong.
func (r *loopRun) once() []string {
	t := r.t
	r.cp, r.sp, r.closed, r.kernelTrans = nil, nil, nil, nil
	// The connection is made before the first snapshot of the run, whose
	// owner scan then finds it; its events since the stream opened merge
	// there.
	var lcfg net.ListenConfig
	lcfg.SetMultipathTCP(false)
	l, err := lcfg.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.(*net.TCPListener)
	defer ln.Close()
	var d net.Dialer
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := c.(*net.TCPConn)
	defer cl.Close()
	sv, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	clientCookie, serverCookie := kerneltest.Cookie(t, cl), kerneltest.Cookie(t, sv)
	r.ck = collect.Key{Proto: collect.TCP, Local: unmapped(cl.LocalAddr()), Remote: unmapped(cl.RemoteAddr())}
	r.sk = collect.Key{Proto: collect.TCP, Local: r.ck.Remote, Remote: r.ck.Local}

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
	// A dump that lists the server with its owner, for the destroy record.
	// The owner scan spaces itself by its own cost, which on a busy host
	// (and with -race) takes seconds.
	if e := r.until(4*loopWait, "a snapshot listing the server with its owner", func(snap *collect.Snapshot) bool {
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			if s.Cookie == serverCookie && slices.ContainsFunc(s.Owners, func(o collect.Owner) bool { return o.PID == os.Getpid() }) {
				return true
			}
		}
		return false
	}); e != "" {
		return []string{e}
	}

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
	if e := r.until(loopWait, "the client's kernel TIME_WAIT, the server's kernel CLOSED and its destroy record", func(*collect.Snapshot) bool {
		return endsKernel(r.cp, collect.StateTimeWait) && endsKernel(r.sp, collect.StateClosed) && r.record(serverCookie) != nil
	}); e != "" {
		return []string{e}
	}

	var errs []string
	add := func(e string) {
		if e != "" {
			errs = append(errs, e)
		}
	}
	add(kernelPathErr("client", r.cp, collect.StateClosed, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait))
	add(kernelPathErr("server", r.sp, collect.StateListen, collect.StateSynRecv, collect.StateEstablished,
		collect.StateCloseWait, collect.StateLastAck, collect.StateClosed))
	if len(r.cp) == 6 && len(r.sp) == 6 && r.cp[5].At.Before(r.sp[4].At) {
		add(fmt.Sprintf("client entered TIME_WAIT at %v, before the server's FIN (LAST_ACK at %v)", r.cp[5].At, r.sp[4].At))
	}
	joined := slices.ContainsFunc(r.kernelTrans, func(x collect.Transition) bool {
		return x.Key == r.ck && x.From == collect.StateFinWait2 && x.To == collect.StateTimeWait
	})
	unjoined := slices.ContainsFunc(r.kernelTrans, func(x collect.Transition) bool {
		return x.Key == r.ck && x.To == collect.StateClosed
	})
	if !joined || unjoined {
		add(fmt.Sprintf("client's kernel transitions %+v: want FIN_WAIT_2 -> TIME_WAIT and no CLOSED", r.kernelTrans))
	}

	rec := r.record(serverCookie)
	if !rec.OwnersKnown || !slices.ContainsFunc(rec.Owners, func(o collect.Owner) bool { return o.PID == os.Getpid() }) {
		add(fmt.Sprintf("server's record owners %v (known %v), want this process %d", rec.Owners, rec.OwnersKnown, os.Getpid()))
	}
	// The kernel counts sequence space: each side's FIN is one more.
	if rec.Info == nil || rec.Info.BytesReceived != 4+1 || rec.Info.BytesAcked != 5+1 {
		add(fmt.Sprintf("server's record tcp_info %+v, want 4 bytes and the FIN received, 5 and the FIN acked", rec.Info))
	}
	if d, ok := rec.Lifetime(); !ok || d <= 0 {
		add(fmt.Sprintf("server's lifetime %v %v", d, ok))
	}
	add(kernelPathErr("server's record", rec.Path, collect.StateListen, collect.StateSynRecv, collect.StateEstablished,
		collect.StateCloseWait, collect.StateLastAck, collect.StateClosed))

	// The client's full socket is destroyed when its descriptor goes; its
	// record has the joined path.
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if e := r.until(loopWait, "the client's destroy record", func(*collect.Snapshot) bool { return r.record(clientCookie) != nil }); e != "" {
		return append(errs, e)
	}
	add(kernelPathErr("client's record", r.record(clientCookie).Path, collect.StateClosed, collect.StateSynSent,
		collect.StateEstablished, collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait))
	return errs
}
