//go:build linux

package collect

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNetNSNamedFromSocketCgroup: a namespace whose one process is in no
// container's cgroup, but whose listener was made in a docker-style
// cgroup, is named after that container from the socket's
// INET_DIAG_CGROUP_ID.
func TestNetNSNamedFromSocketCgroup(t *testing.T) {
	ns := newTestNetns(t)
	mount := cgroup2Mount()
	if mount == "" {
		t.Skip("no cgroup2 mount")
	}
	for _, c := range []string{"python3", "nsenter"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skip("no " + c)
		}
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var home string // this process's cgroup v2 directory
	for line := range strings.SplitSeq(string(own), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			home = filepath.Join(mount, p)
		}
	}
	if home == "" {
		t.Skip("this process is in no cgroup v2 cgroup")
	}
	id := fmt.Sprintf("%016x%016x%016x%016x", rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64())
	parent := filepath.Join(mount, fmt.Sprintf("socktop-test-%08x.slice", rand.Uint32()))
	scope := filepath.Join(parent, "docker-"+id+".scope")
	if err := os.MkdirAll(scope, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		for _, d := range []string{scope, parent} {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
		}
	})
	// The process joins the scope, makes its listener inside the
	// namespace (nsenter: ip netns exec would mount another /sys), and goes back to the test's cgroup before it says so.
	script := `import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
open(sys.argv[1] + "/cgroup.procs", "w").write("0")
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec nsenter --net="$2" python3 -c "$3" "$4"`,
		"sh", scope, ns.path, script, home)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid)); err != nil || containerFromCgroup(string(cg)) != "" {
		t.Fatalf("the helper's cgroup %q (%v) names a container; the test needs it not to", cg, err)
	}

	n := NewNetlink(Options{AllNetNS: true})
	n.others.scan.keep = func(x NetNS) bool { return x.Inode == ns.inode }
	t.Cleanup(func() { n.Close() })
	want := "docker:" + id[:12]
	// The ip netns name comes first; drop the name to see the cgroup's.
	if err := os.Remove(ns.path); err != nil {
		// A bind mount: unmount it as ip netns del does, keeping the
		// namespace alive through the helper.
		if out, err := exec.Command("umount", ns.path).CombinedOutput(); err != nil {
			t.Fatalf("umount %s: %v\n%s", ns.path, err, out)
		}
		if err := os.Remove(ns.path); err != nil {
			t.Fatal(err)
		}
	}
	var got *Socket
	for range 2 { // the second takes the name from the scanner's cache
		snap, err := n.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			if s.NetNS.Inode == ns.inode && int(s.Local.Port()) == port {
				got = s
			}
		}
		if got == nil {
			t.Fatalf("the helper's listener on port %d in namespace %d is not listed", port, ns.inode)
		}
		if got.NetNS.Name != want {
			t.Errorf("namespace named %q, want %q (from the listener's cgroup)", got.NetNS.Name, want)
		}
	}
}
