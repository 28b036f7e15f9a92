package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/waitfor"
)

// TestScenarios runs every scenario with the Fast knobs, side by side on
// distinct free ports, with kernel events and a segment capture, and
// checks its promises against the real netlink collector, the kernel's
// transitions and the segments on loopback: each side's exact path, and
// the segments of the scenarios that promise them. Without kernel events
// the state promises are still checked, and the test says it skipped the
// paths, and why.
func TestScenarios(t *testing.T) {
	for _, sc := range Catalogue() {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			var skip string
			for _, reuse := range reuseVariants(sc) {
				cfg := Config{Fast: true, ReuseAddr: reuse}
				src := newCollector()
				t.Cleanup(func() { src.Close() })
				var out, errOut bytes.Buffer
				var run *Run
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				code := runHeadless(ctx, runOptions{sc: sc, cfg: cfg, timeout: 45 * time.Second, ran: func(r *Run) { run = r }}, src, &out, &errOut)
				cancel()
				t.Logf("reuseaddr=%v:\n%s", reuse, out.String())
				if code != 0 {
					t.Errorf("reuseaddr=%v: exit %d\n%s\nstderr: %s", reuse, code, out.String(), errOut.String())
				}
				if run == nil {
					t.Fatalf("reuseaddr=%v: the run did not start; stderr: %s", reuse, errOut.String())
				}
				checkSegments(t, run)
				if why := checkPaths(t, run, out.String(), errOut.String()); why != "" {
					skip = why
				}
			}
			if skip != "" {
				t.Skip(skip)
			}
		})
	}
}

func reuseVariants(sc *Scenario) []bool {
	if sc.UsesReuseAddr {
		return []bool{false, true}
	}
	return []bool{sc.ReuseAddr}
}

// TestStopCleansUp starts a scenario with a child process and one with
// many sockets, stops them mid-way and checks that no socket of this
// process or of the run's children remains on their ports and that the
// child is gone. A socket is the run's by who holds it, not by its port
// number alone: another program may have sockets on the same numbers.
func TestStopCleansUp(t *testing.T) {
	t.Parallel()
	forks := map[string]bool{"server-crash": true, "shared-close": true, "fork-server": true, "prefork-server": true}
	for _, name := range []string{"server-crash", "simultaneous-close", "listen-overflow", "shared-close", "fork-server", "prefork-server"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc, _ := Find(name)
			r, err := Start(context.Background(), sc, Config{Fast: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(r.Stop)
			src := newCollector()
			t.Cleanup(func() { src.Close() })
			waitfor.Until(t, 60*time.Second, "the run to hold sockets with descriptors on its port", func() bool {
				return len(heldSockets(t, src, r, children(r))) > 0 && (!forks[name] || len(children(r)) > 0)
			})
			kids := children(r)
			r.Stop()
			r.Stop()
			select {
			case <-r.Done():
			default:
				t.Error("Done not closed after Stop")
			}
			for range r.Events() {
			}
			if held := heldSockets(t, src, r, kids); len(held) > 0 {
				t.Errorf("after Stop, sockets with a descriptor remain on %v: %v", r.Ports(), held)
			}
			if fds := ownFDsOnPorts(t, r.Ports()); len(fds) > 0 {
				t.Errorf("after Stop, this process still holds %v", fds)
			}
			for _, ep := range r.p.Endpoints() {
				if !ep.Closed() || ep.FD() != -1 {
					t.Errorf("after Stop, endpoint %s is open (fd %d)", ep.Name(), ep.FD())
				}
			}
			for _, pid := range kids {
				if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
					t.Errorf("child %d still exists after Stop: %v", pid, err)
				}
			}
			if forks[name] && len(kids) == 0 {
				t.Errorf("%s started no child process", name)
			}
		})
	}
}

func children(r *Run) []int {
	var pids []int
	for _, c := range r.p.Children() {
		pids = append(pids, c.PID())
	}
	return pids
}

// socketInodes returns the inodes of the sockets the processes hold a
// descriptor to (0 stands for this process).
func socketInodes(pids ...int) map[uint32]bool {
	out := map[uint32]bool{}
	for _, pid := range pids {
		dir := "/proc/self/fd"
		if pid != 0 {
			dir = fmt.Sprintf("/proc/%d/fd", pid)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			target, err := os.Readlink(dir + "/" + e.Name())
			if err != nil || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			if n, err := strconv.ParseUint(strings.Trim(target[len("socket:"):], "[]"), 10, 32); err == nil {
				out[uint32(n)] = true
			}
		}
	}
	return out
}

// heldSockets returns the sockets on the run's ports that this process or
// one of kids holds a descriptor to. The ports are this process's alone
// (FreePort never hands one out twice), so parallel tests do not see
// each other's sockets.
func heldSockets(t *testing.T, src snapshotter, r *Run, kids []int) []string {
	t.Helper()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mine := socketInodes(append([]int{0}, kids...)...)
	ports := map[uint16]bool{}
	for _, p := range r.Ports() {
		ports[p] = true
	}
	var held []string
	for _, s := range snap.Sockets {
		if s.Inode != 0 && mine[s.Inode] && (ports[s.Local.Port()] || ports[s.Remote.Port()]) {
			held = append(held, fmt.Sprintf("%s %s>%s ino %d", s.State, s.Local, s.Remote, s.Inode))
		}
	}
	return held
}

// ownFDsOnPorts lists this process's descriptors that are sockets whose
// inode the kernel reports on one of ports.
func ownFDsOnPorts(t *testing.T, ports []uint16) []string {
	t.Helper()
	snap, err := collect.NewNetlink(CollectOptions()).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16]bool{}
	for _, p := range ports {
		want[p] = true
	}
	onPorts := map[string]bool{}
	for _, s := range snap.Sockets {
		if s.Inode != 0 && (want[s.Local.Port()] || want[s.Remote.Port()]) {
			onPorts[fmt.Sprintf("socket:[%d]", s.Inode)] = true
		}
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, "socket:") && onPorts[target] {
			out = append(out, e.Name()+" -> "+target)
		}
	}
	return out
}
