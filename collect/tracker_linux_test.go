//go:build linux

package collect

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTrackerPartialRealClose follows a real loopback connection through a
// dump that lost the client's row: the rows of a netlink snapshot with the
// client removed and the snapshot marked partial, as an interrupted dump
// gives them. The client is neither gone nor new, and the close that
// happens meanwhile is one transition from ESTABLISHED.
func TestTrackerPartialRealClose(t *testing.T) {
	t.Parallel()
	client, server, _ := pairTCP(t, unix.AF_INET)
	src := NewNetlink(Options{})
	t.Cleanup(func() { src.Close() })

	s1 := waitSnapshot(t, src, func(s *Snapshot) bool {
		c, sv := findFD(t, s, client), findFD(t, s, server)
		return c != nil && sv != nil && c.State == StateEstablished && sv.State == StateEstablished
	})
	ck, sk := findFD(t, &s1, client).Key(), findFD(t, &s1, server).Key()
	var tk Tracker
	tk.Update(&s1)

	s2 := waitSnapshot(t, src, func(s *Snapshot) bool { return findKey(s, ck) != nil })
	s2.Partial = true
	s2.Sockets = slices.DeleteFunc(s2.Sockets, func(s Socket) bool { return s.Key() == ck })
	ch := tk.Update(&s2)
	for _, x := range ch.Transitions {
		if x.Key == ck {
			t.Errorf("partial snapshot without the client: %+v", x)
		}
	}
	for _, g := range ch.Gone {
		if g.Key() == ck {
			t.Errorf("partial snapshot made the client gone")
		}
	}

	client.Close()
	s3 := waitSnapshot(t, src, func(s *Snapshot) bool {
		c := findKey(s, ck)
		return c != nil && c.State.Canonical() == StateFinWait2
	})
	ch = tk.Update(&s3)
	var got []Transition
	for _, x := range ch.Transitions {
		if x.Key == ck {
			got = append(got, x)
		}
	}
	if len(got) != 1 || got[0].From != StateEstablished || got[0].To != StateFinWait2 {
		t.Fatalf("client after the close: %v, want one ESTABLISHED -> FIN_WAIT_2", got)
	}
	if s := ch.Socket(&s3, &got[0]); s == nil || s.Key() != ck || ch.Marks[got[0].Index] != MarkChanged {
		t.Errorf("the client's transition points at %v; want its FIN_WAIT_2 row, marked changed", s)
	}
	for _, x := range ch.Transitions {
		if x.Key == sk && x.From != StateEstablished {
			t.Errorf("server: %+v, want a change from ESTABLISHED if any", x)
		}
	}
}
