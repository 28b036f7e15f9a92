//go:build !linux

package segments

import "fmt"

// Capture reads the TCP segments opts select; packet capture is built
// only for Linux.
type Capture struct{}

// Start fails: packet capture is built only for Linux. The error wraps
// ErrUnavailable.
func Start(opts Options) (*Capture, error) {
	return nil, fmt.Errorf("%w: packet capture is built only for Linux; the segments of the time-sequence diagram are lost", ErrUnavailable)
}

// Drain appends nothing to dst.
func (c *Capture) Drain(dst []Segment) []Segment { return dst }

// Lost returns 0.
func (c *Capture) Lost() uint64 { return 0 }

// Close does nothing.
func (c *Capture) Close() error { return nil }
