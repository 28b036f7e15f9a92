package segments

import (
	"errors"
	"net/netip"

	"socktop/collect"
)

// ErrUnavailable is wrapped by Capture's error when packets cannot be
// captured here: no CAP_NET_RAW, not Linux.
var ErrUnavailable = errors.New("segment capture unavailable")

// Options choose what a Capture sees.
type Options struct {
	// Ifindex is the interface to capture on; 0 means loopback.
	Ifindex int
	// Ports are the TCP ports of the connections to capture (either
	// end); the kernel's filter passes only segments with one of them.
	Ports []uint16
}

// Sides names a connection's two ends for the diagram: the client (the
// end that sent the SYN) on the left, the server on the right, and the
// states each went through.
type Sides struct {
	Client, Server         netip.AddrPort
	ClientPath, ServerPath []collect.Step
}
