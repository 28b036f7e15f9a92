//go:build linux

package collect

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsgTo is nlmsg addressed to a netlink port.
func nlmsgTo(typ, flags uint16, seq, port uint32, payload []byte) []byte {
	b := nlmsg(typ, flags, seq, payload)
	binary.NativeEndian.PutUint32(b[12:], port)
	return b
}

// errnoPayload is the start of a struct nlmsgerr, or of the payload of
// NLMSG_DONE, carrying -e.
func errnoPayload(e unix.Errno) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(-int32(e)))
	return b
}

// count walks b as one datagram of the reply to r and counts the data
// messages it hands on.
func count(t *testing.T, r *reply, b []byte) (int, bool, error) {
	t.Helper()
	got := 0
	done, err := r.walk(b, func([]byte) error { got++; return nil })
	return got, done, err
}

// The walker's rules on bytes the kernel would not send on request: other
// ports, errors in NLMSG_DONE, a single reply without NLM_F_MULTI.
func TestReplyWalk(t *testing.T) {
	data := diagMsg(unix.AF_INET, uint8(StateEstablished), 0)

	t.Run("other port or sequence skipped", func(t *testing.T) {
		r := reply{seq: 9, port: 4242, typ: sockDiagByFam, dump: true}
		b := nlmsgTo(sockDiagByFam, unix.NLM_F_MULTI, 9, 4243, data)
		b = append(b, nlmsgTo(sockDiagByFam, unix.NLM_F_MULTI, 8, 4242, data)...)
		b = append(b, nlmsgTo(unix.NLMSG_DONE, unix.NLM_F_MULTI, 9, 1, errnoPayload(unix.EPERM))...)
		b = append(b, nlmsgTo(sockDiagByFam, unix.NLM_F_MULTI, 9, 4242, data)...)
		n, done, err := count(t, &r, b)
		if n != 1 || done || err != nil {
			t.Errorf("%d messages, done %v, err %v; want only the one of port 4242 and sequence 9", n, done, err)
		}
	})

	t.Run("NLMSG_DONE carries an errno", func(t *testing.T) {
		r := reply{seq: 9, typ: sockDiagByFam, dump: true}
		_, _, err := count(t, &r, nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 9, errnoPayload(unix.EOPNOTSUPP)))
		if !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("NLMSG_DONE with -EOPNOTSUPP: %v", err)
		}
		for _, payload := range [][]byte{nil, make([]byte, 4)} {
			r := reply{seq: 9, typ: sockDiagByFam, dump: true}
			if _, done, err := count(t, &r, nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 9, payload)); !done || err != nil {
				t.Errorf("NLMSG_DONE with %d bytes of status 0: done %v, err %v", len(payload), done, err)
			}
		}
	})

	t.Run("an acknowledgement ends the reply", func(t *testing.T) {
		r := reply{seq: 9, typ: sockDiagByFam, dump: true}
		b := append(nlmsg(unix.NLMSG_ERROR, 0, 9, make([]byte, 20)), nlmsg(sockDiagByFam, unix.NLM_F_MULTI, 9, data)...)
		if n, done, err := count(t, &r, b); n != 0 || !done || err != nil {
			t.Errorf("ack then data: %d messages, done %v, err %v; want the reply to end at the ack", n, done, err)
		}
	})

	t.Run("a single reply ends after its message", func(t *testing.T) {
		b := append(nlmsg(sockDiagByFam, 0, 9, data), nlmsg(sockDiagByFam, 0, 9, data)...)
		r := reply{seq: 9, typ: sockDiagByFam}
		if n, done, err := count(t, &r, b); n != 1 || !done || err != nil {
			t.Errorf("single request: %d messages, done %v, err %v; want 1, done", n, done, err)
		}
		// A dump goes on to NLMSG_DONE whatever the flags say.
		r = reply{seq: 9, typ: sockDiagByFam, dump: true}
		if n, done, err := count(t, &r, b); n != 2 || done || err != nil {
			t.Errorf("dump: %d messages, done %v, err %v; want 2, not done", n, done, err)
		}
	})

	t.Run("only the request's type is data", func(t *testing.T) {
		r := reply{seq: 9, typ: tcpDiagGetSock, dump: true}
		b := append(nlmsg(sockDiagByFam, unix.NLM_F_MULTI, 9, data), nlmsg(unix.NLMSG_NOOP, unix.NLM_F_MULTI, 9, nil)...)
		b = append(b, nlmsg(tcpDiagGetSock, unix.NLM_F_MULTI, 9, data)...)
		if n, _, err := count(t, &r, b); n != 1 || err != nil {
			t.Errorf("%d messages, err %v; want the one TCPDIAG_GETSOCK", n, err)
		}
	})

	t.Run("an error from the callback stops the walk", func(t *testing.T) {
		stop := errors.New("stop")
		r := reply{seq: 9, typ: sockDiagByFam, dump: true}
		calls := 0
		b := append(nlmsg(sockDiagByFam, unix.NLM_F_MULTI, 9, data), nlmsg(sockDiagByFam, unix.NLM_F_MULTI, 9, data)...)
		_, err := r.walk(b, func([]byte) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Errorf("err %v after %d calls; want the callback's error after 1", err, calls)
		}
	})
}

// A dump of a protocol inet_diag has no handler for fails after it
// started: the kernel says ENOENT in the error field of NLMSG_DONE, which
// the caller turns into "no such support here" (see Snapshot). The reply
// is over, so the same socket serves the next dump.
func TestDumpErrorInDone(t *testing.T) {
	t.Parallel()
	n := NewNetlink(Options{})
	t.Cleanup(func() { n.Close() })
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.openLocked(); err != nil {
		t.Fatal(err)
	}
	// 253 is set aside for experiments (RFC 3692): no diag handler has it.
	const noSuchProto = 253
	socks, _, err := n.dumpLocked(nil, unix.AF_INET, noSuchProto, uint32(AllStates), 0, nil)
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("dump of protocol %d: %d sockets, err %v; want ENOENT", noSuchProto, len(socks), err)
	}
	l, _ := listenTCP(t, unix.AF_INET, 1, nil)
	in := inodeOf(t, l.fd)
	socks, _, err = n.dumpLocked(nil, unix.AF_INET, unix.IPPROTO_TCP, 1<<StateListen, 0, nil)
	if err != nil {
		t.Fatalf("dump after the failed one: %v", err)
	}
	for _, s := range socks {
		if s.Inode == in {
			return
		}
	}
	t.Errorf("the dump after the failed one lacks our listener (inode %d) among %d sockets", in, len(socks))
}

// Through a real failing lookup the error names both what it means to a
// caller (ErrNotFound) and the kernel's errno.
func TestInfoGoneKeepsErrno(t *testing.T) {
	t.Parallel()
	c, s, _ := pairTCP(t, unix.AF_INET)
	k := keyOf(t, c)
	// An abortive close leaves neither side behind, not even TIME_WAIT.
	if err := unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	n := NewNetlink(Options{})
	t.Cleanup(func() { n.Close() })
	_, err := n.Info(context.Background(), k)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Info of a closed socket: %v; want it to wrap ErrNotFound and ENOENT", err)
	}
	// The error ended the reply: the socket answers the next lookup.
	c2, _, _ := pairTCP(t, unix.AF_INET)
	if _, err := n.Info(context.Background(), keyOf(t, c2)); err != nil {
		t.Errorf("Info after a failed one: %v", err)
	}
}

// A netlink protocol the kernel lacks fails at socket(): the error wraps
// ErrUnsupported, so callers fall back, and the errno, so they can say why.
func TestOpenBadProtocolKeepsErrno(t *testing.T) {
	t.Parallel()
	n := NewNetlink(Options{})
	t.Cleanup(func() { n.Close() })
	n.protocol = 32 // MAX_LINKS: past the last netlink protocol
	_, err := n.Snapshot(context.Background())
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Fatalf("Snapshot on netlink protocol 32: %v; want ErrUnsupported and EPROTONOSUPPORT", err)
	}
	if _, err := n.Info(context.Background(), Key{Proto: TCP, Local: netip.AddrPortFrom(testAddr4, 1)}); !errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Errorf("Info on netlink protocol 32: %v; want EPROTONOSUPPORT", err)
	}
}

// A datagram that another process sends to the source's port is not part
// of the reply, even when it looks like one: right sequence number, right
// port, an error that would end the dump.
func TestExecuteIgnoresOtherSenders(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only a privileged process may send to another netlink port")
	}
	n := NewNetlink(Options{TCP: true, IPv4: true})
	t.Cleanup(func() { n.Close() })
	n.mu.Lock()
	err := n.openLocked()
	port, next := n.port, n.seq+1
	n.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	forged := nlmsgTo(unix.NLMSG_ERROR, 0, next, port, append(errnoPayload(unix.EPERM), make([]byte, 16)...))
	if err := unix.Sendto(fd, forged, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}); err != nil {
		t.Fatalf("sending to port %d: %v", port, err)
	}
	l, _ := listenTCP(t, unix.AF_INET, 1, nil)
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot after a forged error: %v", err)
	}
	if findFD(t, &snap, l) == nil {
		t.Errorf("the snapshot lacks our listener among %d sockets", len(snap.Sockets))
	}
}

// BenchmarkInfo is one single-socket tcp_info lookup.
func BenchmarkInfo(b *testing.B) {
	c, _, _ := pairTCP(b, unix.AF_INET)
	k := Key{Proto: TCP}
	local, _ := unix.Getsockname(c.fd)
	remote, _ := unix.Getpeername(c.fd)
	k.Local, k.Remote = addrPortOf(local), addrPortOf(remote)
	n := NewNetlink(Options{})
	b.Cleanup(func() { n.Close() })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Info(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}
