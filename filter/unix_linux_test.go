//go:build linux

package filter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/collect"
)

// TestPathMatchesSS checks path GLOB against ss, whose src condition on
// a Unix socket is fnmatch(3) of its name: the same patterns, on Unix
// sockets the test binds under a temporary directory and to abstract
// names, must select the same of them in a collect snapshot as in
// `ss -xa src GLOB`.
func TestPathMatchesSS(t *testing.T) {
	dir := t.TempDir()
	var b [6]byte
	rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	names := []string{
		filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock"), filepath.Join(dir, "ab.sock"),
		filepath.Join(dir, "sub", "c.sock"), filepath.Join(dir, "x]y.sock"),
		"@socktop-test-" + tag + "-one", "@socktop-test-" + tag + "-two",
	}
	if err := unix.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	own := map[uint32]bool{}
	for _, name := range names {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
			t.Fatalf("bind %s: %v", name, err)
		}
		if err := unix.Listen(fd, 1); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		own[uint32(st.Ino)] = true
	}
	src := collect.NewNetlink(collect.Options{Unix: true})
	defer src.Close()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	abs := "@socktop-test-" + tag
	matched := 0
	for _, pat := range []string{
		dir + "/*", dir + "/?.sock", dir + "/[ab].sock", dir + "/[^a].sock", dir + "/[a-b]*",
		dir + "/*/c.sock", dir + "/*.sock", filepath.Dir(dir) + "/*", dir + "/x]y.sock", dir + "/x\\]y.sock",
		abs + "-*", abs + "-t?o", "@socktop-test-" + tag + "*o*", dir + "/a.sock", dir + "/zzz",
	} {
		f, err := Parse("path '" + pat + "'")
		if err != nil {
			t.Fatalf("Parse path %q: %v", pat, err)
		}
		mine := map[uint32]bool{}
		for i := range snap.Sockets {
			if s := &snap.Sockets[i]; own[s.Inode] && f.Match(s) {
				mine[s.Inode] = true
			}
		}
		theirs := ssSrcInodes(t, pat, own)
		matched += len(theirs)
		for ino := range own {
			if mine[ino] != theirs[ino] {
				t.Errorf("pattern %q, inode %d: socktop %v, ss %v", pat, ino, mine[ino], theirs[ino])
			}
		}
	}
	if matched < 20 {
		t.Errorf("ss matched %d of the test's sockets over all patterns; the patterns should select 20 or more", matched)
	}
}

// ssSrcInodes returns the inodes among own that `ss -xaH src pat` lists.
func ssSrcInodes(t *testing.T, pat string, own map[uint32]bool) map[uint32]bool {
	t.Helper()
	out, err := exec.Command("ss", "-xaH", "src", pat).Output()
	if err != nil {
		t.Fatalf("ss -xaH src %q: %v", pat, err)
	}
	got := map[uint32]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue // blank, or a name ss split over lines: not one of ours
		}
		ino, err := strconv.ParseUint(f[len(f)-3], 10, 32)
		if err == nil && own[uint32(ino)] {
			got[uint32(ino)] = true
		}
	}
	return got
}
