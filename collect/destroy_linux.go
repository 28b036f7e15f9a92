//go:build linux

package collect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// sockDestroy is SOCK_DESTROY (include/uapi/linux/sock_diag.h): the
// inet_diag request that makes the kernel abort one socket, as ss -K does.
const sockDestroy = 21

// destroyNetNS opens a NETLINK_SOCK_DIAG socket inside the network
// namespace ns: the kernel looks the socket to kill up in the namespace
// of the netlink socket it is asked on, so a socket of another namespace
// can only be killed from one opened there. The descriptor is the
// caller's alone until release is called (release closes it, or gives it
// back to whoever keeps it). A source that keeps a socket per namespace
// may replace it; the default finds the namespace with a scan.
var destroyNetNS = diagSocketOther

// destroyWait bounds the wait for the kernel's answer on a socket Destroy
// opened itself.
const destroyWait = 5 * time.Second

// destroySeq numbers the destroy requests. It is shared by every call so
// that two requests on one kept descriptor never carry the same number.
var destroySeq atomic.Uint32

// Destroy kills the socket s, as ss -K does: the kernel aborts it with
// ECONNABORTED, which the program holding it sees on its next call, and a
// TCP peer gets an RST. The kernel finds the socket by its 4-tuple and
// then checks s.Cookie, so exactly that socket dies: a new socket that
// reused the 4-tuple has another cookie and is not touched (the error then
// wraps ErrNotFound). TCP and UDP, IPv4, IPv6 and IPv4-mapped IPv6 can be
// killed; a socket of another network namespace (s.NetNS) too, once
// namespace support provides a sock_diag socket there.
//
// Errors wrap ErrNeedNetAdmin (EPERM), ErrNoDestroy (EOPNOTSUPP),
// ErrNotFound (ENOENT: already gone; ESTALE: the cookie no longer
// matches), ErrNoCookie, or ErrUnsupported (not TCP or UDP, a namespace
// socktop cannot reach), and the kernel's errno where it answered.
func Destroy(ctx context.Context, s *Socket) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKillable(s); err != nil {
		return err
	}
	fd, release, err := diagSocketIn(s.NetNS)
	if err != nil {
		return fmt.Errorf("collect: kill %s: %w", describeKill(s), err)
	}
	defer release()
	return destroyIn(fd, s)
}

// checkKillable refuses, before asking the kernel, what Destroy cannot
// kill exactly.
func checkKillable(s *Socket) error {
	if s.Proto != TCP && s.Proto != UDP {
		return fmt.Errorf("collect: kill %s: only TCP and UDP sockets can be killed: %w", describeKill(s), ErrUnsupported)
	}
	if s.Cookie == 0 || !s.Known(FieldCookie) {
		return fmt.Errorf("collect: kill %s: %w", describeKill(s), ErrNoCookie)
	}
	if !s.Local.IsValid() {
		return fmt.Errorf("collect: kill %s: no local address", describeKill(s))
	}
	return nil
}

// diagSocketIn returns a NETLINK_SOCK_DIAG socket of the namespace ns,
// and what to do when done with it.
func diagSocketIn(ns NetNS) (int, func(), error) {
	if ns.Inode != 0 && ns.Inode != ownNetNS() {
		return destroyNetNS(ns)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, nil, fmt.Errorf("open NETLINK_SOCK_DIAG: %w", err)
	}
	return withTimeout(fd)
}

// diagSocketOther opens a sock_diag socket in the namespace ns, found
// among the host's by its inode (the namespace scan of --all-netns).
func diagSocketOther(ns NetNS) (int, func(), error) {
	found, _ := newNSScanner().list()
	for _, f := range found {
		if f.ns.Inode != ns.Inode {
			continue
		}
		fd, err := socketIn(f.path, ns.Inode, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return -1, nil, err
		}
		return withTimeout(fd)
	}
	return -1, nil, fmt.Errorf("network namespace %d is gone (or socktop may not see it): %w", ns.Inode, ErrNotFound)
}

// withTimeout gives fd a receive timeout, and returns it with its closer.
func withTimeout(fd int) (int, func(), error) {
	// The kernel answers a SOCK_DESTROY before sendmsg returns; the
	// timeout only bounds a wait for a reply that went astray.
	tv := unix.NsecToTimeval(destroyWait.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("NETLINK_SOCK_DIAG receive timeout: %w", err)
	}
	return fd, func() { unix.Close(fd) }, nil
}

// destroyIn kills s through the sock_diag socket fd, which must be of the
// socket's own network namespace. A socket bound to a device
// (SO_BINDTODEVICE, an IPv6 link-local address) is found by the kernel
// only with that device's index, which a snapshot does not carry: when
// the first request finds nothing, the device is looked up by cookie and
// the request sent again with it.
func destroyIn(fd int, s *Socket) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("collect: kill %s: NETLINK_SOCK_DIAG socket name: %w", describeKill(s), err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fmt.Errorf("collect: kill %s: NETLINK_SOCK_DIAG socket named by a %T", describeKill(s), sa)
	}
	if nl.Pid == 0 {
		// Not bound yet: bound now, so that the port replies are sent to
		// is known before the first one is checked against it.
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("collect: kill %s: bind NETLINK_SOCK_DIAG: %w", describeKill(s), err)
		}
		return destroyIn(fd, s)
	}
	n := &Netlink{fd: fd, port: nl.Pid, buf: make([]byte, 4096)}
	n.seq = destroySeq.Add(1 << 16) // leaves room for the requests below
	fam, proto := uint8(unix.AF_INET), uint8(unix.IPPROTO_TCP)
	if s.Proto == UDP {
		proto = unix.IPPROTO_UDP
	}
	local, remote := destroyAddrs(s)
	if local.Addr().Is6() {
		fam = unix.AF_INET6
	}
	err = n.destroyReq(fam, proto, local, remote, 0, s.Cookie)
	reused := false
	if errors.Is(err, unix.ENOENT) {
		// The kernel answers ENOENT both when the 4-tuple is free and
		// when its socket has another cookie; a dump tells which, and
		// finds the device of a socket bound to one.
		var dev uint32
		var found bool
		dev, found, reused = n.afterMiss(fam, proto, s.Cookie)
		if found && dev != 0 {
			err = n.destroyReq(fam, proto, local, remote, dev, s.Cookie)
		}
	}
	return killError(s, err, reused)
}

// destroyAddrs returns the addresses for the request: IPv4 for an IPv4
// socket, 16 bytes for an IPv6 one. An IPv6 socket on an IPv4-mapped
// address is found by the kernel's IPv4 lookup, which it takes only when
// both addresses are mapped; an unconnected one has :: as its peer, which
// becomes ::ffff:0.0.0.0.
func destroyAddrs(s *Socket) (local, remote netip.AddrPort) {
	local, remote = s.Local, s.Remote
	la, ra := local.Addr(), remote.Addr()
	if !ra.IsValid() {
		ra = netip.IPv4Unspecified()
		if s.Family == 6 || la.Is6() {
			ra = netip.IPv6Unspecified()
		}
	}
	if s.Family == 4 || (s.Family == 0 && la.Is4()) {
		return netip.AddrPortFrom(la.Unmap(), local.Port()), netip.AddrPortFrom(ra.Unmap(), remote.Port())
	}
	la, ra = netip.AddrFrom16(la.As16()), netip.AddrFrom16(ra.As16())
	if la.Is4In6() && ra.IsUnspecified() {
		ra = netip.AddrFrom16(netip.IPv4Unspecified().As16())
	}
	return netip.AddrPortFrom(la, local.Port()), netip.AddrPortFrom(ra, remote.Port())
}

// destroyReq sends one SOCK_DESTROY for the socket with this 4-tuple,
// device and cookie, and returns the kernel's answer: nil, or its errno.
func (n *Netlink) destroyReq(fam, proto uint8, local, remote netip.AddrPort, dev uint32, cookie uint64) error {
	r := n.header(n.req[:], sockDestroy, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne := binary.NativeEndian
	p := r[nlmsgHdrLen:]
	p[0], p[1] = fam, proto
	ne.PutUint32(p[4:], ^uint32(0))
	binary.BigEndian.PutUint16(p[8:], local.Port())
	binary.BigEndian.PutUint16(p[10:], remote.Port())
	putAddr(p[12:28], local.Addr())
	putAddr(p[28:44], remote.Addr())
	ne.PutUint32(p[44:], dev)
	ne.PutUint32(p[48:], uint32(cookie))
	ne.PutUint32(p[52:], uint32(cookie>>32))
	_, err := n.execute(r, func([]byte) error { return nil })
	return err
}

// afterMiss dumps the family and protocol after a SOCK_DESTROY found
// nothing. It returns the device index (idiag_if) of the socket with this
// cookie and whether there is one, and whether another socket holds the
// 4-tuple of the request last built in n.req.
func (n *Netlink) afterMiss(fam, proto uint8, cookie uint64) (dev uint32, found, reused bool) {
	// struct inet_diag_sockid: ports and addresses, as in the request.
	const idLen = 36
	var id [idLen]byte
	copy(id[:], n.req[nlmsgHdrLen+8:])
	n.buf = make([]byte, recvBufLen)
	req := n.buildReq(fam, proto, uint32(AllStates), 0, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, nil)
	ne := binary.NativeEndian
	_, err := n.execute(req, func(m []byte) error {
		if len(m) < inetDiagMsgLen {
			return nil
		}
		if uint64(ne.Uint32(m[44:]))|uint64(ne.Uint32(m[48:]))<<32 == cookie {
			dev, found = ne.Uint32(m[40:]), true
		} else if [idLen]byte(m[4:4+idLen]) == id {
			reused = true
		}
		return nil
	})
	if err != nil {
		return 0, false, false
	}
	return dev, found, reused
}

// killError turns the kernel's answer to a SOCK_DESTROY into an error
// that says what happened in words, wrapping both the sentinel and errno.
// reused says that another socket holds the 4-tuple now.
func killError(s *Socket, err error, reused bool) error {
	var why error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		why = ErrNeedNetAdmin
	case errors.Is(err, unix.EOPNOTSUPP) && s.State == StateTimeWait:
		// This kernel drops TIME_WAIT sockets on request; older ones
		// may have only their socket types' destroy.
		return fmt.Errorf("collect: kill %s: %w (%w)", describeKill(s), errTimeWaitKept, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		why = ErrNoDestroy
	case errors.Is(err, unix.EINVAL) && s.Proto == TCP && s.State == StateListen:
		return fmt.Errorf("collect: kill %s: %w (%w)", describeKill(s), errMPTCPListener, err)
	case errors.Is(err, unix.ENOENT) && reused, errors.Is(err, unix.ESTALE):
		return fmt.Errorf("collect: kill %s: %w: %w (%w)", describeKill(s), ErrNotFound, errNewOwner, err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("collect: kill %s: %w: %w (%w)", describeKill(s), ErrNotFound, errGone, err)
	default:
		return fmt.Errorf("collect: kill %s: %w", describeKill(s), err)
	}
	return fmt.Errorf("collect: kill %s: %w (%w)", describeKill(s), why, err)
}
