//go:build linux

package collect

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGopsutilAgreesWithNetlink reads the oracle table through both
// sources: what gopsutil gives must agree with netlink, and what it cannot
// give must stay zero.
func TestGopsutilAgreesWithNetlink(t *testing.T) {
	oracleTable(t, unix.AF_INET)
	oracleTable(t, unix.AF_INET6)
	own := mine(t)
	n := NewNetlink(Options{Owners: true})
	t.Cleanup(func() { n.Close() })
	g := NewGopsutil(Options{Owners: true})
	ctx := context.Background()
	nsnap := waitSnapshot(t, n, func(s *Snapshot) bool {
		tw := 0
		for i := range s.Sockets {
			if own.has(&s.Sockets[i]) && s.Sockets[i].State == StateTimeWait {
				tw++
			}
		}
		return tw == oracleWant["TIME-WAIT"]
	})
	gsnap, err := g.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gsnap.Owners != OwnersPartial {
		t.Errorf("gopsutil owner coverage %v, want partial (one owner per socket)", gsnap.Owners)
	}
	if gsnap.Source != "gopsutil" {
		t.Errorf("Source = %q, want gopsutil", gsnap.Source)
	}
	byKey := map[Key]*Socket{}
	for i := range gsnap.Sockets {
		s := &gsnap.Sockets[i]
		byKey[s.Key()] = s
		if s.RecvQ != 0 || s.SendQ != 0 || s.Inode != 0 || s.Timer != TimerOff || s.TimerLeft != 0 || s.Cookie != 0 || s.UID != 0 {
			t.Errorf("gopsutil invented a field it does not have: %+v", *s)
		}
		if !s.Unknown.Has(gopsutilUnknown) {
			t.Errorf("gopsutil does not mark what it lacks as unknown (%b): %+v", s.Unknown, *s)
		}
	}
	compared, owned := 0, 0
	for i := range nsnap.Sockets {
		s := &nsnap.Sockets[i]
		if !own.has(s) {
			continue
		}
		// gopsutil has no inode, but the 4-tuples of the test's sockets
		// are on its own address, or held by it (listeners, bound UDP).
		o, ok := byKey[s.Key()]
		if !ok {
			t.Errorf("%v %v -> %v %v: netlink has it, gopsutil does not", s.Proto, s.Local, s.Remote, s.State)
			continue
		}
		compared++
		if o.Family != s.Family || o.State != s.State {
			t.Errorf("%v %v -> %v: gopsutil family %d state %v, netlink family %d state %v",
				s.Proto, s.Local, s.Remote, o.Family, o.State, s.Family, s.State)
		}
		if (len(s.Owners) > 0) != (len(o.Owners) > 0) {
			t.Errorf("%v %v -> %v: gopsutil owners %v, netlink %v", s.Proto, s.Local, s.Remote, o.Owners, s.Owners)
		}
		if len(o.Owners) == 1 {
			owned++
			if !slices.Contains(s.Owners, o.Owners[0]) {
				t.Errorf("%v %v -> %v: gopsutil owner %v not among netlink's %v", s.Proto, s.Local, s.Remote, o.Owners[0], s.Owners)
			}
		}
	}
	want := 0
	for _, c := range oracleWant {
		want += c
	}
	if compared != want || owned == 0 {
		t.Errorf("compared %d sockets (want %d), %d with an owner: the table was not built", compared, want, owned)
	}
}

func TestGopsutilStateMask(t *testing.T) {
	_, port := listenTCP(t, unix.AF_INET, 4, nil)
	want := netip.AddrPortFrom(loopback(unix.AF_INET), uint16(port))
	g := NewGopsutil(Options{TCP: true, IPv4: true})
	g.SetStates(1 << StateListen)
	snap, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range snap.Sockets {
		if s.State != StateListen || s.Proto != TCP || s.Family != 4 {
			t.Errorf("mask LISTEN, tcp4 only, but got %v %v %d", s.Proto, s.State, s.Family)
		}
		found = found || s.Local == want
	}
	if !found {
		t.Errorf("listener %v not reported", want)
	}
}

// The columns gopsutil leaves at zero are named once, with the first
// snapshot, not on every refresh.
func TestGopsutilSaysWhatItLacks(t *testing.T) {
	g := NewGopsutil(Options{TCP: true, IPv4: true})
	first, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(first.Notices, noticeGopsutilFields) {
		t.Fatalf("first snapshot's notices %q lack the missing-fields notice", first.Notices)
	}
	second, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(second.Notices, noticeGopsutilFields) {
		t.Fatalf("the notice came again: %q", second.Notices)
	}
}

// Without an owner scan, gopsutil says every socket's owners are unknown,
// not empty.
func TestGopsutilOwnersNotLooked(t *testing.T) {
	listenTCP(t, unix.AF_INET, 4, nil)
	g := NewGopsutil(Options{TCP: true, IPv4: true})
	snap, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Owners != OwnersNotLooked {
		t.Errorf("coverage %v without Options.Owners, want not looked", snap.Owners)
	}
	if len(snap.Sockets) == 0 {
		t.Fatal("no sockets, not even this test's listener")
	}
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Known(FieldOwners) || len(s.Owners) != 0 {
			t.Errorf("owners known without a scan: %+v", *s)
		}
	}
}
