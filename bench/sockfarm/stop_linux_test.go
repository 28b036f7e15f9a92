package main

import (
	"bufio"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"socktop/internal/waitfor"
)

// childrenOf returns the pids whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// socketInodes returns the inodes of the sockets pids hold.
func socketInodes(pids []int) map[string]bool {
	got := map[string]bool{}
	for _, p := range pids {
		dir := "/proc/" + strconv.Itoa(p) + "/fd/"
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if l, err := os.Readlink(dir + e.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
				got[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	return got
}

// listenersOfPids returns the TCP listening addresses held by pids, by
// inode (ss -tlneH prints ino:N), which is cheaper than ss -p on a busy
// host.
func listenersOfPids(t *testing.T, pids []int) map[netip.AddrPort]bool {
	t.Helper()
	inodes := socketInodes(pids)
	out, err := exec.Command("ss", "-tlneH").Output()
	if err != nil {
		t.Fatalf("ss -tlneH: %v", err)
	}
	got := map[netip.AddrPort]bool{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		for _, w := range f {
			if ino, ok := strings.CutPrefix(w, "ino:"); ok && inodes[ino] {
				if ap, err := netip.ParseAddrPort(f[3]); err == nil {
					got[ap] = true
				}
			}
		}
	}
	return got
}

// A farm stopped while it builds (SIGTERM to the parent, which its
// children get too, as SIGTERM or as the end of their stdin) must reset
// what it built: a process that just dies closes its pairs with FIN, and
// every pair leaves a TIME_WAIT socket behind for 60 s.
func TestSignalWhileBuildingCleansUp(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-n", "40000", "-tw", "0", "-fd-limit", "1000")
	cmd.Env = append(os.Environ(), "SOCKFARM_AS_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	readyCh := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			ready = ready || strings.HasPrefix(sc.Text(), "ready")
		}
		readyCh <- ready
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Wait for some children to hold listeners, then stop mid-build.
	var kids []int
	var listen map[netip.AddrPort]bool
	waitfor.Until(t, 60*time.Second, "the farm's children to listen", func() bool {
		kids = childrenOf(cmd.Process.Pid)
		listen = listenersOfPids(t, append(kids, cmd.Process.Pid))
		return len(kids) >= 2 && len(listen) >= 2
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var runErr error
	waitfor.Recv(t, 120*time.Second, "the farm to exit", exited, func(err error, _ bool) bool { runErr = err; return true }, nil)
	if <-readyCh {
		t.Skip("the farm was built before the signal arrived: nothing was stopped mid-build")
	}
	if runErr == nil {
		t.Error("a farm stopped mid-build exited 0, want an error saying it was stopped")
	}
	for _, k := range kids {
		waitfor.Until(t, 60*time.Second, "child "+strconv.Itoa(k)+" to exit", func() bool {
			_, err := os.Stat("/proc/" + strconv.Itoa(k))
			return err != nil
		})
	}
	// No socket, in any state, towards or on the farm's listeners.
	out, err := exec.Command("ss", "-tanH").Output()
	if err != nil {
		t.Fatalf("ss -tanH: %v", err)
	}
	left := map[string]int{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		local, err1 := netip.ParseAddrPort(f[3])
		peer, err2 := netip.ParseAddrPort(f[4])
		if (err1 == nil && listen[local]) || (err2 == nil && listen[peer]) {
			left[f[0]]++
		}
	}
	if len(left) != 0 {
		t.Errorf("after a stop mid-build ss still shows the farm's sockets: %v", left)
	}
}

// A farm that would leave less memory available than -keep-free stops:
// here the floor is above all the memory there is, so the plan shrinks
// the table to nothing and the guard would stop any that was built.
func TestKeepFreeAboveMemoryStops(t *testing.T) {
	total, _ := readMeminfo()
	if total == 0 {
		t.Skip("no /proc/meminfo")
	}
	cmd := exec.Command(os.Args[0], "-n", "200", "-tw", "0.3", "-stdin=false", "-keep-free", strconv.FormatInt(2*total>>20, 10))
	cmd.Env = append(os.Environ(), "SOCKFARM_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a farm asked to keep %d MiB free, more than the host has, exited 0:\n%s", 2*total>>20, out)
	}
	if !strings.Contains(string(out), "LIMIT memory") {
		t.Errorf("output does not say memory limited the farm:\n%s", out)
	}
	if strings.Contains(string(out), "ready") {
		t.Errorf("the farm got ready with no memory to spare:\n%s", out)
	}
}
