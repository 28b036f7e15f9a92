package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

var (
	errTupleTaken = errors.New("sockfarm: 4-tuple or port already in use")
	errNoPort     = errors.New("sockfarm: no free listener port")
)

// Addresses of the farm: listeners on one address per family, clients on
// another (IPv4) or the same (IPv6, where loopback has only ::1). Each
// process of the farm has its own IPv4 client address (setClientAddr),
// so that the kernel's bind buckets, one per address and port, stay short
// however many processes reuse the client ports.
var (
	listenAddr4 = netip.MustParseAddr("127.77.0.1")
	clientAddr4 = netip.MustParseAddr("127.77.1.1")
	clientNet4  = netip.MustParsePrefix("127.77.0.0/16")
	loop6       = netip.IPv6Loopback()
)

// setClientAddr gives the process of this index (0: the parent) its IPv4
// client address, 127.77.1.1 upwards, inside clientNet4 and never the
// listening address.
func setClientAddr(index int) {
	i := index % (254 * 254)
	clientAddr4 = netip.AddrFrom4([4]byte{127, 77, byte(1 + i/254), byte(1 + i%254)})
}

// nextListenPort spreads the search for free listener ports so that the
// listeners of one process do not probe the same taken ports again.
var nextListenPort atomic.Int32

// Each process starts its search at a random port, so that a farm that
// starts while another stops does not pick up the ports just freed (a test
// that looks for leftovers on them would see the other farm's sockets).
func init() {
	nextListenPort.Store(int32(listenPortBase + rand.IntN((listenPortMax-listenPortBase)/2)))
}

type listener struct {
	fd   int
	addr netip.AddrPort
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func domain(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// openListener listens on the first free port from nextListenPort on the
// farm's listening address of the family. No SO_REUSEADDR: a port that
// holds anything, even a TIME_WAIT, is skipped, so a listener port belongs
// to exactly one farm.
func openListener(family int) (listener, error) {
	addr := listenAddr4
	if family == 6 {
		addr = loop6
	}
	for tries := 0; tries <= listenPortMax-listenPortBase; tries++ {
		port := int(nextListenPort.Add(1) - 1)
		if port > listenPortMax {
			nextListenPort.Store(listenPortBase)
			continue
		}
		ap := netip.AddrPortFrom(addr, uint16(port))
		fd, err := unix.Socket(domain(addr), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return listener{}, fmt.Errorf("sockfarm: socket: %w", err)
		}
		if err := unix.Bind(fd, sockaddr(ap)); err != nil {
			unix.Close(fd)
			if errors.Is(err, unix.EADDRINUSE) {
				continue
			}
			return listener{}, fmt.Errorf("sockfarm: bind %v: %w", ap, err)
		}
		if err := unix.Listen(fd, 128); err != nil {
			unix.Close(fd)
			return listener{}, fmt.Errorf("sockfarm: listen %v: %w", ap, err)
		}
		return listener{fd: fd, addr: ap}, nil
	}
	return listener{}, errNoPort
}

// connectPair connects a client bound to clientPort to l and accepts the
// server end. Loopback completes the handshake inside connect, and only
// one goroutine uses l, so the accepted socket is this client's peer.
func connectPair(l listener, clientPort int) (cfd, sfd int, err error) {
	caddr := clientAddr4
	if l.addr.Addr().Is6() {
		caddr = loop6
	}
	cfd, err = unix.Socket(domain(caddr), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("sockfarm: socket: %w", err)
	}
	// SO_REUSEADDR lets one client port serve every listener: the 4-tuples
	// differ, and connect still refuses a tuple that is in use.
	if err := unix.SetsockoptInt(cfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(cfd)
		return -1, -1, fmt.Errorf("sockfarm: SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(cfd, sockaddr(netip.AddrPortFrom(caddr, uint16(clientPort)))); err != nil {
		unix.Close(cfd)
		if errors.Is(err, unix.EADDRINUSE) {
			return -1, -1, errTupleTaken
		}
		return -1, -1, fmt.Errorf("sockfarm: bind client port %d: %w", clientPort, err)
	}
	if err := unix.Connect(cfd, sockaddr(l.addr)); err != nil {
		unix.Close(cfd)
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EADDRINUSE) {
			return -1, -1, errTupleTaken
		}
		return -1, -1, fmt.Errorf("sockfarm: connect %v: %w", l.addr, err)
	}
	sfd, _, err = unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
	if err != nil {
		abort(cfd)
		return -1, -1, fmt.Errorf("sockfarm: accept on %v: %w", l.addr, err)
	}
	return cfd, sfd, nil
}

// abort closes fd with a reset, so the socket leaves no TIME_WAIT behind.
func abort(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// tupleCursor walks the (listener, client port) space of a set of listeners.
type tupleCursor struct {
	ls   []listener
	next int
}

func (c *tupleCursor) size() int { return len(c.ls) * (clientPortHi - clientPortLo + 1) }

func (c *tupleCursor) take() (listener, int) {
	per := clientPortHi - clientPortLo + 1
	i := c.next
	c.next = (c.next + 1) % c.size()
	return c.ls[i/per], clientPortLo + i%per
}

// connectNext connects a pair on the next free tuple of c.
func (c *tupleCursor) connectNext() (cfd, sfd int, l listener, port int, err error) {
	for tries := 0; tries < c.size(); tries++ {
		l, port = c.take()
		cfd, sfd, err = connectPair(l, port)
		if errors.Is(err, errTupleTaken) {
			continue
		}
		return cfd, sfd, l, port, err
	}
	return -1, -1, listener{}, 0, fmt.Errorf("%w: all %d tuples of %d listeners", errTupleTaken, c.size(), len(c.ls))
}

// diagConn sends SOCK_DESTROY requests, which is how the farm removes its
// TIME_WAIT sockets on the dot instead of waiting for the kernel's 60 s.
type diagConn struct {
	fd  int
	seq uint32
	buf []byte
}

func newDiagConn() (*diagConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sockfarm: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sockfarm: netlink bind: %w", err)
	}
	return &diagConn{fd: fd, buf: make([]byte, 4096)}, nil
}

func (d *diagConn) close() { unix.Close(d.fd) }

// destroy kills the TCP socket with this 4-tuple. A socket that is already
// gone is not an error.
func (d *diagConn) destroy(local, remote netip.AddrPort) error {
	const hdr, req = 16, 56
	msg := make([]byte, hdr+req)
	d.seq++
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], hdr+req)
	ne.PutUint16(msg[4:], unix.SOCK_DESTROY)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], d.seq)
	b := msg[hdr:]
	b[0] = byte(domain(local.Addr()))
	b[1] = unix.IPPROTO_TCP
	ne.PutUint32(b[4:], 0xffffffff)
	id := b[8:]
	binary.BigEndian.PutUint16(id[0:], local.Port())
	binary.BigEndian.PutUint16(id[2:], remote.Port())
	if local.Addr().Is4() {
		a, r := local.Addr().As4(), remote.Addr().As4()
		copy(id[4:], a[:])
		copy(id[20:], r[:])
	} else {
		a, r := local.Addr().As16(), remote.Addr().As16()
		copy(id[4:], a[:])
		copy(id[20:], r[:])
	}
	ne.PutUint32(id[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(id[44:], 0xffffffff)
	if err := unix.Sendto(d.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sockfarm: SOCK_DESTROY send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			return fmt.Errorf("sockfarm: SOCK_DESTROY recv: %w", err)
		}
		for m := d.buf[:n]; len(m) >= hdr; {
			l := int(ne.Uint32(m[0:]))
			if l < hdr || l > len(m) {
				break
			}
			if ne.Uint16(m[4:]) == unix.NLMSG_ERROR && ne.Uint32(m[8:]) == d.seq {
				code := -int32(ne.Uint32(m[hdr:]))
				if code == 0 || unix.Errno(code) == unix.ENOENT {
					return nil
				}
				return fmt.Errorf("sockfarm: SOCK_DESTROY %v->%v: %w", local, remote, unix.Errno(code))
			}
			m = m[(l+3)&^3:]
		}
	}
}
