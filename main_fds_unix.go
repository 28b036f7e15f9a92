//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// fdLimit returns the soft limit on open descriptors (Go raised it to the
// hard limit at start).
func fdLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	return uint64(lim.Cur), true
}

// checkFDs says why socktop cannot run when the descriptor limit is too
// low for it, so that the cause is named instead of a runtime crash.
func checkFDs() error {
	if n, ok := fdLimit(); ok && n < minFDs {
		return fmt.Errorf("too few file descriptors: ulimit -n is %d, socktop needs at least %d", n, minFDs)
	}
	return nil
}
