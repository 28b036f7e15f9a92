//go:build !linux

package collect

import (
	"context"
	"fmt"
)

// Netlink is the sock_diag source; it exists only on Linux. Elsewhere every
// method fails with an error wrapping ErrUnsupported, so NewSource falls
// back to gopsutil.
type Netlink struct{ opts Options }

// NewNetlink returns a Netlink source that cannot work on this system.
func NewNetlink(opts Options) *Netlink { return &Netlink{opts: opts} }

var errNoNetlink = fmt.Errorf("collect: NETLINK_SOCK_DIAG is Linux only: %w", ErrUnsupported)

// Snapshot fails: there is no sock_diag here.
func (n *Netlink) Snapshot(ctx context.Context) (Snapshot, error) { return Snapshot{}, errNoNetlink }

// SnapshotInto returns an error wrapping ErrUnsupported: netlink is Linux only.
func (n *Netlink) SnapshotInto(ctx context.Context, buf []Socket) (Snapshot, error) {
	return Snapshot{}, errNoNetlink
}

// SetStates does nothing here.
func (n *Netlink) SetStates(m StateMask) {}

// SetTCPInfo does nothing here.
func (n *Netlink) SetTCPInfo(on bool) {}

// Info fails: there is no sock_diag here.
func (n *Netlink) Info(ctx context.Context, k Key) (*TCPInfo, error) { return nil, errNoNetlink }

// Lookup fails: there is no sock_diag here.
func (n *Netlink) Lookup(ctx context.Context, rows []Socket, out []Peeked) ([]Peeked, error) {
	return out[:0], errNoNetlink
}

// PeekNetNS reports that Lookup cannot be used here.
func (n *Netlink) PeekNetNS() (uint32, bool) { return 0, false }

// Sockstat fails: the counters are Linux's.
func (n *Netlink) Sockstat() (SockCounters, error) { return SockCounters{}, errNoNetlink }

// Patch needs sock_diag, which is Linux's.
func (n *Netlink) Patch(ctx context.Context, prev *Snapshot, evs []StateEvent, closed []Closed, shown []Socket, buf []Socket) (Snapshot, PatchCounts, error) {
	return Snapshot{}, PatchCounts{}, ErrNoPatch
}

// Close does nothing here.
func (n *Netlink) Close() error { return nil }

func (n *Netlink) probe() error { return errNoNetlink }
