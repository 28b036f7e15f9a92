//go:build !linux

package events

import "fmt"

func openBPF() (reader, error) {
	return nil, fmt.Errorf("BPF is Linux only: %w", ErrUnavailable)
}

func openTracefs() (reader, error) {
	return nil, fmt.Errorf("tracefs is Linux only: %w", ErrUnavailable)
}
