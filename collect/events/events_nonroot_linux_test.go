//go:build linux

package events

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// TestTracefsNotRoot: without privilege the forced tracefs reader is
// refused with an error that wraps ErrUnavailable and says why.
func TestTracefsNotRoot(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	s, err := Open(Options{Mode: ModeTracefs})
	if err == nil {
		s.Close()
		t.Fatalf("forced tracefs opened as uid %d", os.Geteuid())
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %v does not wrap ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "tracefs not accessible") || !strings.Contains(msg, "/sys/kernel/") ||
		!(strings.Contains(msg, "permission denied") || strings.Contains(msg, "operation not permitted")) {
		t.Errorf("error %q should say tracefs is not accessible, where, and that permission was denied", msg)
	}
}

// TestOpenNotRoot: without privilege Open falls back to sampled with one
// notice about transitions that names what was lost and what restores
// it; a forced BPF reader is an error; closed connections, which need no
// privilege, still arrive.
func TestOpenNotRoot(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	if s, err := Open(Options{Mode: ModeBPF}); err == nil {
		s.Close()
		t.Errorf("forced BPF opened as uid %d", os.Geteuid())
	} else if !errors.Is(err, ErrUnavailable) {
		t.Errorf("forced BPF: %v, want an error wrapping ErrUnavailable", err)
	}

	s, err := Open(Options{Closed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Mode() != ModeSampled || s.Mode().Exact() {
		t.Errorf("mode %s, want sampled", s.Mode())
	}
	var about []string
	for _, n := range s.Notices() {
		if strings.Contains(n, "transitions") {
			about = append(about, n)
		}
	}
	if len(about) != 1 {
		t.Fatalf("notices about transitions %q (of %q), want exactly one", about, s.Notices())
	}
	t.Logf("notice: %s", about[0])
	for _, part := range []string{
		"exact transitions off", "sampled", // what was lost
		"BPF refused", "tracefs not accessible", // why
		"run as root", "setcap cap_bpf,cap_perfmon+ep", "access to tracefs", // what restores it
	} {
		if !strings.Contains(about[0], part) {
			t.Errorf("notice %q lacks %q", about[0], part)
		}
	}
	for _, n := range s.Notices() {
		if strings.Contains(n, "closed connections off") {
			t.Errorf("closed connections refused without privilege: %q", n)
		}
	}

	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0))}
	cc, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cookie := socketCookie(t, cc.(*net.TCPConn))
	local := cc.LocalAddr().(*net.TCPAddr).AddrPort()
	cc.Close()
	if n, err := sc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("server read after the client's close: %d, %v", n, err)
	}
	sc.Close()

	var got *collect.Closed
	var seen []collect.Closed
	waitfor.UntilShow(t, 30*time.Second, "the destroy record of the test's client", func() bool {
		_, closed, _, _ := s.Drain(nil, nil)
		for i := range closed {
			if closed[i].Cookie == cookie {
				got = &closed[i]
			} else if closed[i].Local.Addr() == kerneltest.Addr4 {
				seen = append(seen, closed[i])
			}
		}
		return got != nil
	}, func() string { return fmt.Sprintf("records on %s: %+v", kerneltest.Addr4, seen) })
	if got.Proto != collect.TCP || got.Local != local {
		t.Errorf("record %+v, want tcp from %s", got, local)
	}
}

// socketCookie reads a socket's SO_COOKIE, which needs no privilege.
func socketCookie(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cookie uint64
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cookie, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("SO_COOKIE: %v", serr)
	}
	return cookie
}
