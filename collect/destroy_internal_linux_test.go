//go:build linux

package collect

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKillErrorWords: each errno the kernel answers a SOCK_DESTROY with
// becomes its sentinel and words, and stays testable as the errno.
func TestKillErrorWords(t *testing.T) {
	s := &Socket{Proto: TCP, Family: 4, State: StateEstablished, Cookie: 9,
		Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2")}
	for _, tc := range []struct {
		errno  unix.Errno
		reused bool
		want   error
		words  string
	}{
		{unix.EPERM, false, ErrNeedNetAdmin, "CAP_NET_ADMIN"},
		{unix.EOPNOTSUPP, false, ErrNoDestroy, "CONFIG_INET_DIAG_DESTROY"},
		{unix.ENOENT, false, ErrNotFound, "already gone"},
		{unix.ENOENT, true, ErrNotFound, "no longer matches"},
		{unix.ESTALE, false, ErrNotFound, "no longer matches"},
	} {
		err := killError(s, tc.errno, tc.reused)
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.words) ||
			!strings.Contains(err.Error(), "127.0.0.1:1 -> 127.0.0.1:2") {
			t.Errorf("%v: %v", tc.errno, err)
		}
	}
	tw := *s
	tw.State = StateTimeWait
	if err := killError(&tw, unix.EOPNOTSUPP, false); !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNoDestroy) ||
		!errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "TIME_WAIT sockets") {
		t.Errorf("TIME_WAIT refused: %v", err)
	}
	ln := *s
	ln.State = StateListen
	if err := killError(&ln, unix.EINVAL, false); !errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "MPTCP") {
		t.Errorf("MPTCP listener refused: %v", err)
	}
	if killError(s, nil, false) != nil {
		t.Error("success became an error")
	}
}

// TestDestroyAddrs: the request's addresses for each kind of row.
func TestDestroyAddrs(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		fam                  uint8
		local, remote        string
		wantLocal, wantRemot string
	}{
		{4, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2"},
		{6, "[::1]:1", "[::1]:2", "[::1]:1", "[::1]:2"},
		{6, "[::ffff:127.0.0.1]:1", "[::ffff:127.0.0.1]:2", "[::ffff:127.0.0.1]:1", "[::ffff:127.0.0.1]:2"},
		// An unconnected socket on a mapped address: both must be mapped
		// for the kernel's IPv4 lookup.
		{6, "[::ffff:127.0.0.1]:1", "[::]:0", "[::ffff:127.0.0.1]:1", "[::ffff:0.0.0.0]:0"},
		{4, "127.0.0.1:1", "0.0.0.0:0", "127.0.0.1:1", "0.0.0.0:0"},
	} {
		s := &Socket{Family: tc.fam, Local: ap(tc.local), Remote: ap(tc.remote)}
		l, r := destroyAddrs(s)
		if l != ap(tc.wantLocal) || r != ap(tc.wantRemot) {
			t.Errorf("%s -> %s: got %s -> %s", tc.local, tc.remote, l, r)
		}
	}
}

// TestDestroyOtherNetNS: a socket of a namespace that is not there is
// refused as gone, and a replaced hook is asked.
func TestDestroyOtherNetNS(t *testing.T) {
	s := &Socket{Proto: TCP, Family: 4, State: StateEstablished, Cookie: 9, NetNS: NetNS{Inode: ownNetNS() + 1, Name: "elsewhere"},
		Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2")}
	if err := Destroy(context.Background(), s); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("a namespace that is not there: %v", err)
	}
	asked := errors.New("asked")
	prev := destroyNetNS
	destroyNetNS = func(ns NetNS) (int, func(), error) {
		if ns != s.NetNS {
			t.Errorf("hook asked for %+v", ns)
		}
		return -1, nil, asked
	}
	t.Cleanup(func() { destroyNetNS = prev })
	if err := Destroy(context.Background(), s); !errors.Is(err, asked) {
		t.Errorf("another namespace with the hook: %v", err)
	}
}
