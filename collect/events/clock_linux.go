//go:build linux

package events

import (
	"time"

	"golang.org/x/sys/unix"
)

// clock puts the kernel's CLOCK_MONOTONIC timestamps (bpf_ktime_get_ns,
// tracefs's "mono" trace clock) on the wall clock. The times it makes
// carry Go's monotonic reading, so they order exactly against
// time.Now() values such as Snapshot.Taken.
type clock struct {
	wall time.Time
	mono int64
}

// newClock reads both clocks back to back.
func newClock() clock {
	var ts unix.Timespec
	wall := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{wall: wall, mono: ts.Nano()}
}

// at returns the time of a CLOCK_MONOTONIC timestamp in nanoseconds.
func (c clock) at(ns int64) time.Time { return c.wall.Add(time.Duration(ns - c.mono)) }
