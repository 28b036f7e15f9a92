package events

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A trace line that names a thread the trace had recorded neither a
// process nor a name for ("<...>-TID (-------)", common on a loaded host
// with new threads) gets both from /proc: the test's own thread, as the
// reader would see it.
func TestParseTraceTaskUnknownTgid(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	head := []byte("  <...>-" + strconv.Itoa(tid) + " (-------) [001] .....")
	if pid, _ := parseTraceTask(head, &commNames{}); pid != 0 {
		t.Fatalf("without a resolver: pid %d, want 0 (unknown)", pid)
	}
	want, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		t.Fatal(err)
	}
	pid, comm := parseTraceTask(head, &commNames{tgid: newTgidCache().of})
	if int(pid) != os.Getpid() || comm != strings.TrimSpace(string(want)) {
		t.Fatalf("pid %d comm %q, want %d %q", pid, comm, os.Getpid(), strings.TrimSpace(string(want)))
	}
	if got, _ := newTgidCache().of(1 << 22); got != 0 {
		t.Fatalf("a thread that does not exist resolved to %d", got)
	}
}
