package main

import (
	"os"
	"syscall"
	"time"
)

// usage reads the rusage wait4 returned: CPU time, and ru_maxrss, which
// Linux reports in KiB.
func usage(ps *os.ProcessState) (cpu time.Duration, maxRSSKiB int64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return ps.UserTime() + ps.SystemTime(), 0
	}
	return ps.UserTime() + ps.SystemTime(), ru.Maxrss
}
