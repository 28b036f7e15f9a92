//go:build linux

package collect

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOwnersCatchUpFollowsForkAndExit: a child process that inherits a
// socket is listed as its owner within two refreshes, and dropped once it
// exits, with no full scan of /proc in between (the clock is the test's,
// so none falls due): a fork and an exit make no new inode, which is all
// a full scan waits for.
func TestOwnersCatchUpFollowsForkAndExit(t *testing.T) {
	u := boundUDP(t)
	t.Cleanup(u.Close)
	clk := newFakeClock()
	c := newOwnerCache()
	c.now = clk.Now
	socks := ownedSocks(t, u)
	c.resolve(socks)
	if !isSelf(t, socks[0].Owners) {
		t.Fatalf("before the fork the owners are %v, want this process alone", socks[0].Owners)
	}
	scans := c.scans

	dup, err := unix.Dup(u.fd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "inherited")
	child := exec.Command("sleep", "60")
	child.ExtraFiles = []*os.File{f}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	pid := child.Process.Pid

	held := func() bool {
		socks = ownedSocks(t, u)
		c.resolve(socks)
		return slices.ContainsFunc(socks[0].Owners, func(o Owner) bool { return o.PID == pid && o.Name == "sleep" })
	}
	if held() {
		t.Log("listed at the first refresh after the fork")
	} else if !held() {
		t.Fatalf("two refreshes after the fork the owners are %v, want pid %d (sleep) too", socks[0].Owners, pid)
	}
	if len(socks[0].Owners) != 2 {
		t.Errorf("after the fork the owners are %v, want this process and the child", socks[0].Owners)
	}
	if c.scans != scans {
		t.Errorf("the fork cost a full scan (%d scans, was %d)", c.scans, scans)
	}

	child.Process.Kill()
	child.Wait()
	if held() {
		t.Errorf("after the child's exit the owners are %v, still with pid %d", socks[0].Owners, pid)
	}
	if !isSelf(t, socks[0].Owners) {
		t.Errorf("after the child's exit the owners are %v, want this process alone", socks[0].Owners)
	}
	if c.scans != scans {
		t.Errorf("the exit cost a full scan (%d scans, was %d)", c.scans, scans)
	}
}

// BenchmarkOwnersCatchUp is the cost catchUp adds to a refresh with
// nothing new: one listing of /proc and the comparison with the last.
func BenchmarkOwnersCatchUp(b *testing.B) {
	c := newOwnerCache()
	c.collect(nil)
	c.rebuild(false)
	b.ReportAllocs()
	for b.Loop() {
		c.catchUp()
	}
}
