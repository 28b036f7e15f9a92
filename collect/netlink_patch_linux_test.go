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
	c, s, _ := pairTCP(t, unix.AF_INET6)
	c.Close()
	waitEOF(t, s)
	s.Close()

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

	p, counts, err := src.Patch(context.Background(), &snap, nil, nil, nil, nil)
	if err != nil {
		t.Fatalf("Patch with nothing changed: %v", err)
	}
	if !counts.Within(0) || counts.Table != want {
		t.Fatalf("Patch with nothing changed counts %+v", counts)
	}
	if len(p.Sockets) != len(snap.Sockets) {
		t.Fatalf("Patch with nothing changed has %d rows, the dump %d", len(p.Sockets), len(snap.Sockets))
	}
	for i := range p.Sockets {
		a, b := &p.Sockets[i], &snap.Sockets[i]
		if a.Cookie != b.Cookie || a.State != b.State || a.Local != b.Local || a.Remote != b.Remote {
			t.Fatalf("row %d: patched %v %v %v, dumped %v %v %v", i, a.State, a.Local, a.Remote, b.State, b.Local, b.Remote)
		}
	}

	// A UDP bind no event announces: the counts are one apart.
	udpSocket(t, unix.AF_INET6, 0)
	_, counts, err = src.Patch(context.Background(), &snap, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Within(0) || !counts.Within(1) || counts.Kernel.UDP6InUse != counts.Table.UDP6InUse+1 {
		t.Fatalf("after a UDP bind no event announced the counts are %+v", counts)
	}
	// Under a state mask the table is not the namespace's whole one: the
	// source refuses.
	src.SetStates(StateMask(1 << StateListen))
	if _, _, err := src.Patch(context.Background(), &snap, nil, nil, nil, nil); !errors.Is(err, ErrNoPatch) {
		t.Fatalf("Patch under a state mask: %v, want ErrNoPatch", err)
	}
}
