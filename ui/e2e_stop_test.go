package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"socktop/collect"
)

// TestStopEndsDemos starts demos in the real binary under tmux (one of
// them runs its server in a child process) and stops socktop with q,
// SIGINT and SIGTERM: every child process must be gone, and no socket on
// the demos' ports may still have a file descriptor (what is left is
// TIME_WAIT or orphans, which belong to the kernel).
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
				if c := childrenOf(s.pid()); len(c) == 1 {
					pid = c[0]
				}
				return pid != 0
			}, s.capture)
			waitFor(t, "the first snapshot", func() bool { return strings.Contains(s.capture(), "netlink") }, s.capture)

			// server-crash first: its child server lives about 4 s before
			// the scenario kills it, so catch it at once.
			children := map[int]bool{}
			s.keys("d", false)
			s.keys("3", false)
			waitFor(t, "the demo's child process", func() bool {
				for _, c := range childrenOf(pid) {
					children[c] = true
				}
				return len(children) > 0
			}, s.capture)
			// Two demos that hold sockets with descriptors indefinitely.
			for _, k := range []string{"5", "6"} {
				s.keys("d", false)
				s.keys(k, false)
			}
			waitFor(t, "three demos running", func() bool { return strings.Contains(s.capture(), "demos 3") }, s.capture)
			var ports map[uint16]bool
			waitFor(t, "the demos' sockets", func() bool {
				for _, c := range childrenOf(pid) {
					children[c] = true
				}
				ports = socketPorts(t, append([]int{pid}, keys(children)...))
				return len(ports) >= 3
			}, s.capture)

			t.Logf("before %s: socktop pid %d, demo children %v, demo ports %v", how, pid, keys(children), ports)
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
			waitFor(t, "the demo children to end", func() bool {
				for c := range children {
					if alive(c) {
						return false
					}
				}
				return true
			}, func() string { return fmt.Sprintf("children %v", keys(children)) })

			snap, err := collect.NewNetlink(collect.Options{}).Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, sk := range snap.Sockets {
				if (ports[sk.Local.Port()] || ports[sk.Remote.Port()]) && sk.Inode != 0 {
					t.Errorf("after %s a demo socket still has a descriptor: %s %v -> %v inode %d owners %v",
						how, sk.State, sk.Local, sk.Remote, sk.Inode, sk.Owners)
				}
			}
		})
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		c, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which may hold spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

// socketPorts returns the local ports of the loopback sockets the
// processes hold, found from their descriptors and a netlink snapshot.
func socketPorts(t *testing.T, pids []int) map[uint16]bool {
	t.Helper()
	inodes := map[uint32]bool{}
	for _, p := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if n, err := strconv.ParseUint(strings.Trim(link[len("socket:"):], "[]"), 10, 32); err == nil {
				inodes[uint32(n)] = true
			}
		}
	}
	snap, err := collect.NewNetlink(collect.Options{}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ports := map[uint16]bool{}
	for _, sk := range snap.Sockets {
		if inodes[sk.Inode] && sk.Local.Addr().IsLoopback() {
			ports[sk.Local.Port()] = true
		}
	}
	return ports
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func keys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
