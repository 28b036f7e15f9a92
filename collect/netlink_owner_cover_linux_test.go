//go:build linux

package collect

import (
	"context"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// A snapshot says whether its owners were looked up. Without the scan,
// every socket's owners are unknown; with it (as root), a held socket
// names its holder and a TIME_WAIT socket, which has no descriptor, is
// known to have none.
func TestNetlinkOwnerCoverage(t *testing.T) {
	l, port := listenTCP(t, unix.AF_INET, 4, nil)
	c := dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	srv := acceptTCP(t, l)
	twKey := Key{Proto: TCP,
		Local:  netip.AddrPortFrom(loopback(unix.AF_INET), uint16(localPort(t, c))),
		Remote: netip.AddrPortFrom(loopback(unix.AF_INET), uint16(port))}
	// The client closes first, then the server: TIME_WAIT on the client's side.
	c.Close()
	srv.Close()

	off := NewNetlink(Options{TCP: true, IPv4: true})
	t.Cleanup(func() { off.Close() })
	snap, err := off.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Owners != OwnersNotLooked {
		t.Errorf("coverage %v without Options.Owners, want not looked", snap.Owners)
	}
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Known(FieldOwners) {
			t.Fatalf("owners known without a scan: %+v", *s)
		}
	}

	if os.Geteuid() != 0 {
		t.Skip("the complete picture needs root; TestOwnersNotRoot covers the partial one")
	}
	on := NewNetlink(Options{TCP: true, IPv4: true, Owners: true})
	t.Cleanup(func() { on.Close() })
	var tw *Socket
	snap = waitSnapshot(t, on, func(s *Snapshot) bool {
		ls := findFD(t, s, l)
		tw = findKey(s, twKey)
		return ls != nil && len(ls.Owners) > 0 && tw != nil && tw.State == StateTimeWait
	})
	if snap.Owners != OwnersComplete {
		t.Errorf("coverage %v as root, want complete", snap.Owners)
	}
	ls := findFD(t, &snap, l)
	if !ls.Known(FieldOwners) || ls.Owners[0].PID != os.Getpid() {
		t.Errorf("listener %+v: want known owners naming pid %d", *ls, os.Getpid())
	}
	if !tw.Known(FieldOwners) || len(tw.Owners) != 0 || tw.Inode != 0 {
		t.Errorf("TIME_WAIT %+v: want known, empty owners and no inode", *tw)
	}
}
