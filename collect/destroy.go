package collect

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// The reasons Destroy refuses or fails, in words a user can act on.
// Destroy's errors wrap one of them and, where the kernel answered, the
// errno as well (errors.Is works for both).
var (
	// ErrNeedNetAdmin: the kernel said EPERM. Killing a socket needs
	// CAP_NET_ADMIN in the socket's network namespace.
	ErrNeedNetAdmin = errors.New("killing a socket needs CAP_NET_ADMIN: run as root, or give the binary the capability (setcap cap_net_admin+ep socktop)")
	// ErrNoDestroy: the kernel said EOPNOTSUPP. It was built without
	// CONFIG_INET_DIAG_DESTROY, so no socket can be killed on it.
	ErrNoDestroy = errors.New("this kernel cannot kill sockets: it was built without CONFIG_INET_DIAG_DESTROY")
	// ErrNoCookie: the socket has no cookie, and killing by 4-tuple alone
	// could hit a new socket that reused it, so Destroy does not try.
	ErrNoCookie = errors.New("the socket has no cookie (the source does not give one): killing by its 4-tuple alone could hit another socket, so it is not tried")
)

// errTimeWaitKept is a kernel's refusal to drop a TIME_WAIT socket.
var errTimeWaitKept = fmt.Errorf("this kernel does not kill TIME_WAIT sockets: the socket lasts until its timer ends (at most 60 s): %w", ErrUnsupported)

// errMPTCPListener is the kernel's EINVAL for a listener it will not
// abort: an MPTCP one, whose TCP face the dump shows.
var errMPTCPListener = fmt.Errorf("the kernel refused to kill this listener: it is most likely an MPTCP listener (ss -ti shows tcp-ulp-mptcp; Go's net.Listen makes them by default), which SOCK_DESTROY cannot abort, nor can ss -K: %w", ErrUnsupported)

// A kill that found nothing wraps ErrNotFound and one of these words.
var (
	errGone     = errors.New("already gone: no socket has that 4-tuple any more")
	errNewOwner = errors.New("the cookie no longer matches: the 4-tuple now belongs to a new socket, which was not touched")
)

// describeKill names the socket in a Destroy error: protocol, 4-tuple,
// state and cookie, so that a list of failures says which row failed.
func describeKill(s *Socket) string {
	d := fmt.Sprintf("%s %s -> %s (%s", s.Proto, s.Local, s.Remote, s.State)
	if s.Cookie != 0 {
		d += fmt.Sprintf(", cookie %d", s.Cookie)
	}
	if s.NetNS.Inode != 0 && s.NetNS.Inode != ownNetNS() {
		d += fmt.Sprintf(", netns %d", s.NetNS.Inode)
		if s.NetNS.Name != "" {
			d += " " + s.NetNS.Name
		}
	}
	return d + ")"
}

// KillResult is what became of one socket of a DestroyAll.
type KillResult struct {
	// Err is nil when the socket died.
	Err error
	// ByPeer: the socket was gone when its turn came because its peer,
	// killed before it in the same call, sent it an RST. Err is nil.
	ByPeer bool
	// Skipped: not tried, because an earlier socket was refused in a way
	// every socket would be (no CAP_NET_ADMIN, a kernel without destroy,
	// a cancelled ctx). Err is that refusal.
	Skipped bool
}

// DestroyAll kills socks in order with Destroy and says what became of
// each. When both ends of a loopback connection are among socks, the
// second is closed by the first one's RST before its turn; that is what
// was asked, so it counts as killed (ByPeer).
func DestroyAll(ctx context.Context, socks []Socket) []KillResult {
	out := make([]KillResult, len(socks))
	killed := make(map[Key]bool)
	var stop error
	for i := range socks {
		s := &socks[i]
		if stop != nil {
			out[i] = KillResult{Err: stop, Skipped: true}
			continue
		}
		err := Destroy(ctx, s)
		switch {
		case err == nil:
			killed[unmappedKey(s.NetNS.Inode, s.Proto, s.Local, s.Remote)] = true
		case errors.Is(err, ErrNotFound) && killed[unmappedKey(s.NetNS.Inode, s.Proto, s.Remote, s.Local)]:
			out[i].ByPeer = true
			continue
		case errors.Is(err, ErrNeedNetAdmin), errors.Is(err, ErrNoDestroy), ctx.Err() != nil:
			stop = err
		}
		out[i].Err = err
	}
	return out
}

// unmappedKey is a connection end's identity with IPv4-mapped addresses
// unmapped, so that an AF_INET6 end meets its AF_INET peer.
func unmappedKey(ns uint32, p Proto, local, remote netip.AddrPort) Key {
	unmap := func(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
	// Inode carries the namespace here: the same 4-tuple in two
	// namespaces is two connections.
	return Key{Proto: p, Local: unmap(local), Remote: unmap(remote), Inode: ns}
}
