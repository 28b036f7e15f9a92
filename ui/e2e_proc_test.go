//go:build linux

package ui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// procTree is a process and its descendants as seen over several looks
// while they ran: every pid met and every socket inode one of them held.
// It identifies what a program made by who holds it, so that another
// program's sockets on the same port numbers are never taken for its own.
type procTree struct {
	root   int
	pids   map[int]bool
	inodes map[uint64]bool
}

func newProcTree(root int) *procTree {
	return &procTree{root: root, pids: map[int]bool{}, inodes: map[uint64]bool{}}
}

// scan adds the root's current descendants and the sockets every known
// process of the tree holds now.
func (p *procTree) scan() {
	for _, pid := range descendants(p.root) {
		p.pids[pid] = true
	}
	p.pids[p.root] = true
	for pid := range p.pids {
		for _, ino := range socketInodes(pid) {
			p.inodes[ino] = true
		}
	}
}

// children lists the processes of the tree other than the root.
func (p *procTree) children() []int {
	var out []int
	for pid := range p.pids {
		if pid != p.root {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// living lists the processes of the tree that still run.
func (p *procTree) living() []int {
	var out []int
	for pid := range p.pids {
		if alive(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// descendants lists the processes below root, found from the parent pid
// in /proc/*/stat (which, unlike /proc/PID/task/*/children, needs no
// kernel option).
func descendants(root int) []int {
	kids := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if f := statFields(pid); len(f) > 1 {
			kids[atoi(f[1])] = append(kids[atoi(f[1])], pid)
		}
	}
	var out []int
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		for _, c := range kids[queue[0]] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses), state first.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// alive reports whether pid exists and is not a zombie. A zombie has
// already closed all its descriptors.
func alive(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && f[0] != "Z"
}

// socketInodes lists the inodes of the sockets pid holds descriptors to.
func socketInodes(pid int) []uint64 {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	var out []uint64
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if n, err := strconv.ParseUint(strings.Trim(link[len("socket:"):], "[]"), 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ssRow is one TCP or UDP socket as `ss -tanuHe` prints it. The addresses
// stay text: they are only shown, never matched, so whatever ss prints
// (`*:P`, `[::ffff:a.b.c.d]:P`, zones) is fine.
type ssRow struct {
	line  string
	inode uint64 // 0 when no descriptor refers to it (TIME_WAIT, orphans)
}

// ssInet dumps every TCP and UDP socket of this network namespace with
// ss, the oracle: the collector under test is not asked.
func ssInet(t *testing.T) []ssRow {
	t.Helper()
	out, err := exec.Command("ss", "-tanuHe").Output()
	if err != nil {
		t.Fatalf("ss -tanuHe (iproute2 is required): %v", err)
	}
	var rows []ssRow
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r := ssRow{line: strings.Join(strings.Fields(line), " ")}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "ino:"); ok {
				r.inode, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// heldRows returns the TCP and UDP sockets whose inode is one of inodes.
func heldRows(t *testing.T, inodes map[uint64]bool) []string {
	t.Helper()
	var out []string
	for _, r := range ssInet(t) {
		if r.inode != 0 && inodes[r.inode] {
			out = append(out, r.line)
		}
	}
	return out
}

// TestProcTreeSeesHeldSockets checks the helpers TestStopEndsDemos relies
// on against a real process tree: a shell and its sleep child inherit a
// listener; the tree finds both and the socket while they run, and ss
// reports it held until the last of them is gone.
func TestProcTreeSeesHeldSockets(t *testing.T) {
	ln := listen(t)
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "sleep 600 & echo started; wait")
	cmd.ExtraFiles = []*os.File{f}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range descendants(cmd.Process.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	buf := make([]byte, 8)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	own := socketInodes(os.Getpid())
	f.Close()
	ln.Close()

	tree := newProcTree(cmd.Process.Pid)
	waitFor(t, "the sleep child", func() bool { tree.scan(); return len(tree.children()) == 1 }, func() string {
		return fmt.Sprintf("tree %v", tree.pids)
	})
	if len(tree.inodes) == 0 {
		t.Fatal("the tree holds no socket, want the inherited listener")
	}
	for ino := range tree.inodes {
		if !slices.Contains(own, ino) {
			t.Errorf("tree holds inode %d, which this process never had", ino)
		}
	}
	if held := heldRows(t, tree.inodes); len(held) != 1 || !strings.Contains(held[0], "LISTEN") {
		t.Fatalf("ss rows held by the tree %q, want the one listener", held)
	}

	_ = syscall.Kill(tree.children()[0], syscall.SIGKILL)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitFor(t, "the tree to end", func() bool { return len(tree.living()) == 0 }, func() string {
		return fmt.Sprintf("living %v", tree.living())
	})
	if held := heldRows(t, tree.inodes); len(held) != 0 {
		t.Errorf("ss still shows %q after every holder ended", held)
	}
}
