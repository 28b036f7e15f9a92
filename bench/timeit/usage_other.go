//go:build !linux

package main

import (
	"os"
	"time"
)

// usage returns CPU time only: ru_maxrss has different units across
// systems, and the benchmarks that need it run on Linux.
func usage(ps *os.ProcessState) (cpu time.Duration, maxRSSKiB int64) {
	return ps.UserTime() + ps.SystemTime(), 0
}
