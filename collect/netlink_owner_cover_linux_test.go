//go:build linux

package collect

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// inodeOf returns the socket inode of a descriptor, the key a test finds
// its own socket by.
func inodeOf(t *testing.T, r *rawFD) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(r.fd, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

func findInode(snap *Snapshot, inode uint32) *Socket {
	for i := range snap.Sockets {
		if snap.Sockets[i].Inode == inode {
			return &snap.Sockets[i]
		}
	}
	return nil
}

// A snapshot says whether its owners were looked up. Without the scan,
// every socket's owners are unknown; with it (as root), a held socket
// names its holder and a TIME_WAIT socket, which has no descriptor, is
// known to have none.
func TestNetlinkOwnerCoverage(t *testing.T) {
	l, port := listenTCP(t, unix.AF_INET, 4, nil)
	c := dialTCP(t, unix.AF_INET, loopback(unix.AF_INET), port, nil)
	srv := acceptTCP(t, l)
	cport := localPort(t, c)
	// The client closes first, then the server: TIME_WAIT on the client's side.
	c.Close()
	srv.Close()
	lino := inodeOf(t, l)

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
		ls := findInode(s, lino)
		tw = nil
		for i := range s.Sockets {
			x := &s.Sockets[i]
			if x.State == StateTimeWait && x.Local.Port() == uint16(cport) && x.Remote.Port() == uint16(port) {
				tw = x
			}
		}
		return ls != nil && len(ls.Owners) > 0 && tw != nil
	})
	if snap.Owners != OwnersComplete {
		t.Errorf("coverage %v as root, want complete", snap.Owners)
	}
	ls := findInode(&snap, lino)
	if !ls.Known(FieldOwners) || ls.Owners[0].PID != os.Getpid() {
		t.Errorf("listener %+v: want known owners naming pid %d", *ls, os.Getpid())
	}
	if !tw.Known(FieldOwners) || len(tw.Owners) != 0 || tw.Inode != 0 {
		t.Errorf("TIME_WAIT %+v: want known, empty owners and no inode", *tw)
	}
}
