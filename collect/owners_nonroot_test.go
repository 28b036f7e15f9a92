//go:build linux

package collect

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
)

const nonRootEnv = "SOCKTOP_TEST_NONROOT"

// TestOwnersNotRoot runs this test binary again as nobody: other users'
// /proc/PID/fd are unreadable, so the snapshot carries the not-root notice
// once, and the process's own socket still names it.
func TestOwnersNotRoot(t *testing.T) {
	if os.Getenv(nonRootEnv) == "1" {
		nonRootChild(t)
		return
	}
	if os.Geteuid() != 0 {
		nonRootChild(t) // already unprivileged: check directly
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "socktop-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "collect.test")
	if err := kerneltest.CopyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOwnersNotRoot$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), nonRootEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged run failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestOwnersNotRoot") {
		t.Fatalf("unprivileged run did not pass:\n%s", out)
	}
}

func nonRootChild(t *testing.T) {
	u := newSocket(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
		t.Fatal(err)
	}
	n := NewNetlink(Options{Owners: true, UDP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	snap, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(snap.Notices, noticeNoRoot) {
		t.Errorf("notices %q lack %q", snap.Notices, noticeNoRoot)
	}
	s := findFD(t, &snap, u)
	if s == nil || len(s.Owners) != 1 || s.Owners[0].PID != os.Getpid() {
		t.Errorf("own socket: %+v, want owned by pid %d", s, os.Getpid())
	}
	again, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(again.Notices, noticeNoRoot) {
		t.Errorf("the not-root notice was told twice")
	}
}
