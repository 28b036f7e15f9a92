package ui

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/internal/waitfor"
)

// buildSocktop builds the real binary into the test's directory. It fails
// under CI when tmux is missing, and skips elsewhere.
func buildSocktop(t *testing.T) (bin, tmux string) {
	t.Helper()
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
	bin = filepath.Join(t.TempDir(), "socktop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" || bytes.Contains(out, []byte("ui/")) || bytes.Contains(out, []byte("socktop/ui")) {
			t.Fatalf("go build failed in package ui:\n%s", out)
		}
		t.Skipf("go build of the binary failed outside package ui:\n%s", out)
	}
	return bin, tmux
}

// tmuxSession is a program running in a detached session of a private
// tmux server (a socket in the test's directory), so a test never touches
// the user's sessions and leaves nothing behind.
type tmuxSession struct {
	t    *testing.T
	tmux string
	sock string
	name string
}

func startTmux(t *testing.T, tmux string, w, h int, argv ...string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, tmux: tmux, sock: filepath.Join(t.TempDir(), "tmux.sock"), name: "e2e"}
	t.Cleanup(func() { s.run("kill-server") })
	args := append([]string{"new-session", "-d", "-s", s.name, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h)}, argv...)
	if out, err := s.run(args...); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

func (s *tmuxSession) run(args ...string) (string, error) {
	out, err := exec.Command(s.tmux, append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	return string(out), err
}

// keys types text literally, or a key name such as Enter when named.
func (s *tmuxSession) keys(k string, named bool) {
	s.t.Helper()
	args := []string{"send-keys", "-t", s.name}
	if !named {
		args = append(args, "-l")
	}
	if out, err := s.run(append(args, k)...); err != nil {
		s.t.Fatalf("send-keys %q: %v %s", k, err, out)
	}
}

func (s *tmuxSession) capture() string {
	s.t.Helper()
	out, err := s.run("capture-pane", "-p", "-t", s.name)
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v\n%s", err, out)
	}
	return out
}

// pid is the process running in the pane.
func (s *tmuxSession) pid() int {
	s.t.Helper()
	out, err := s.run("list-panes", "-t", s.name, "-F", "#{pane_pid}")
	if err != nil {
		s.t.Fatalf("tmux list-panes: %v %s", err, out)
	}
	return atoi(strings.TrimSpace(out))
}

// waitFor polls until ok holds, showing state if it never does.
func waitFor(t *testing.T, what string, ok func() bool, state func() string) {
	t.Helper()
	waitfor.UntilShow(t, 60*time.Second, what, ok, state)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
