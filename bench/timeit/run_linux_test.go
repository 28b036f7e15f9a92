package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunOnceReadsRusage(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devnull.Close() })
	// dd with a 64 MiB block must touch that much memory: its peak RSS
	// shows in ru_maxrss.
	r := runOnce([]string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"}, devnull, time.Minute)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Wall <= 0 || r.MaxRSS < 64*1024 {
		t.Errorf("wall %v peak RSS %d KiB, want > 0 and >= 65536 KiB", r.Wall, r.MaxRSS)
	}
	if r := runOnce([]string{"false"}, devnull, time.Minute); r.Err == nil {
		t.Error("false succeeded")
	}
	if r := runOnce([]string{"sleep", "30"}, devnull, 100*time.Millisecond); r.Err == nil || !strings.Contains(r.Err.Error(), "killed") {
		t.Errorf("a run past its timeout was not killed: %v", r.Err)
	}
}
