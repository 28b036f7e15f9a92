package ui

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/internal/waitfor"
)

func TestRefreshLogWritesOneLinePerRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refresh.log")
	t.Setenv(refreshLogEnv, path)
	l := newRefreshLog()
	if l == nil {
		t.Fatal("newRefreshLog with SOCKTOP_REFRESH_LOG set returned nil")
	}
	l.done(1, "walk") // no refresh started: nothing to log
	kinds := map[int]string{3: "peek", 1000: "walk"}
	for _, n := range []int{3, 1000} {
		l.started()
		l.done(n, kinds[n]) // not collected yet: nothing to log
		l.collected()
		l.done(n, kinds[n])
	}
	var lines []string
	waitfor.Until(t, 10*time.Second, "two lines in the refresh log", func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= 2
	})
	if len(lines) != 2 {
		t.Fatalf("refresh log %q, want two lines", lines)
	}
	for i, want := range []string{"3", "1000"} {
		f := strings.Fields(lines[i])
		if len(f) != 5 || f[3] != want || f[4] != kinds[map[string]int{"3": 3, "1000": 1000}[want]] {
			t.Errorf("line %q, want 5 fields: %s sockets, then the kind", lines[i], want)
			continue
		}
		total, err1 := strconv.ParseFloat(f[1], 64)
		collect, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || collect > total || collect < 0 {
			t.Errorf("line %q: want a refresh duration no shorter than its collection's", lines[i])
		}
	}
	t.Setenv(refreshLogEnv, "")
	if newRefreshLog() != nil {
		t.Error("newRefreshLog without SOCKTOP_REFRESH_LOG logs")
	}
}
