//go:build linux

package collect

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// The rule Patch checks its table by: a dump of the namespace counted as
// countsAgree counts it agrees with sockstat, for listeners, pairs, a
// dual-stack listener's IPv4 client (an IPv4-mapped IPv6 socket),
// TIME_WAIT and UDP of both families. A table patched with nothing
// changed is the dump's, and a UDP bind no event announces makes the
// counts disagree, so Patch refuses.
func TestPatchCountsAgreeWithSockstat(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	src := lookupSource(t)
	udpSocket(t, unix.AF_INET, 0)
	udpSocket(t, unix.AF_INET6, 0)
	pairTCP(t, unix.AF_INET)
	pairTCP(t, unix.AF_INET6)
	dual, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dual.Close()
	c4, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(dual.Addr().(*net.TCPAddr).Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	s4, err := dual.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s4.Close()
	timeWait(t, unix.AF_INET6)

	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := src.Sockstat()
	if err != nil {
		t.Fatal(err)
	}
	if got := src.dumped(src.count(snap.Sockets)); got != want {
		t.Fatalf("the dump counts %+v, sockstat %+v", got, want)
	}
	if want.TCPTimeWait == 0 || want.TCP6InUse < 4 || want.UDPInUse == 0 {
		t.Fatalf("the test's sockets are not all counted: %+v", want)
	}

	p, counts, err := src.Patch(context.Background(), &snap, SockCounters{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatalf("Patch with nothing changed: %v", err)
	}
	if !counts.Within(0, 0) || counts.Table != want {
		t.Fatalf("Patch with nothing changed counts %+v", counts)
	}
	if len(p.Sockets) != len(snap.Sockets) {
		t.Fatalf("Patch with nothing changed has %d rows, the dump %d", len(p.Sockets), len(snap.Sockets))
	}
	checkOrigin(t, "nothing changed", &snap, &p, counts)
	if counts.Origin == nil {
		t.Fatal("a patch that dropped nothing gives no origins")
	}
	for i := range p.Sockets {
		a, b := &p.Sockets[i], &snap.Sockets[i]
		if a.Cookie != b.Cookie || a.State != b.State || a.Local != b.Local || a.Remote != b.Remote {
			t.Fatalf("row %d: patched %v %v %v, dumped %v %v %v", i, a.State, a.Local, a.Remote, b.State, b.Local, b.Remote)
		}
	}

	// A dump of a churning table may list a socket twice: the patch
	// keeps one.
	dup := snap
	dup.Sockets = append(append([]Socket(nil), snap.Sockets...), snap.Sockets[0])
	p, counts, err = src.Patch(context.Background(), &dup, SockCounters{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !counts.Within(0, 0) || len(p.Sockets) != len(snap.Sockets) {
		t.Fatalf("a table with a row twice patched to %d rows (want %d), counts %+v", len(p.Sockets), len(snap.Sockets), counts)
	}

	// A UDP bind no event announces: the counts are one apart.
	udpSocket(t, unix.AF_INET6, 0)
	_, counts, err = src.Patch(context.Background(), &snap, SockCounters{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Within(0, 0) || !counts.Within(0, 1) || counts.Kernel.UDP6InUse != counts.Table.UDP6InUse+1 {
		t.Fatalf("after a UDP bind no event announced the counts are %+v", counts)
	}
	// Under a state mask the table is not the namespace's whole one: the
	// source refuses.
	src.SetStates(StateMask(1 << StateListen))
	if _, _, err := src.Patch(context.Background(), &snap, SockCounters{}, nil, nil, nil, nil); !errors.Is(err, ErrNoPatch) {
		t.Fatalf("Patch under a state mask: %v, want ErrNoPatch", err)
	}
}

// A TIME_WAIT socket destroyed before its timer (SOCK_DESTROY, as a farm
// or ss -K does) goes without an event: the patch sees one TIME_WAIT too
// many, asks for them soonest end first, and drops the one gone.
func TestPatchDropsTimeWaitEndedEarly(t *testing.T) {
	if !inQuietNetns(t) {
		return
	}
	src := lookupSource(t)
	for range 3 {
		timeWait(t, unix.AF_INET)
	}
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tws []Socket
	for _, s := range snap.Sockets {
		if s.State == StateTimeWait {
			tws = append(tws, s)
		}
	}
	if len(tws) != 3 {
		t.Fatalf("%d TIME_WAIT sockets, want the test's 3", len(tws))
	}
	victim := tws[1]
	if err := Destroy(context.Background(), &victim); err != nil {
		t.Fatalf("destroying a TIME_WAIT socket: %v", err)
	}
	p, counts, err := src.Patch(context.Background(), &snap, SockCounters{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !counts.Within(0, 0) || counts.Kernel.TCPTimeWait != 2 {
		t.Fatalf("counts %+v, want the table to agree with the kernel's 2 TIME_WAIT", counts)
	}
	for _, s := range p.Sockets {
		if s.Cookie == victim.Cookie {
			t.Fatalf("the destroyed TIME_WAIT socket %v is still in the patched table", s.Local)
		}
	}
	if len(p.Sockets) != len(snap.Sockets)-1 {
		t.Fatalf("the patched table has %d rows, want %d", len(p.Sockets), len(snap.Sockets)-1)
	}
}

// timeWait makes a connection and closes it, client first: the client's
// end is left in TIME_WAIT, the server's gone.
func timeWait(t *testing.T, fam int) {
	t.Helper()
	c, s, _ := pairTCP(t, fam)
	c.Close()
	waitEOF(t, s)
	s.Close()
}
