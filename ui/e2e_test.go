package ui

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEndTmux runs the real binary in a detached tmux session at
// 80x24, types a filter at the `/` prompt and reads the screen back: the
// header names the filter, a loopback listener this test opened is listed
// and another one is not.
func TestEndToEndTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("tmux is not installed (CI installs it)")
		}
		t.Fatalf("tmux is required under CI: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "socktop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("ui/")) || bytes.Contains(out, []byte("socktop/ui")) {
			t.Fatalf("go build failed in package ui:\n%s", out)
		}
		t.Skipf("go build of the binary failed outside package ui (tell the lead):\n%s", out)
	}

	want := listen(t)
	other := listen(t)
	wantPort := strconv.Itoa(want.Addr().(*net.TCPAddr).Port)
	otherPort := strconv.Itoa(other.Addr().(*net.TCPAddr).Port)

	// A private tmux server on a socket in the test's directory, so the
	// test never touches the user's sessions and leaves nothing behind.
	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tm("kill-server") })
	if out, err := tm("new-session", "-d", "-s", "e2e", "-x", "80", "-y", "24",
		"env", "TERM=xterm-256color", "NO_COLOR=1", bin, "--interval", "250ms"); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	capture := func() string {
		out, err := tm("capture-pane", "-p", "-t", "e2e")
		if err != nil {
			t.Fatalf("tmux capture-pane: %v\n%s", err, out)
		}
		return out
	}
	// waitFor polls the screen; the deadline is a hang guard, not a speed
	// requirement.
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := capture()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("the first snapshot", func(s string) bool { return strings.Contains(s, "netlink") || strings.Contains(s, "gopsutil") })

	filter := "sport = :" + wantPort
	if out, err := tm("send-keys", "-t", "e2e", "/"); err != nil {
		t.Fatalf("send-keys: %v %s", err, out)
	}
	if out, err := tm("send-keys", "-t", "e2e", "-l", filter); err != nil {
		t.Fatalf("send-keys: %v %s", err, out)
	}
	if out, err := tm("send-keys", "-t", "e2e", "Enter"); err != nil {
		t.Fatalf("send-keys: %v %s", err, out)
	}
	screen := waitFor("the filtered table", func(s string) bool {
		return strings.Contains(s, "filter: "+filter) && tableHas(s, ":"+wantPort)
	})
	lines := strings.Split(screen, "\n")
	if len(lines) < 24 {
		t.Fatalf("screen has %d lines:\n%s", len(lines), screen)
	}
	for _, l := range lines {
		if len([]rune(l)) > 80 {
			t.Fatalf("line wider than the terminal: %q", l)
		}
	}
	if tableHas(screen, ":"+otherPort) {
		t.Fatalf("the filter let port %s through:\n%s", otherPort, screen)
	}
	if !strings.Contains(screen, "LISTEN 1") {
		t.Fatalf("header counts do not show the one listener:\n%s", screen)
	}
	if _, err := tm("send-keys", "-t", "e2e", "q"); err != nil {
		t.Fatalf("send-keys q: %v", err)
	}
	// q ends the program, and with it the tmux session.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := tm("has-session", "-t", "e2e"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socktop did not quit on q; screen:\n%s", capture())
		}
	}
}

// tableHas reports whether a table row (a line with a state name) names the
// port.
func tableHas(screen, port string) bool {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, "LISTEN ") && strings.Contains(l, port+" ") {
			return true
		}
	}
	return false
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
