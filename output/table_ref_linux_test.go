//go:build linux

package output

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"socktop/collect"
)

// connInode returns the socket inode of a listener or connection.
func connInode(t *testing.T, c syscall.Conn) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return uint32(st.Ino)
}

// On the host's own table, with the test's dual-stack listener on [::],
// the IPv4-mapped end it accepted from an IPv4 client, an IPv6 loopback
// pair and a UDP socket on [::], owners and Unix sockets, the table
// writer prints what the old two-pass writer printed, and the test's
// rows carry the addresses as the kernel gave them; the JSON writer
// prints what its old form printed.
func TestWritersMatchReferenceOnHost(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener here: %v", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c4, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	mapped, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer mapped.Close()
	c6, err := net.Dial("tcp6", "[::1]:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c6.Close()
	s6, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s6.Close()
	udp, err := net.ListenPacket("udp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	want := map[uint32]string{ // inode: the Local text the row must show
		connInode(t, ln.(*net.TCPListener)): "[::]:" + strconv.Itoa(port),
		connInode(t, mapped.(*net.TCPConn)): "[::ffff:127.0.0.1]:" + strconv.Itoa(port),
		connInode(t, c4.(*net.TCPConn)):     c4.LocalAddr().String(),
		connInode(t, s6.(*net.TCPConn)):     "[::1]:" + strconv.Itoa(port),
		connInode(t, udp.(*net.UDPConn)):    "[::]:" + strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port),
		connInode(t, c6.(*net.TCPConn)):     "[::1]:" + strconv.Itoa(c6.LocalAddr().(*net.TCPAddr).Port),
	}
	src := collect.NewNetlink(collect.Options{TCP: true, UDP: true, Unix: true, Owners: true})
	defer src.Close()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mine := &collect.Snapshot{}
	for _, s := range snap.Sockets {
		if _, ok := want[s.Inode]; ok {
			mine.Sockets = append(mine.Sockets, s)
		}
	}
	if len(mine.Sockets) != len(want) {
		t.Fatalf("the snapshot has %d of the test's %d sockets", len(mine.Sockets), len(want))
	}
	checkSameTable(t, "host", &snap)
	checkSameTable(t, "own", mine)
	checkSameJSON(t, "host", &snap)
	checkSameJSON(t, "own", mine)

	var b bytes.Buffer
	if err := WriteTableWith(&b, mine, TableOptions{Extended: true}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		f := strings.Fields(line)
		var ino uint64
		for _, field := range f {
			if v, ok := strings.CutPrefix(field, "ino:"); ok {
				ino, _ = strconv.ParseUint(v, 10, 32)
			}
		}
		if local, ok := want[uint32(ino)]; !ok || f[3] != local {
			t.Errorf("row %q: Local %q, want %q", line, f[3], local)
		}
	}
}
