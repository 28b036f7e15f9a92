package collect

import (
	"net/netip"
	"time"
)

// Closed is one socket the kernel destroyed, as the sock_diag destroy
// groups report it: the last the kernel knew of it, at the moment its
// memory was freed. The kernel sends neither uid nor inode with it, so
// who held the socket is not part of the record.
type Closed struct {
	Proto  Proto
	Family uint8 // 4 or 6
	// State is the socket's state when it was destroyed: CLOSE for a TCP
	// socket that went through its close, or whatever state a socket was
	// in when the kernel tore it down (a listener, a socket killed with
	// SOCK_DESTROY).
	State  State
	Local  netip.AddrPort
	Remote netip.AddrPort
	// Cookie is the kernel's socket cookie, the one SO_COOKIE and a dump
	// gave while the socket was alive, so a record joins its dump row.
	Cookie uint64
	// Info is the final tcp_info of a TCP socket; nil for UDP, and for a
	// message without the attribute.
	Info *TCPInfo
	// Received is when the watcher read the message, from its clock.
	Received time.Time
}

// Key returns the destroyed socket's identity, the same Key its rows had
// in the snapshots while it was alive.
func (c *Closed) Key() Key { return Key{Proto: c.Proto, Local: c.Local, Remote: c.Remote} }
