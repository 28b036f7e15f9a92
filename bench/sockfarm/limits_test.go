package main

import (
	"strings"
	"testing"
)

func TestFitHost(t *testing.T) {
	const gib = int64(1) << 30
	roomy := hostLimits{memTotal: 24 * gib, memAvail: 22 * gib, twMax: 131072, twInUse: 40000, fileMax: 2466126, fileInUse: 100000}
	for _, tc := range []struct {
		name          string
		n, tw         int
		h             hostLimits
		wantN, wantTW int
		limit         string // a word every limit line must hold; "" for none
	}{
		{"fits", 100000, 30000, roomy, 100000, 30000, ""},
		{"unknown host limits nothing", 1000000, 300000, hostLimits{}, 1000000, 300000, ""},
		// 131072 - 40000 in use - 13107 kept for others.
		{"tw buckets", 1000000, 300000, roomy, 1000000, 77965, "TIME_WAIT"},
		{"tw buckets all taken", 1000, 300, hostLimits{twMax: 131072, twInUse: 131000}, 1000, 0, "TIME_WAIT"},
		// 6 GiB available, 4 GiB kept free (a quarter of 8 GiB is less):
		// 2 GiB less 10000 TIME_WAIT at 512 B, at 4096 B each.
		{"memory", 1000000, 10000, hostLimits{memTotal: 8 * gib, memAvail: 6 * gib}, 10000 + int((2*gib-10000*twSocketBytes)/fdSocketBytes), 10000, "memory"},
		{"no memory to spare", 1000, 100, hostLimits{memTotal: 8 * gib, memAvail: 3 * gib}, 0, 0, "memory"},
		{"open files", 1000000, 0, hostLimits{fileMax: 1000000, fileInUse: 500000}, 400000, 0, "open files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fitHost(tc.n, tc.tw, tc.h)
			if f.n != tc.wantN || f.tw != tc.wantTW {
				t.Errorf("fitHost(%d, %d) = %d sockets, %d TIME_WAIT; want %d, %d", tc.n, tc.tw, f.n, f.tw, tc.wantN, tc.wantTW)
			}
			if tc.limit == "" && len(f.limits) != 0 {
				t.Errorf("limits %q, want none", f.limits)
			}
			if tc.limit != "" && (len(f.limits) == 0 || !strings.Contains(strings.Join(f.limits, "\n"), tc.limit)) {
				t.Errorf("limits %q, want one about %s", f.limits, tc.limit)
			}
		})
	}
}

func TestParseProcFormats(t *testing.T) {
	total, avail := parseMeminfo("MemTotal:       24683940 kB\nMemFree:        18398468 kB\nMemAvailable:   22955080 kB\n")
	if total != 24683940<<10 || avail != 22955080<<10 {
		t.Errorf("parseMeminfo = %d, %d", total, avail)
	}
	ss := "sockets: used 105386\nTCP: inuse 67088 orphan 5 tw 43874 alloc 105357 mem 27177\nUDP: inuse 0 mem 256\n"
	if got := parseSockstatTW(ss); got != 43874 {
		t.Errorf("parseSockstatTW = %d, want 43874", got)
	}
	if got := parseSockstatTW("UDP: inuse 0 mem 256\n"); got != -1 {
		t.Errorf("parseSockstatTW without a TCP line = %d, want -1", got)
	}
}
