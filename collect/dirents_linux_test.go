//go:build linux

package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// readDir lists a directory bigger than its buffer: every entry once,
// never "." or "..", each name followed by its NUL, batches counted, and
// nothing allocated per entry.
func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	const files = 300
	want := map[string]bool{}
	for i := range files {
		name := fmt.Sprintf("entry-%03d-%s", i, strings.Repeat("x", 40))
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		want[name] = true
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 1024) // a few dozen entries a batch
	got := map[string]int{}
	batches := 0
	err = readDir(fd, buf, func(batch int, name []byte) {
		got[string(name)]++
		batches = max(batches, batch+1)
		if cap(name) <= len(name) || name[:len(name)+1][len(name)] != 0 {
			t.Errorf("%q is not followed by a NUL", name)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range got {
		if !want[name] || c != 1 {
			t.Errorf("entry %q listed %d times; want once, and only the files made", name, c)
		}
	}
	if len(got) != files {
		t.Errorf("%d entries, want %d", len(got), files)
	}
	if batches < 2 {
		t.Errorf("%d files in %d batches of a %d-byte buffer; want several", files, batches, len(buf))
	}

	seen := 0
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := readDir(fd, buf, func(int, []byte) { seen++ }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("readDir of %d entries allocates %.1f times; want 0", files, allocs)
	}
	if seen != 21*files {
		t.Errorf("rewound listings saw %d entries, want %d", seen, 21*files)
	}
}

// An error from getdents ends the walk and is returned.
func TestReadDirError(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls := 0
	err = readDir(int(f.Fd()), make([]byte, 1024), func(int, []byte) { calls++ })
	if err != unix.ENOTDIR || calls != 0 {
		t.Errorf("readDir of a plain file: err %v after %d entries; want ENOTDIR and none", err, calls)
	}
}
