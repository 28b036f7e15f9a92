//go:build linux

package collect

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// TestStateMaskAndSelection: the mask and the protocol and family choices
// reach the kernel, and SetStates applies to the next snapshot.
func TestStateMaskAndSelection(t *testing.T) {
	t.Parallel()
	l, lport := listenTCP(t, unix.AF_INET6, 4, nil)
	c, _, _ := pairTCP(t, unix.AF_INET6)
	u := newSocket(t, unix.AF_INET6, unix.SOCK_DGRAM)
	if err := unix.Bind(u.fd, sockaddr(unix.AF_INET6, loopback(unix.AF_INET6), 0)); err != nil {
		t.Fatal(err)
	}
	// A TCP socket that is only bound: CLOSED, shown only when asked.
	b := newSocket(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := unix.Bind(b.fd, sockaddr(unix.AF_INET, loopback(unix.AF_INET), 0)); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	n := NewNetlink(Options{TCP: true, IPv6: true})
	t.Cleanup(func() { n.Close() })
	n.SetStates(1 << StateListen)
	snap, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sawListener := false
	for _, s := range snap.Sockets {
		if s.Proto != TCP || s.Family != 6 || s.State != StateListen {
			t.Errorf("tcp6 LISTEN asked, got %v%d %v", s.Proto, s.Family, s.State)
		}
		sawListener = sawListener || s.Inode == inodeOf(t, l.fd)
	}
	if !sawListener {
		t.Errorf("listener [::1]:%d missing", lport)
	}
	n.SetStates(1 << StateEstablished)
	snap, err = n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if findFD(t, &snap, c) == nil {
		t.Errorf("established client missing after SetStates(ESTABLISHED)")
	}

	all := NewNetlink(Options{})
	t.Cleanup(func() { all.Close() })
	snap, err = all.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := findFD(t, &snap, u); s == nil || s.State != StateUnconn || s.Remote != netip.AddrPortFrom(netip.IPv6Unspecified(), 0) {
		t.Errorf("bound UDP socket: %+v, want UNCONN with remote [::]:0", s)
	}
	if s := findFD(t, &snap, b); s != nil {
		t.Errorf("a bound-only TCP socket shows by default (ss -a does not show it): %+v", s)
	}
	all.SetStates(1 << StateClosed)
	snap, err = all.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := findFD(t, &snap, b)
	if s == nil || s.State.Canonical() != StateClosed {
		t.Errorf("bound-only TCP socket with CLOSED asked: %+v, want CLOSED", s)
	}
	if u := findFD(t, &snap, u); u == nil {
		t.Errorf("CLOSED mask should also give unconnected UDP, as ss's state closed does")
	}
	all.SetStates(1 << StateUnconn)
	snap, err = all.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snap.Sockets {
		if s.Proto != UDP || s.State != StateUnconn {
			t.Errorf("UNCONN asked, got %v %v", s.Proto, s.State)
		}
	}
}

func TestNewSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, want := range map[string]string{"": "netlink", "auto": "netlink", "netlink": "netlink", "gopsutil": "gopsutil"} {
		src, err := NewSource(name, Options{TCP: true})
		if err != nil {
			t.Fatalf("NewSource(%q): %v", name, err)
		}
		snap, err := src.Snapshot(ctx)
		if err != nil {
			t.Fatalf("%q Snapshot: %v", name, err)
		}
		if snap.Source != want {
			t.Errorf("NewSource(%q) gave source %q, want %q", name, snap.Source, want)
		}
		if _, ok := src.(InfoSource); ok != (want == "netlink") {
			t.Errorf("NewSource(%q): InfoSource %v", name, ok)
		}
		if c, ok := src.(interface{ Close() error }); ok {
			c.Close()
		}
	}
	if _, err := NewSource("kmem", Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewSource(kmem): %v, want ErrUnsupported", err)
	}
}

// TestConcurrentUse: SetStates, Snapshot and Info from several goroutines
// (the UI changes the filter while the refresh loop runs); run with -race.
// Snapshots kept by a caller are not overwritten by later ones.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c, _, _ := pairTCP(t, unix.AF_INET)
	k := keyOf(t, c)
	n := NewNetlink(Options{TCP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	kept, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keptCopy := append([]Socket(nil), kept.Sockets...)
	done := make(chan error, 3)
	go func() {
		for i := range 50 {
			n.SetStates(StateMask(1<<StateListen) << (i % 2)) // LISTEN or CLOSING
		}
		done <- nil
	}()
	go func() {
		for range 20 {
			if _, err := n.Snapshot(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for range 20 {
			if _, err := n.Info(ctx, k); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if len(kept.Sockets) != len(keptCopy) {
		t.Fatalf("kept snapshot changed length")
	}
	for i := range keptCopy {
		if kept.Sockets[i].Key() != keptCopy[i].Key() || kept.Sockets[i].State != keptCopy[i].State {
			t.Fatalf("kept snapshot overwritten at %d: %v became %v", i, keptCopy[i].Key(), kept.Sockets[i].Key())
		}
	}
}
