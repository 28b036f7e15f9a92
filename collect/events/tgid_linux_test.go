package events

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// A trace line that names a thread the trace had not recorded a process
// for ("(-------)", common on a loaded host with new threads) gets its
// process from /proc: the test's own thread, as the reader would see it.
func TestParseTraceTaskUnknownTgid(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	head := []byte("  socktop.test-" + strconv.Itoa(tid) + " (-------) [001] .....")
	if pid, _ := parseTraceTask(head, &commNames{}); pid != 0 {
		t.Fatalf("without a resolver: pid %d, want 0 (unknown)", pid)
	}
	pid, comm := parseTraceTask(head, &commNames{tgid: newTgidCache().of})
	if int(pid) != os.Getpid() || comm != "socktop.test" {
		t.Fatalf("pid %d comm %q, want %d socktop.test", pid, comm, os.Getpid())
	}
	if got := newTgidCache().of(1 << 22); got != 0 {
		t.Fatalf("a thread that does not exist resolved to %d", got)
	}
}
