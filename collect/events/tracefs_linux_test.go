//go:build linux

package events

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// side is the path one end of the test connection took, as events.
type side struct {
	name string
	evs  []collect.StateEvent
	want []collect.State // From of the first event, then each To
}

func (s *side) path() []collect.State {
	if len(s.evs) == 0 {
		return nil
	}
	p := []collect.State{s.evs[0].From}
	for _, e := range s.evs {
		p = append(p, e.To)
	}
	return p
}

func (s *side) String() string { return fmt.Sprintf("%s %v (want %v)", s.name, s.path(), s.want) }

// TestTracefsConnection forces the tracefs reader through Open and
// follows one loopback connection on the test's own address, the client
// closing first: the listener, the client and the server child each
// take their exact path, in order, with times inside the test's run.
func TestTracefsConnection(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the tracefs reader needs root; TestTracefsNotRoot covers the refusal")
	}
	s, err := Open(Options{Mode: ModeTracefs})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	if s.Mode() != ModeTracefs {
		t.Fatalf("mode %s, want tracefs", s.Mode())
	}
	t.Logf("notices: %q", s.Notices())
	rd := s.rd.(*tracefsReader)
	if !strings.HasSuffix(rd.dir, fmt.Sprintf("/instances/socktop-%d", os.Getpid())) &&
		!strings.Contains(rd.dir, fmt.Sprintf("/instances/socktop-%d-", os.Getpid())) {
		t.Errorf("instance %s, want instances/socktop-%d", rd.dir, os.Getpid())
	}
	if b, err := os.ReadFile(filepath.Join(rd.dir, "trace_clock")); err != nil || !strings.Contains(string(b), "[mono]") {
		t.Errorf("trace_clock %q (%v), want mono selected", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(rd.dir, eventDir, "filter")); err != nil || strings.TrimSpace(string(b)) != tracefsFilter {
		t.Errorf("filter %q (%v), want %q", b, err, tracefsFilter)
	}

	before := time.Now()
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnAddr := ln.Addr().(*net.TCPAddr).AddrPort()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0))}
	cc, err := d.Dial("tcp4", lnAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	clientAddr := cc.LocalAddr().(*net.TCPAddr).AddrPort()
	serverAddr := sc.LocalAddr().(*net.TCPAddr).AddrPort()
	cc.Close()
	if n, err := sc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("server read after the client's close: %d, %v", n, err)
	}
	sc.Close()
	ln.Close()

	C := collect.StateClosed
	listener := &side{name: "listener", want: []collect.State{C, collect.StateListen, C}}
	client := &side{name: "client", want: []collect.State{C, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, C}}
	server := &side{name: "server", want: []collect.State{collect.StateListen, collect.StateSynRecv,
		collect.StateEstablished, collect.StateCloseWait, collect.StateLastAck, C}}
	var stray []collect.StateEvent
	show := func() string {
		return fmt.Sprintf("%v; %v; %v; events on %s of no side: %+v", listener, client, server, kerneltest.Addr4, stray)
	}
	done := func(sd *side) bool { return len(sd.evs) >= len(sd.want)-1 }
	waitfor.UntilShow(t, 30*time.Second, "the three paths' events", func() bool {
		evs, _, _, _ := s.Drain(nil, nil)
		for _, e := range evs {
			if e.Local.Addr() != kerneltest.Addr4 && e.Remote.Addr() != kerneltest.Addr4 {
				continue // the host's own connections
			}
			switch {
			case e.Local == lnAddr && e.Remote.Addr().IsUnspecified() && e.Remote.Port() == 0:
				listener.evs = append(listener.evs, e)
			case e.Remote == serverAddr && (e.Local == clientAddr ||
				(e.Local.Port() == 0 && e.Local.Addr() == kerneltest.Addr4)):
				client.evs = append(client.evs, e)
			case e.Local == serverAddr && e.Remote == clientAddr:
				server.evs = append(server.evs, e)
			default:
				stray = append(stray, e)
			}
		}
		return done(listener) && done(client) && done(server)
	}, show)
	after := time.Now()

	for _, sd := range []*side{listener, client, server} {
		if !slices.Equal(sd.path(), sd.want) {
			t.Errorf("%s path %v, want %v", sd.name, sd.path(), sd.want)
		}
		for i, e := range sd.evs {
			if e.Proto != collect.TCP || e.Family != 4 || e.Cookie != 0 || e.NetNS != 0 {
				t.Errorf("%s event %d: %+v, want tcp, family 4, cookie and netns 0", sd.name, i, e)
			}
			if i > 0 && e.From != sd.evs[i-1].To {
				t.Errorf("%s event %d goes from %v, the one before ended in %v", sd.name, i, e.From, sd.evs[i-1].To)
			}
			if i > 0 && e.Time.Before(sd.evs[i-1].Time) {
				t.Errorf("%s event %d at %v, before the one before at %v", sd.name, i, e.Time, sd.evs[i-1].Time)
			}
			// The kernel's mono clock is CLOCK_MONOTONIC, printed in whole
			// microseconds, so an event falls inside the test's own run.
			if e.Time.Before(before.Add(-time.Microsecond)) || e.Time.After(after) {
				t.Errorf("%s event %d at %v, outside the test's run %v .. %v", sd.name, i, e.Time, before, after)
			}
		}
	}
	if len(client.evs) > 0 && client.evs[0].Local.Port() != 0 && client.evs[0].Local != clientAddr {
		t.Errorf("client's SYN_SENT from %s, want port 0 or %s", client.evs[0].Local, clientAddr)
	}
	if len(stray) > 0 {
		t.Errorf("events on the test's address belonging to no side: %+v", stray)
	}
	if st := s.Stats(); st.Events < 12 {
		t.Errorf("stats count %d events, want at least the test's 12", st.Events)
	}

	closed = true
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Stat(rd.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance %s after Close: %v, want it gone", rd.dir, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestTracefsStaleInstance: an instance named for a process that is gone
// is removed when the next reader opens; one of a live process stays.
func TestTracefsStaleInstance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making tracefs instances needs root")
	}
	root, _, err := findTracefs()
	if err != nil {
		t.Fatal(err)
	}
	// A pid past pid_max is never alive; pid 1 always is.
	dead := filepath.Join(root, "instances", "socktop-99999999")
	live := filepath.Join(root, "instances", "socktop-1-test")
	for _, d := range []string{dead, live} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	defer os.Remove(live)
	defer os.Remove(dead)
	rd, err := openTracefs()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.close()
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale instance %s: %v, want it removed", dead, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live process's instance %s: %v, want it kept", live, err)
	}
}

// TestTracefsCloseBeforeRun: a reader closed before its run started
// removes its instance, and its run then returns at once.
func TestTracefsCloseBeforeRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making tracefs instances needs root")
	}
	rd, err := openTracefs()
	if err != nil {
		t.Fatal(err)
	}
	dir := rd.(*tracefsReader).dir
	if err := rd.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance %s after close: %v, want it gone", dir, err)
	}
	if err := rd.run(func([]collect.StateEvent) { t.Error("events after close") }); err != nil {
		t.Errorf("run after close: %v", err)
	}
}

// TestTracefsPanicRemovesInstance: a panic in the reader goroutine (here
// from emit) still removes the instance before it goes on up.
func TestTracefsPanicRemovesInstance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making tracefs instances needs root")
	}
	rd, err := openTracefs()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.close()
	dir := rd.(*tracefsReader).dir
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // LISTEN and back: two events, whatever else the host does
	p := func() (p any) {
		defer func() { p = recover() }()
		rd.run(func([]collect.StateEvent) { panic("emit failed") })
		return nil
	}()
	if p != "emit failed" {
		t.Fatalf("run's panic %v, want emit's", p)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance %s after the panic: %v, want it gone", dir, err)
	}
}

// mountnsEnv names the test a child in a mount namespace of its own is for.
const mountnsEnv = "SOCKTOP_TEST_MOUNTNS"

// TestTracefsMountsIt: where tracefs is not mounted the reader mounts it
// at /sys/kernel/tracing and says so. It runs this test binary again in a
// private mount namespace, where the host's tracefs mounts are taken
// away without touching the host's own.
func TestTracefsMountsIt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tracefs needs root")
	}
	if os.Getenv(mountnsEnv) != t.Name() {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), mountnsEnv+"="+t.Name())
		// Go makes / recursively private in the child before it runs.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s in a mount namespace of its own: %v\n%s", t.Name(), err, out)
		}
		if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("%s did not pass in its own mount namespace:\n%s", t.Name(), out)
		}
		t.Logf("in a mount namespace of its own:\n%s", out)
		return
	}
	for _, dir := range []string{tracefsDir, tracefsDebugDir} {
		for isTracefs(dir) {
			if err := unix.Unmount(dir, 0); err != nil {
				t.Fatalf("unmount %s in the test's mount namespace: %v", dir, err)
			}
		}
	}
	s, err := Open(Options{Mode: ModeTracefs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !isTracefs(tracefsDir) {
		t.Errorf("%s is no tracefs after Open", tracefsDir)
	}
	var said bool
	for _, n := range s.Notices() {
		said = said || strings.Contains(n, "mounted it at "+tracefsDir)
	}
	if !said {
		t.Errorf("notices %q do not say tracefs was mounted", s.Notices())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !isTracefs(tracefsDir) {
		t.Errorf("%s was unmounted at Close", tracefsDir)
	}
}

// TestTracefsCloseUnderChurn: Close returns while connections keep
// coming, when trace_pipe need never run dry.
func TestTracefsCloseUnderChurn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the tracefs reader needs root")
	}
	s, err := Open(Options{Mode: ModeTracefs})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.rd.(*tracefsReader).dir
	stop := make(chan struct{})
	churned := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				churned <- nil
				return
			default:
			}
			ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
			if err != nil {
				churned <- err
				return
			}
			ln.Close()
		}
	}()
	defer func() {
		close(stop)
		if err := <-churned; err != nil {
			t.Errorf("churn: %v", err)
		}
	}()
	waitfor.Until(t, 30*time.Second, "events from the churn", func() bool { return s.Stats().Events > 100 })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitfor.Recv(t, 30*time.Second, "Close under churn to return", closed, func(err error, _ bool) bool {
		if err != nil {
			t.Errorf("close: %v", err)
		}
		return true
	}, func() string { return "" })
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance %s after Close: %v, want it gone", dir, err)
	}
}

// TestTracefsLost: events the instance's buffer could not hold are
// counted. With a one-page buffer per CPU and no reader, the test's own
// listeners overflow it: what the buffer still holds and what lost
// counts make up at least the events the test caused.
func TestTracefsLost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making tracefs instances needs root")
	}
	rd, err := openTracefs()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.close()
	r := rd.(*tracefsReader)
	if err := writeTracefs(filepath.Join(r.dir, "buffer_size_kb"), "4"); err != nil {
		t.Fatal(err)
	}
	if n := r.lost(); n != 0 {
		t.Fatalf("lost %d before any event", n)
	}
	const listeners = 2000 // two events each, CLOSE -> LISTEN -> CLOSE
	for range listeners {
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
	}
	held := uint64(0)
	cpus, _ := filepath.Glob(filepath.Join(r.dir, "per_cpu", "cpu*", "stats"))
	for _, p := range cpus {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "entries:"); ok {
				n, _ := parseDecimal([]byte(strings.TrimSpace(v)))
				held += n
			}
		}
	}
	lost := r.lost()
	t.Logf("%d CPUs: %d events held, %d lost", len(cpus), held, lost)
	if lost == 0 || held+lost < 2*listeners {
		t.Errorf("held %d + lost %d, want at least the test's %d events, some of them lost", held, lost, 2*listeners)
	}
	if err := rd.close(); err != nil {
		t.Fatal(err)
	}
	// The host's own TCP events may have added to it by close.
	if n := r.lost(); n < lost {
		t.Errorf("lost %d after close, want the last count, at least %d", n, lost)
	}
}
