package collect

import (
	"context"
	"testing"
)

// A recycled array keeps nothing of its old rows past the new table's
// end, where they would hold older owner lists alive.
func TestSnapshotIntoClearsARecycledTail(t *testing.T) {
	n := NewNetlink(Options{TCP: true})
	defer n.Close()
	ctx := context.Background()
	first, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := first.Sockets[:cap(first.Sockets)]
	for i := range buf {
		buf[i].Owners = []Owner{{PID: -1, Name: "stale"}}
	}
	second, err := n.SnapshotInto(ctx, buf)
	if err != nil {
		t.Fatal(err)
	}
	all := second.Sockets[:cap(second.Sockets)]
	for i := len(second.Sockets); i < len(all); i++ {
		if all[i].Owners != nil {
			t.Fatalf("row %d past the table's %d still holds %v", i, len(second.Sockets), all[i].Owners)
		}
	}
}
