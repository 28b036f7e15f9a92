package main

import (
	"os"
	"runtime/debug"
)

// wholeProcess is set when the process runs one command line and exits
// (start), rather than many (tests calling run).
var wholeProcess bool

// minOneShotHeap is the least heap a one-shot command may grow to before
// it collects at all (see oneShotGC).
const minOneShotHeap = 1 << 30

// oneShotGC turns the garbage collector off for a command that takes one
// snapshot, prints it and exits, unless GOGC or GOMEMLIMIT say otherwise.
// Nearly all of such a command's heap is the snapshot's array, allocated
// once and live to the end, so a collection frees almost nothing; and the
// first one, which the array's allocation itself triggers, reads the
// array's fresh pages while the dump is still writing them, so that each
// page is faulted in twice (a read of the zero page, then a copy on
// write). A memory limit (a quarter of the machine's memory, at least
// minOneShotHeap) still collects when a pass that makes garbage, an owner
// scan of a huge host, would otherwise grow without bound. It does so
// only when the command is the whole process (wholeProcess, set by
// start): tests run many commands in one process, whose garbage must
// still be collected.
func oneShotGC() {
	if !wholeProcess || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(max(minOneShotHeap, int64(totalMemory()/4)))
}
