//go:build linux

package collect

import (
	"context"
	"encoding/binary"
	"testing"
)

// portOnly is a kernel filter for one local port, as filter.Filter would
// compile "sport = :P" for any dump (S_EQ P, failing past the end).
type portOnly uint16

func (p portOnly) Bytecode(Proto, uint8) []byte {
	b := make([]byte, 8)
	b[0], b[1] = 11, 8 // INET_DIAG_BC_S_EQ, yes: the next operation
	binary.NativeEndian.PutUint16(b[2:], 12)
	binary.NativeEndian.PutUint16(b[6:], uint16(p))
	return b
}

// TestKernelFilteredSnapshotIsSmall: the first snapshot of a source with a
// kernel filter does not size its table from the host's socket counters,
// which count every socket the filter leaves in the kernel (a one-port
// --once on a 100k host paid for a 100k-row array). The test's own 3000
// sockets make the counters large whatever else the host holds.
func TestKernelFilteredSnapshotIsSmall(t *testing.T) {
	var keep []*rawFD
	for range 3000 {
		keep = append(keep, boundUDP(t))
	}
	t.Cleanup(func() {
		for _, r := range keep {
			r.Close()
		}
	})
	if est := sockstatEstimate(); est < 3000 {
		t.Fatalf("sockstat counts %d sockets with the test's 3000 open", est)
	}
	n := NewNetlink(Options{Kernel: portOnly(1)})
	defer n.Close()
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := cap(snap.Sockets); c >= 3000 {
		t.Errorf("a snapshot of %d sockets (port 1 only) holds an array of %d rows", len(snap.Sockets), c)
	}
}
