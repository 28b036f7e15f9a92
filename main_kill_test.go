//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"socktop/internal/kerneltest"
)

// killPair returns a connected TCP pair on the test binary's own
// 127.a.b.c address, and the listener's port.
func killPair(t *testing.T) (client, server *net.TCPConn, port int) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port = ln.Addr().(*net.TCPAddr).Port
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()}}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.(*net.TCPConn), s, port
}

// clientFilter matches the client end of a killPair only: its peer's
// port is the listener's, and its address is the test's own.
func clientFilter(port int) string {
	return fmt.Sprintf("dport = :%d and src %s", port, kerneltest.Addr4)
}

// connReadErr reads from c and returns the error (nil when data came); a
// guard deadline keeps a failed kill from hanging the test.
func connReadErr(t *testing.T, c *net.TCPConn) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 16))
	return err
}

// connAlive checks that a byte from a reaches b.
func connAlive(t *testing.T, a, b *net.TCPConn) {
	t.Helper()
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatalf("the connection is dead: write: %v", err)
	}
	if err := connReadErr(t, b); err != nil {
		t.Fatalf("the connection is dead: read: %v", err)
	}
}

// stubTerminal makes kill see a terminal (or none) with answer typed.
func stubTerminal(t *testing.T, terminal bool, answer string) {
	t.Helper()
	oldT, oldIn := killTerminal, killStdin
	killTerminal = func() bool { return terminal }
	killStdin = strings.NewReader(answer)
	t.Cleanup(func() { killTerminal, killStdin = oldT, oldIn })
}

// TestKillUsage: no filter, "all" without --yes and a bad filter are
// refused with exit status 2, before anything is listed.
func TestKillUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kill"}, "kill needs a FILTER"},
		{[]string{"kill", "  "}, "kill needs a FILTER"},
		{[]string{"kill", "all"}, `"all" is done only with --yes`},
		{[]string{"kill", "sport", "=", ":x"}, "column"},
		{[]string{"kill", "--bogus", "8080"}, "Usage:"},
	} {
		code, out, errs := runCLI(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}

// TestKillWithoutTerminalRefuses: no --yes and no terminal to confirm at:
// the socket is listed, not killed, exit status 1 and the reason.
func TestKillWithoutTerminalRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN), so that a kill would succeed")
	}
	stubTerminal(t, false, "y\n")
	c, s, port := killPair(t)
	code, out, errs := runCLI("kill", clientFilter(port))
	if code != 1 || !strings.Contains(errs, "no terminal") || !strings.Contains(errs, "--yes") {
		t.Errorf("exit %d, stderr %q; want 1 and the reason", code, errs)
	}
	if local := c.LocalAddr().String(); !strings.Contains(out, local) || strings.Contains(out, "killed") {
		t.Errorf("the table does not list %s alone, unkilled:\n%s", local, out)
	}
	connAlive(t, c, s)
	connAlive(t, s, c)
}

// TestKillConfirmation: at a terminal, "n" kills nothing (exit 1) and "y"
// kills the socket; the prompt names the count and the effect.
func TestKillConfirmation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN)")
	}
	c, s, port := killPair(t)
	stubTerminal(t, true, "n\n")
	code, _, errs := runCLI("kill", clientFilter(port))
	if code != 1 || !strings.Contains(errs, "kill 1 socket? TCP peers get an RST, the local programs see ECONNABORTED [y/N]") ||
		!strings.Contains(errs, "nothing killed") {
		t.Fatalf("answered n: exit %d, stderr %q", code, errs)
	}
	connAlive(t, c, s)
	stubTerminal(t, true, "y\n")
	code, out, errs := runCLI("kill", clientFilter(port))
	if code != 0 || !strings.Contains(out, "killed tcp "+c.LocalAddr().String()) {
		t.Fatalf("answered y: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if err := connReadErr(t, s); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the peer's read: %v, want ECONNRESET", err)
	}
}

// TestKillYesResetsConnection is the done-when: socktop kill
// --yes 'dport = :P' (and the test's own address), run as its own
// process, resets the live connection; the peer sees the reset, the
// killed end ECONNABORTED.
func TestKillYesResetsConnection(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN)")
	}
	c, s, port := killPair(t)
	cmd := socktopCmd(t, "kill", "--yes", clientFilter(port))
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("socktop kill --yes: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "killed tcp "); n != 1 || !strings.Contains(string(out), "killed tcp "+c.LocalAddr().String()) {
		t.Errorf("want the client end killed, alone:\n%s", out)
	}
	if err := connReadErr(t, s); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the peer's read: %v, want ECONNRESET", err)
	}
	if err := connReadErr(t, c); !errors.Is(err, syscall.ECONNABORTED) {
		t.Errorf("the killed end's read: %v, want ECONNABORTED", err)
	}
}

// TestKillBothEnds: a filter matching both ends of a loopback connection
// kills the first; the second dies of the RST, which is reported as such
// and is no failure.
func TestKillBothEnds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN)")
	}
	c, s, port := killPair(t)
	expr := fmt.Sprintf("src %s and dst %s and (sport = :%d or dport = :%d) and state established",
		kerneltest.Addr4, kerneltest.Addr4, port, port)
	code, out, errs := runCLI("kill", "--yes", expr)
	if code != 0 || strings.Count(out, "killed tcp ")+strings.Count(out, "the RST of its killed peer") != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, conn := range []*net.TCPConn{c, s} {
		if err := connReadErr(t, conn); err == nil {
			t.Errorf("%s is still alive", conn.LocalAddr())
		}
	}
}

// TestKillNotRoot: as nobody, the kill is refused with the CAP_NET_ADMIN
// explanation, exit status 1, and the connection lives on.
func TestKillNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run socktop as nobody beside a root-held socket")
	}
	c, s, port := killPair(t)
	cmd := socktopCmd(t, "kill", "--yes", clientFilter(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "CAP_NET_ADMIN") ||
		!strings.Contains(string(out), "killed 0 of 1 socket") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	connAlive(t, c, s)
	connAlive(t, s, c)
}

// netnsPair makes a named network namespace with lo up (deleted when
// the test ends) and, inside it, a listener that is plain TCP (not the
// MPTCP one Go makes by default, which the kernel does not kill) and a
// connection to it. It returns the name and the connection's client end.
func netnsPair(t *testing.T) (string, *net.TCPConn, *net.TCPConn) {
	t.Helper()
	name, _ := cliNetns(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, lerr := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	var c net.Conn
	var derr error
	if lerr == nil {
		c, derr = net.Dial("tcp4", ln.Addr().String())
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("back from %s: %v", name, err) // the thread stays locked and is retired
	}
	runtime.UnlockOSThread()
	if lerr != nil || derr != nil {
		t.Fatal(lerr, derr)
	}
	defer ln.Close()
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return name, c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestKillInNetNS: kill reaches a connection inside another namespace,
// by --all-netns and the netns filter, and by -N NAME; the peer inside
// sees the reset.
func TestKillInNetNS(t *testing.T) {
	for _, argv := range []func(name string, port int) []string{
		func(name string, port int) []string {
			return []string{"kill", "--yes", "--all-netns", fmt.Sprintf("netns %s and dport = :%d", name, port)}
		},
		func(name string, port int) []string {
			return []string{"kill", "--yes", "-N", name, fmt.Sprintf("dport = :%d", port)}
		},
	} {
		name, c, s := netnsPair(t)
		cmdArgs := argv(name, s.LocalAddr().(*net.TCPAddr).Port)
		code, out, errs := runCLI(cmdArgs...)
		if code != 0 || !strings.Contains(out, "killed tcp "+c.LocalAddr().String()) || strings.Count(out, "killed ") != 1 {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q", cmdArgs, code, out, errs)
		}
		if err := connReadErr(t, s); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%q: the peer's read: %v, want ECONNRESET", cmdArgs, err)
		}
	}
}

// TestKillMPTCPListenerExplained: Go's default listener is MPTCP, which
// the kernel refuses to abort (EINVAL); kill says so and exits 1.
func TestKillMPTCPListenerExplained(t *testing.T) {
	name, _ := cliNetns(t)
	code, out, errs := runCLI("kill", "--yes", "-N", name, "state listening")
	if code != 1 || !strings.Contains(errs, "MPTCP") || !strings.Contains(out, "LISTEN") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
