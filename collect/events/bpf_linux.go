//go:build linux

package events

import "fmt"

// openBPF loads the tracepoint program; not written yet.
func openBPF() (reader, error) {
	return nil, fmt.Errorf("bpf reader not built: %w", ErrUnavailable)
}
