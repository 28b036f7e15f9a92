package demo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Host is what the running kernel says about the pictures the demos can
// show: the net.ipv4 sysctls and the kernel version.
type Host struct {
	// Sysctl maps a name under /proc/sys/net/ipv4 to its value; a name
	// that could not be read is absent.
	Sysctl map[string]int
	// Kernel is the major and minor version, 0.0 when unknown.
	Kernel [2]int
}

// hostSysctls are the settings the scenarios read.
var hostSysctls = []string{
	"tcp_fin_timeout", "tcp_syn_retries", "tcp_synack_retries", "tcp_syncookies",
	"tcp_abort_on_overflow", "tcp_syn_linear_timeouts",
	"tcp_max_tw_buckets", "tcp_tw_reuse",
	"tcp_retries2", "tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes",
}

// ReadHost reads the sysctls and the kernel version from /proc.
func ReadHost() Host { return readHost("/proc") }

func readHost(proc string) Host {
	h := Host{Sysctl: map[string]int{}}
	for _, name := range hostSysctls {
		b, err := os.ReadFile(filepath.Join(proc, "sys/net/ipv4", name))
		if err != nil {
			continue
		}
		if v, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil {
			h.Sysctl[name] = v
		}
	}
	if b, err := os.ReadFile(filepath.Join(proc, "sys/kernel/osrelease")); err == nil {
		h.Kernel = parseKernel(string(b))
	}
	return h
}

// parseKernel reads "6.18.44-fc" as {6, 18}.
func parseKernel(s string) [2]int {
	var v [2]int
	parts := strings.SplitN(strings.TrimSpace(s), ".", 3)
	for i := 0; i < 2 && i < len(parts); i++ {
		end := strings.IndexFunc(parts[i], func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(parts[i])
		}
		v[i], _ = strconv.Atoi(parts[i][:end])
	}
	return v
}

// get returns a sysctl and whether it was read.
func (h Host) get(name string) (int, bool) {
	v, ok := h.Sysctl[name]
	return v, ok
}

// describe returns "name=value", or "name unknown".
func (h Host) describe(name string) string {
	if v, ok := h.get(name); ok {
		return fmt.Sprintf("%s=%d", name, v)
	}
	return name + " unknown"
}

// atLeast reports whether the kernel is major.minor or newer; an
// unknown version counts as new enough, so nothing is hidden by mistake.
func (h Host) atLeast(major, minor int) bool {
	if h.Kernel == [2]int{} {
		return true
	}
	return h.Kernel[0] > major || h.Kernel[0] == major && h.Kernel[1] >= minor
}

// synRetrySeconds estimates how long a handshake packet is retried:
// linear retries 1 s apart (tcp_syn_linear_timeouts, SYN only), then n
// retries with the timeout doubling from 1 s, plus the last wait. It
// gives about 131 s for a SYN with the defaults and 63 s for a SYN-ACK.
func synRetrySeconds(n, linear int) int {
	return linear + 1<<(n+1) - 1
}
