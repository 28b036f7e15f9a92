package collect

import (
	"context"
	"net"
	"testing"
	"unsafe"
)

// TestSnapshotIntoReusesTheArray: a snapshot filled into a given array
// lists the same sockets as a fresh one (a listener of this test, found
// by its inode) and is made in that array when it fits.
func TestSnapshotIntoReusesTheArray(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ino := inodeOf(t, int(f.Fd()))
	n := NewNetlink(Options{TCP: true, IPv4: true})
	defer n.Close()
	ctx := context.Background()
	first, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := first.Sockets
	// Rows of another table in the array: the fill must not keep any.
	for i := range buf {
		buf[i].Owners = []Owner{{PID: -1, Name: "stale"}}
		buf[i].Inode = ino
	}
	second, err := n.SnapshotInto(ctx, buf)
	if err != nil {
		t.Fatal(err)
	}
	if h := len(first.Sockets); cap(buf) >= h+h/32 && unsafe.SliceData(second.Sockets) != unsafe.SliceData(buf) {
		t.Errorf("a %d-socket table was not made in the given array of %d", len(second.Sockets), cap(buf))
	}
	found := 0
	for i := range second.Sockets {
		s := &second.Sockets[i]
		if len(s.Owners) > 0 {
			t.Fatalf("row %d kept the array's old owners %v", i, s.Owners)
		}
		if s.Inode == ino {
			found++
			if s.State != StateListen {
				t.Errorf("the listener is %v", s.State)
			}
		}
	}
	if found != 1 {
		t.Fatalf("the listener (inode %d) is listed %d times", ino, found)
	}
}

// TestTableBuffer: an array is reused when it holds the table with a
// little room and is not four times too large.
func TestTableBuffer(t *testing.T) {
	for _, tc := range []struct {
		cap, hint int
		reuse     bool
	}{
		{100, 90, true}, {100, 99, false}, {10000, 9000, true},
		{100000, 10000, false}, {4096, 10, true}, {40000, 10000, true},
	} {
		buf := make([]Socket, 3, tc.cap+3)[3:]
		got := tableBuffer(buf, tc.hint)
		same := cap(buf) > 0 && unsafe.SliceData(got[:1]) == unsafe.SliceData(buf[:1])
		if same != tc.reuse || len(got) != 0 {
			t.Errorf("cap %d, hint %d: reused %v (len %d), want %v", tc.cap, tc.hint, same, len(got), tc.reuse)
		}
		if !same && cap(got) < tc.hint {
			t.Errorf("cap %d, hint %d: a new array of %d", tc.cap, tc.hint, cap(got))
		}
	}
}
