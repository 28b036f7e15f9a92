//go:build linux

package collect

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func keyOf(t *testing.T, r *rawFD) Key {
	t.Helper()
	local, err1 := unix.Getsockname(r.fd)
	remote, err2 := unix.Getpeername(r.fd)
	if err1 != nil || err2 != nil {
		t.Fatalf("getsockname/getpeername: %v %v", err1, err2)
	}
	return Key{Proto: TCP, Local: addrPortOf(local), Remote: addrPortOf(remote)}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		c, s, _ := pairTCP(t, fam)
		n := NewNetlink(Options{})
		t.Cleanup(func() { n.Close() })
		ctx := context.Background()
		ck, sk := keyOf(t, c), keyOf(t, s)
		before, err := n.Info(ctx, ck)
		if err != nil {
			t.Fatalf("Info(%v): %v", ck, err)
		}
		sBefore, err := n.Info(ctx, sk)
		if err != nil {
			t.Fatalf("Info(%v): %v", sk, err)
		}
		const sent = 10000
		msg := make([]byte, sent)
		if _, err := unix.Write(c.fd, msg); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < sent {
			m, err := unix.Read(s.fd, msg)
			if err != nil || m == 0 {
				t.Fatalf("read: %v", err)
			}
			got += m
		}
		// The reader has every byte, so the ACK for them was sent; on
		// loopback it is processed before read returns to us, but poll
		// briefly rather than rely on it.
		var after, sAfter *TCPInfo
		for range 100 {
			after, err = n.Info(ctx, ck)
			if err != nil {
				t.Fatal(err)
			}
			if after.BytesAcked-before.BytesAcked >= sent {
				break
			}
		}
		if sAfter, err = n.Info(ctx, sk); err != nil {
			t.Fatal(err)
		}
		if d := after.BytesAcked - before.BytesAcked; d != sent {
			t.Errorf("family %d: bytes acked grew by %d, want %d", fam, d, sent)
		}
		if d := sAfter.BytesReceived - sBefore.BytesReceived; d != sent {
			t.Errorf("family %d: bytes received grew by %d, want %d", fam, d, sent)
		}
		if after.RTT <= 0 || after.Cwnd == 0 {
			t.Errorf("family %d: rtt %v cwnd %d, want both > 0", fam, after.RTT, after.Cwnd)
		}

		// Gone: an abortive close leaves neither side behind.
		if err := unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		s.Close()
		if _, err := n.Info(ctx, ck); !errors.Is(err, ErrNotFound) {
			t.Errorf("Info of a closed socket: %v, want ErrNotFound", err)
		}
	}
}

func TestInfoTimeWaitAndBadKeys(t *testing.T) {
	t.Parallel()
	c, s, _ := pairTCP(t, unix.AF_INET)
	ck := keyOf(t, c)
	c.Close()
	s.Close()
	n := NewNetlink(Options{})
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	waitSnapshot(t, n, func(sn *Snapshot) bool {
		x := findKey(sn, ck)
		return x != nil && x.State == StateTimeWait
	})
	if _, err := n.Info(ctx, ck); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info of a TIME_WAIT socket: %v, want ErrNotFound (no tcp_info)", err)
	}
	if _, err := n.Info(ctx, Key{Proto: UDP, Local: ck.Local, Remote: ck.Remote}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info of a UDP key: %v, want ErrNotFound", err)
	}
	if _, err := n.Info(ctx, Key{Proto: TCP}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info of an empty key: %v, want ErrNotFound", err)
	}
}
