//go:build !linux

package collect

import "fmt"

// ReadListenCounters fails off Linux, which has no /proc/net/netstat.
func ReadListenCounters(nsPath string) (ListenCounters, error) {
	return ListenCounters{}, fmt.Errorf("collect: listen counters: %w", ErrUnsupported)
}
