//go:build !linux

package demo

import (
	"errors"
	"net/netip"
)

// errNoLab is why a netLab cannot be made outside Linux.
var errNoLab = errors.New("demo lab: network namespaces and veth pairs are Linux only")

// labConfig says what a netLab's link is like (see the Linux version).
type labConfig struct {
	// RateBits limits each direction of the link; 0 leaves it unlimited.
	RateBits uint64
	// PinNeighbour makes the neighbour entry of the far end permanent.
	PinNeighbour bool
}

// netLab is a network namespace joined by a veth pair; Linux only.
type netLab struct{}

// labAllowed says a netLab cannot be made here.
func labAllowed() string { return "network namespaces are Linux only" }

func newNetLab(labConfig) (*netLab, error) { return nil, errNoLab }

// Name returns "".
func (l *netLab) Name() string { return "" }

// Path returns "".
func (l *netLab) Path() string { return "" }

// HostAddr returns the zero address.
func (l *netLab) HostAddr() netip.Addr { return netip.Addr{} }

// NSAddr returns the zero address.
func (l *netLab) NSAddr() netip.Addr { return netip.Addr{} }

// HostLink returns "".
func (l *netLab) HostLink() string { return "" }

// NSLink returns the name of the veth end inside the namespace.
func (l *netLab) NSLink() string { return "" }

// RateBits returns 0.
func (l *netLab) RateBits() uint64 { return 0 }

// SetNSLinkUp fails outside Linux.
func (l *netLab) SetNSLinkUp(bool) error { return errNoLab }

// Close does nothing outside Linux.
func (l *netLab) Close() error { return nil }
