package main

import (
	"os"
	"strconv"
	"strings"
)

// readHostLimits reads the host-wide limits from /proc; what it cannot
// read stays zero, which limits nothing.
func readHostLimits() hostLimits {
	var h hostLimits
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.memTotal, h.memAvail = parseMeminfo(string(b))
	}
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
