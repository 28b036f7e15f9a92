//go:build linux

package collect

import (
	"net"
	"net/netip"
	"testing"
)

// TestDiffRealClose follows one loopback connection through a polite
// close, with netlink snapshots: the client that closes first goes
// ESTABLISHED -> FIN_WAIT_2 -> TIME_WAIT (the TIME_WAIT being a new kernel
// object with the same Key), the server ESTABLISHED -> CLOSE_WAIT -> gone.
func TestDiffRealClose(t *testing.T) {
	t.Parallel()
	// Both ends on the test's own address: the client's 4-tuple, which
	// its TIME_WAIT keeps, can be no other program's.
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(testAddr4, 0))}
	client, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	ck := Key{Proto: TCP, Local: netip.MustParseAddrPort(client.LocalAddr().String()), Remote: netip.MustParseAddrPort(client.RemoteAddr().String())}
	sk := Key{Proto: TCP, Local: ck.Remote, Remote: ck.Local}

	src := NewNetlink(Options{})
	t.Cleanup(func() { src.Close() })
	state := func(snap *Snapshot, k Key) State {
		for i := range snap.Sockets {
			if snap.Sockets[i].Key() == k {
				return snap.Sockets[i].State.Canonical()
			}
		}
		return StateUnknown
	}
	// wait takes snapshots until the client and server sockets are in the
	// given states.
	wait := func(cs, ss State) *Snapshot {
		t.Helper()
		snap := waitSnapshot(t, src, func(s *Snapshot) bool { return state(s, ck) == cs && state(s, sk) == ss })
		return &snap
	}
	find := func(ch Changes, k Key) []Transition {
		var out []Transition
		for _, x := range ch.Transitions {
			if x.Key == k {
				out = append(out, x)
			}
		}
		return out
	}
	mark := func(ch Changes, cur *Snapshot, k Key) Mark {
		for i := range cur.Sockets {
			if cur.Sockets[i].Key() == k {
				return ch.Marks[i]
			}
		}
		t.Fatalf("%v is not in the snapshot", k)
		return 0
	}

	s1 := wait(StateEstablished, StateEstablished)
	client.Close()
	s2 := wait(StateFinWait2, StateCloseWait)
	server.Close()
	s3 := wait(StateTimeWait, StateUnknown)

	ch := Diff(s1, s2)
	if got := find(ch, ck); len(got) != 1 || got[0].From != StateEstablished || got[0].To != StateFinWait2 || !got[0].At.Equal(s2.Taken) {
		t.Errorf("client, first close: transitions %v, want ESTABLISHED -> FIN_WAIT_2", got)
	}
	if got := find(ch, sk); len(got) != 1 || got[0].From != StateEstablished || got[0].To != StateCloseWait {
		t.Errorf("server, first close: transitions %v, want ESTABLISHED -> CLOSE_WAIT", got)
	}
	if m := mark(ch, s2, ck); m != MarkChanged {
		t.Errorf("client row after the close is %v, want changed", m)
	}

	ch = Diff(s2, s3)
	if got := find(ch, ck); len(got) != 1 || got[0].From != StateFinWait2 || got[0].To != StateTimeWait {
		t.Errorf("client, second close: transitions %v, want FIN_WAIT_2 -> TIME_WAIT", got)
	}
	if got := find(ch, sk); len(got) != 1 || got[0].From != StateCloseWait || got[0].To != StateUnknown {
		t.Errorf("server, second close: transitions %v, want CLOSE_WAIT -> gone", got)
	}
	gone := false
	for _, g := range ch.Gone {
		gone = gone || g.Key() == sk
	}
	if !gone {
		t.Errorf("the server socket is not among the gone ones")
	}
	if m := mark(ch, s3, ck); m != MarkChanged {
		t.Errorf("client row in TIME_WAIT is %v, want changed", m)
	}
}
