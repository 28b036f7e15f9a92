//go:build !linux

package demo

import (
	"time"

	"socktop/probe"
)

// transfer says how one timed run moves bytes (see the Linux version).
type transfer struct {
	size    int
	dur     time.Duration
	bytes   int64
	more    func() bool
	stopped func() bool
}

// timedTransfer needs Linux's non-blocking descriptors.
func timedTransfer(w, r int, t transfer) (int64, time.Duration, error) {
	return 0, 0, probe.ErrUnsupported
}

// dupFD needs Linux.
func dupFD(ep *probe.Endpoint) (int, error) { return -1, probe.ErrUnsupported }

// closeFD does nothing outside Linux.
func closeFD(fd int) {}

// pipeRun needs Linux's pipe2.
func pipeRun(t transfer) (int64, time.Duration, error) { return 0, 0, probe.ErrUnsupported }
