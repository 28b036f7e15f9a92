package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Planning figures for the kernel memory one socket costs. An established
// endpoint or a listener holds a tcp_sock (TCP or TCPv6 slab), a socket
// inode, a file and a dentry; a TIME_WAIT socket only a tw bucket. They
// round the slab growth measured per 100k sockets up (docs/performance.md,
// "A million sockets"), so a plan errs on the side of the host.
const (
	fdSocketBytes = 4096
	twSocketBytes = 512
)

// hostLimits are the host-wide limits a table of sockets draws on, as
// read from /proc. A zero field is unknown and limits nothing.
type hostLimits struct {
	memTotal, memAvail int64 // bytes, /proc/meminfo
	twMax, twInUse     int   // net.ipv4.tcp_max_tw_buckets, sockstat "tw"
	fileMax, fileInUse int   // fs.file-max, fs.file-nr (allocated)
	// keepFree is the memory to leave available; zero: memHeadroom's
	// default.
	keepFree int64
}

// fitted is a table the host can hold, and why it is smaller than asked.
type fitted struct {
	n, tw int
	// limits names each limit that shrank the table, in words for the log
	// and for the benchmark's record; empty when nothing did.
	limits []string
}

// memHeadroom is what the farm leaves available: other programs, the
// tools being measured and other people's tests share this host. keep,
// when positive, overrides the default.
func memHeadroom(total, keep int64) int64 {
	if keep > 0 {
		return keep
	}
	return max(4<<30, total/4)
}

// fileHeadroom is how many open files the farm leaves to everyone else.
func fileHeadroom(fileMax int) int {
	return max(65536, fileMax/10)
}

// twHeadroom is the part of tcp_max_tw_buckets the farm leaves to other
// programs' TIME_WAIT sockets, which come and go while it runs.
func twHeadroom(twMax int) int {
	return max(1024, twMax/10)
}

// fitHost shrinks a table of n sockets, twN of them in TIME_WAIT, to what
// h can hold. TIME_WAIT sockets beyond the free tw buckets would be
// dropped by the kernel the moment they are made, so they become
// established pairs instead (the table keeps its size); memory and the
// system-wide file limit shrink the table itself.
func fitHost(n, twN int, h hostLimits) fitted {
	f := fitted{n: n, tw: twN}
	if h.twMax > 0 {
		free := max(0, h.twMax-h.twInUse-twHeadroom(h.twMax))
		if f.tw > free {
			f.limits = append(f.limits, fmt.Sprintf("TIME_WAIT: %d of %d requested (net.ipv4.tcp_max_tw_buckets=%d, %d in use by others, %d left to them); the rest are established pairs",
				free, f.tw, h.twMax, h.twInUse, twHeadroom(h.twMax)))
			f.tw = free
		}
	}
	if h.memAvail > 0 {
		spare := h.memAvail - memHeadroom(h.memTotal, h.keepFree)
		fdN := int64(f.n - f.tw)
		need := fdN*fdSocketBytes + int64(f.tw)*twSocketBytes
		if need > spare {
			// Shrink the established part first, keeping the TIME_WAIT
			// count while it fits.
			tw := f.tw
			if int64(tw)*twSocketBytes > spare {
				tw = int(max(0, spare/twSocketBytes))
			}
			fit := int(min(fdN, max(0, (spare-int64(tw)*twSocketBytes)/fdSocketBytes)))
			f.limits = append(f.limits, fmt.Sprintf("memory: %d sockets fit (MemAvailable %d MiB, %d MiB kept free, %d B per socket, %d B per TIME_WAIT)",
				fit+tw, h.memAvail>>20, memHeadroom(h.memTotal, h.keepFree)>>20, fdSocketBytes, twSocketBytes))
			f.n, f.tw = fit+tw, tw
		}
	}
	if h.fileMax > 0 {
		free := max(0, h.fileMax-h.fileInUse-fileHeadroom(h.fileMax))
		if fdN := f.n - f.tw; fdN > free {
			f.limits = append(f.limits, fmt.Sprintf("open files: %d descriptors free under fs.file-max=%d (%d in use, %d kept free)",
				free, h.fileMax, h.fileInUse, fileHeadroom(h.fileMax)))
			f.n = free + f.tw
		}
	}
	return f
}

// parseMeminfo reads MemTotal and MemAvailable, in bytes.
func parseMeminfo(s string) (total, avail int64) {
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v << 10
		case "MemAvailable:":
			avail = v << 10
		}
	}
	return total, avail
}

// parseSockstatTW reads the TIME_WAIT count from /proc/net/sockstat's
// "TCP: inuse N orphan N tw N ..." line; -1 when it is missing.
func parseSockstatTW(s string) int {
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				if v, err := strconv.Atoi(f[i+1]); err == nil {
					return v
				}
			}
		}
	}
	return -1
}
