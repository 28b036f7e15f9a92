//go:build !linux

package collect

import (
	"context"
	"fmt"
)

// Gopsutil would be the gopsutil-backed source. Off Linux gopsutil needs
// modules (github.com/ebitengine/purego, github.com/tklauser/go-sysconf)
// this project does not carry, so here every Snapshot fails with an error
// wrapping ErrUnsupported.
type Gopsutil struct {
	pending []string
}

// NewGopsutil returns a source that cannot work on this system.
func NewGopsutil(opts Options) *Gopsutil { return &Gopsutil{} }

// SetStates does nothing here.
func (g *Gopsutil) SetStates(m StateMask) {}

// Snapshot fails: gopsutil is not built in here.
func (g *Gopsutil) Snapshot(ctx context.Context) (Snapshot, error) {
	return Snapshot{}, fmt.Errorf("collect: gopsutil source is built only for Linux: %w", ErrUnsupported)
}
