//go:build linux

package events

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// TestBPFLoss fills a small ring buffer nobody reads: the program counts
// what it cannot write, and once a reader runs, events flow again.
func TestBPFLoss(t *testing.T) {
	needRoot(t)
	r, err := openBPFSize(16 * os.Getpagesize())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.close() })
	if n := r.lost(); n != 0 {
		t.Fatalf("lost %d before any event", n)
	}
	// Each connection makes a dozen events; the ring holds some 900.
	conns := 0
	for r.lost() == 0 {
		if conns == 1000 {
			t.Fatalf("nothing lost after %d connections into a ring buffer of %d bytes nobody reads", conns, r.rb.BufferSize())
		}
		politeClose(t, "tcp4", kerneltest.Addr4)
		conns++
	}
	before := r.lost()
	t.Logf("lost %d events after %d connections", before, conns)
	c := startCollector(t, r)
	// The backlog first: until the reader makes room, the program still
	// has none for the next connection's events.
	waitfor.Until(t, eventWait, "the reader to drain the full ring buffer", func() bool {
		return len(c.matching(func(*collect.StateEvent) bool { return true })) > 0 && r.available() < r.rb.BufferSize()/2
	})
	lc := politeClose(t, "tcp4", kerneltest.Addr4)
	client := waitEvents(t, c, "the client's five transitions after the reader started", 5, byCookie(lc.client))
	checkPath(t, "client", client, collect.StateClosed, collect.StateSynSent, collect.StateEstablished,
		collect.StateFinWait1, collect.StateFinWait2, collect.StateClosed)
	if n := r.lost(); n < before {
		t.Errorf("lost went back from %d to %d", before, n)
	}
}

// ownProgramIDs lists the loaded programs named bpfProgName.
func ownProgramIDs(t *testing.T) []ebpf.ProgramID {
	t.Helper()
	var ids []ebpf.ProgramID
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return ids
		}
		if err != nil {
			t.Fatalf("next program ID after %d: %v", id, err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // gone meanwhile
		}
		if err != nil {
			t.Fatalf("program %d: %v", id, err)
		}
		info, err := p.Info()
		p.Close()
		if err == nil && info.Name == bpfProgName {
			ids = append(ids, id)
		}
	}
}

// linkIDsOf lists the links that attach program prog.
func linkIDsOf(t *testing.T, prog ebpf.ProgramID) []link.ID {
	t.Helper()
	var ids []link.ID
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err == nil && info.Program == prog {
			ids = append(ids, it.ID)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestBPFCloseReleases: close ends run, and the program, its link and
// its maps are gone from the kernel.
func TestBPFCloseReleases(t *testing.T) {
	needRoot(t)
	before := ownProgramIDs(t)
	r, err := openBPFSize(defaultRingSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.close() })
	info, err := r.prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	progID, ok := info.ID()
	if !ok {
		t.Fatal("the kernel gave no program ID")
	}
	if slices.Contains(before, progID) {
		t.Fatalf("program %d listed before it was loaded", progID)
	}
	if ids := ownProgramIDs(t); !slices.Contains(ids, progID) {
		t.Fatalf("program %d not among the loaded %s programs %v", progID, bpfProgName, ids)
	}
	links := linkIDsOf(t, progID)
	if len(links) != 1 {
		t.Fatalf("links of program %d: %v, want one", progID, links)
	}
	var mapIDs []ebpf.MapID
	for _, m := range []*ebpf.Map{r.events, r.lostMap} {
		mi, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, ok := mi.ID()
		if !ok {
			t.Fatal("the kernel gave no map ID")
		}
		mapIDs = append(mapIDs, id)
	}

	done := make(chan error, 1)
	go func() { done <- r.run(func([]collect.StateEvent) {}) }()
	if err := r.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	waitfor.Recv(t, eventWait, "run to end after close", done, func(err error, _ bool) bool {
		if err != nil {
			t.Errorf("run after close: %v", err)
		}
		return true
	}, nil)
	if err := r.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	// The kernel frees a program after an RCU grace period.
	waitfor.UntilShow(t, eventWait, "the program, its link and its maps to be gone", func() bool {
		if slices.Contains(ownProgramIDs(t), progID) || len(linkIDsOf(t, progID)) != 0 {
			return false
		}
		for _, id := range mapIDs {
			m, err := ebpf.NewMapFromID(id)
			if err == nil {
				m.Close()
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("%s programs %v, links of %d: %v", bpfProgName, ownProgramIDs(t), progID, linkIDsOf(t, progID))
	})
}

// nonRootEnv marks a run of this test binary as nobody.
const nonRootEnv = "SOCKTOP_EVENTS_NONROOT"

// TestBPFUnprivileged runs this test binary again as nobody with no
// capabilities: the BPF reader is unavailable, and says why and what
// restores it.
func TestBPFUnprivileged(t *testing.T) {
	if os.Getenv(nonRootEnv) == "1" || os.Geteuid() != 0 {
		unprivilegedChild(t)
		return
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "socktop-events-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "events.test")
	if err := kerneltest.CopyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "-test.run=^TestBPFUnprivileged$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), nonRootEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged run failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestBPFUnprivileged") {
		t.Fatalf("unprivileged run did not pass:\n%s", out)
	}
	t.Logf("as nobody:\n%s", out)
}

func unprivilegedChild(t *testing.T) {
	r, err := openBPF()
	if err == nil {
		r.close()
		t.Fatal("openBPF succeeded without privilege")
	}
	t.Logf("openBPF: %v", err)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %q does not wrap ErrUnavailable", err)
	}
	msg := err.Error()
	// The cause, and what restores it.
	if !strings.Contains(msg, "operation not permitted") && !strings.Contains(msg, "permission denied") {
		t.Errorf("error %q names no refusal", msg)
	}
	if !strings.Contains(msg, "setcap cap_bpf,cap_perfmon+ep") || !strings.Contains(msg, "root") {
		t.Errorf("error %q does not say what restores it", msg)
	}
	// The library's own advice is a Go call socktop made already.
	if strings.Contains(msg, "rlimit.RemoveMemlock") {
		t.Errorf("error %q passes on cilium/ebpf's hint to a user", msg)
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		t.Errorf("error %q lost its errno", msg)
	}
	s, err := Open(Options{Mode: ModeBPF})
	if err == nil {
		s.Close()
		t.Fatal("Open with Mode bpf succeeded without privilege")
	}
}
