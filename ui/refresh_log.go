package ui

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// refreshLogEnv names a file to which the live view appends one line per
// refresh, for the benchmarks (bench/run.sh): when the collection started
// (Unix nanoseconds), the refresh's duration from that start to the end of
// the redraw and the collection's alone (milliseconds), the number of
// sockets in the snapshot (of rows asked about, for a peek), and the
// refresh's kind: "walk" (a dump of the table) or "peek" (a lookup of
// the rows shown, gate.go). It is a measuring hook, not an interface.
const refreshLogEnv = "SOCKTOP_REFRESH_LOG"

// refreshLog times refreshes. The model calls started (in collectCmd) and
// done (after the redraw) from the event loop, and collected from the
// collection's goroutine; the lines are written by a goroutine of its own,
// so Update does no I/O.
type refreshLog struct {
	start, collectEnd atomic.Int64
	lines             chan string
}

// newRefreshLog opens the file named by SOCKTOP_REFRESH_LOG; nil (which
// logs nothing) when it is unset or cannot be opened.
func newRefreshLog() *refreshLog {
	path := os.Getenv(refreshLogEnv)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	l := &refreshLog{lines: make(chan string, 64)}
	go func() {
		for s := range l.lines {
			_, _ = f.WriteString(s)
		}
	}()
	return l
}

// sibling is a log of its own times writing to l's file: for refreshes
// that run beside l's (a peek beside a walk in flight).
func (l *refreshLog) sibling() *refreshLog {
	if l == nil {
		return nil
	}
	return &refreshLog{lines: l.lines}
}

func (l *refreshLog) started() {
	if l != nil {
		l.start.Store(time.Now().UnixNano())
		l.collectEnd.Store(0)
	}
}

func (l *refreshLog) collected() {
	if l != nil {
		l.collectEnd.Store(time.Now().UnixNano())
	}
}

func (l *refreshLog) done(sockets int, kind string) {
	if l == nil {
		return
	}
	start, end := l.start.Load(), l.collectEnd.Load()
	if start == 0 || end == 0 {
		return
	}
	now := time.Now().UnixNano()
	line := fmt.Sprintf("%d %.1f %.1f %d %s\n", start, float64(now-start)/1e6, float64(end-start)/1e6, sockets, kind)
	select {
	case l.lines <- line:
	default: // a slow disk must not slow the view
	}
}
