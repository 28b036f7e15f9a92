package main

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// readHostLimits reads the host-wide limits from /proc; what it cannot
// read stays zero, which limits nothing.
func readHostLimits() hostLimits {
	var h hostLimits
	h.memTotal, h.memAvail = readMeminfo()
	h.twMax, _ = strconv.Atoi(readSysctl("net.ipv4.tcp_max_tw_buckets"))
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		h.twInUse = max(0, parseSockstatTW(string(b)))
	}
	h.fileMax, _ = strconv.Atoi(readSysctl("fs.file-max"))
	if f := strings.Fields(readSysctl("fs.file-nr")); len(f) == 3 {
		h.fileInUse, _ = strconv.Atoi(f[0])
	}
	return h
}

// guardMemory stops the farm when MemAvailable falls below the headroom
// it planned to leave, while it builds or holds the table: the host's
// other programs grow with the table too (everything that dumps the
// whole socket table holds a copy of it), and the farm gives way to them.
func guardMemory(keepFree int64, logf func(string, ...any)) {
	total, _ := readMeminfo()
	if total == 0 {
		return
	}
	floor := memHeadroom(total, keepFree)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopCh:
				return
			case <-t.C:
			}
			if _, avail := readMeminfo(); avail > 0 && avail < floor {
				logf("sockfarm: LIMIT memory: MemAvailable fell to %d MiB, under the %d MiB the farm leaves free: stopping", avail>>20, floor>>20)
				guardTripped.Store(true)
				requestStop()
				return
			}
		}
	}()
}

// guardTripped says the memory guard stopped the farm.
var guardTripped atomic.Bool

func readMeminfo() (total, avail int64) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	return parseMeminfo(string(b))
}
