//go:build !linux

package collect

import (
	"fmt"
	"time"
)

// ClosedWatcher reports destroyed sockets; it exists only on Linux.
type ClosedWatcher struct{}

// WatchClosed fails with an error wrapping ErrUnsupported: there are no
// sock_diag destroy groups here.
func WatchClosed(now func() time.Time) (*ClosedWatcher, error) {
	return nil, fmt.Errorf("collect: sock_diag destroy groups are Linux only: %w", ErrUnsupported)
}

// Closed returns nil: nothing is ever reported here.
func (w *ClosedWatcher) Closed() <-chan Closed { return nil }

// Lost returns 0: nothing is ever reported here.
func (w *ClosedWatcher) Lost() uint64 { return 0 }

// Close does nothing here.
func (w *ClosedWatcher) Close() error { return nil }

// Malformed returns 0: nothing is ever reported here.
func (w *ClosedWatcher) Malformed() uint64 { return 0 }

// Err returns nil: nothing ever runs here.
func (w *ClosedWatcher) Err() error { return nil }

// Dropped returns 0: nothing is ever reported here.
func (w *ClosedWatcher) Dropped() (uint64, error) { return 0, nil }

// WatchClosedFunc fails as WatchClosed does.
func WatchClosedFunc(now func() time.Time, emit func([]Closed)) (*ClosedWatcher, error) {
	return WatchClosed(now)
}

// SetPorts does nothing here.
func (w *ClosedWatcher) SetPorts(ps *PortSet) error { return nil }
