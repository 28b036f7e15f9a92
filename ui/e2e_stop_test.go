//go:build linux

package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStopEndsDemos starts demos in the real binary under tmux (one of
// them runs its server in a child process) and stops socktop with q,
// SIGINT and SIGTERM. Cleaning up every socket means: no process of
// socktop's tree is left, and no socket that socktop or one of its
// children held a descriptor to is still held by anyone. The sockets are
// known by the inodes the tree held while it ran, never by port number: a
// busy host has other programs' sockets on the same numbers. A TIME_WAIT
// or an orphan left by a demo's close belongs to the kernel, and is not a
// leak.
func TestStopEndsDemos(t *testing.T) {
	bin, tmux := buildSocktop(t)
	for _, how := range []string{"q", "SIGINT", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			// A shell runs socktop and writes its exit status to a file
			// (tmux does not always record a dead pane's status), then
			// keeps the pane so the screen can still be read.
			statusFile := filepath.Join(t.TempDir(), "status")
			script := fmt.Sprintf("env TERM=xterm-256color NO_COLOR=1 '%s' --interval 250ms; echo $? > '%s'; sleep 60", bin, statusFile)
			s := startTmux(t, tmux, 120, 40, "sh", "-c", script)
			var pid int
			waitFor(t, "socktop to start", func() bool {
				if c := descendants(s.pid()); len(c) == 1 {
					pid = c[0]
				}
				return pid != 0
			}, s.capture)
			waitFor(t, "the first snapshot", func() bool { return strings.Contains(s.capture(), "netlink") }, s.capture)

			// server-crash first: its child server lives about 4 s before
			// the scenario kills it, so catch it at once.
			tree := newProcTree(pid)
			s.keys("d", false)
			s.keys("3", false)
			waitFor(t, "the demo's child process", func() bool {
				tree.scan()
				return len(tree.children()) > 0
			}, s.capture)
			// Two demos that hold sockets with descriptors indefinitely.
			for _, k := range []string{"5", "6"} {
				s.keys("d", false)
				s.keys(k, false)
			}
			waitFor(t, "three demos running", func() bool { return strings.Contains(s.capture(), "demos 3") }, s.capture)
			var held []string
			waitFor(t, "the demos' sockets", func() bool {
				tree.scan()
				held = heldRows(t, tree.inodes)
				return len(held) >= 3
			}, s.capture)
			tree.scan()

			t.Logf("before %s: socktop pid %d, children %v, sockets held:\n%s", how, pid, tree.children(), strings.Join(held, "\n"))
			switch how {
			case "q":
				s.keys("q", false)
			case "SIGINT":
				syscall.Kill(pid, syscall.SIGINT)
			case "SIGTERM":
				syscall.Kill(pid, syscall.SIGTERM)
			}
			waitFor(t, "socktop to exit", func() bool { return !alive(pid) }, s.capture)
			var status []byte
			waitFor(t, "the exit status", func() bool {
				status, _ = os.ReadFile(statusFile)
				return len(status) > 0
			}, s.capture)
			if got := strings.TrimSpace(string(status)); got != "0" {
				t.Errorf("after %s socktop exited with status %s, want 0; screen:\n%s", how, got, s.capture())
			}
			if scr := s.capture(); strings.Contains(scr, "socktop:") || strings.Contains(scr, "panic") {
				t.Errorf("after %s socktop printed an error:\n%s", how, scr)
			}
			// The children are killed by socktop on the way out (and by
			// their parent-death signal otherwise): reaping may trail the
			// parent's exit a little, so this waits rather than looks once.
			waitFor(t, "socktop's children to end", func() bool { return len(tree.living()) == 0 }, func() string {
				return fmt.Sprintf("still running: %v of %v", tree.living(), tree.children())
			})
			// Every process that held them is gone: a socket still held
			// now has a descriptor in a process that escaped the tree.
			if left := heldRows(t, tree.inodes); len(left) > 0 {
				t.Errorf("after %s sockets socktop's tree held are still held by someone:\n%s", how, strings.Join(left, "\n"))
			}
		})
	}
}
