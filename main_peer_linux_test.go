//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
)

// peerRow is a socket of socktop's JSON, with what says which is its
// other end.
type peerRow struct {
	Proto      string              `json:"proto"`
	State      string              `json:"state"`
	Inode      uint32              `json:"inode"`
	Cookie     uint64              `json:"cookie"`
	PeerInode  *uint32             `json:"peer_inode"`
	PeerOwners []struct{ PID int } `json:"peer_owners"`
	Peer       *struct {
		Inode  *uint32
		Cookie *uint64
		Owners *[]struct{ PID int }
	} `json:"peer"`
}

// connInode is the inode of a connection's socket.
func connInode(t *testing.T, c syscall.Conn) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var in uint32
	if err := rc.Control(func(fd uintptr) { in = fdInode(t, int(fd)) }); err != nil {
		t.Fatal(err)
	}
	return in
}

// onceJSONRows runs socktop --once --json with args and returns its rows
// by inode (the rows without one are not the test's to find).
func onceJSONRows(t *testing.T, args ...string) map[uint32]peerRow {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"--once", "--json"}, args...), &out, &errb); code != 0 {
		t.Fatalf("socktop %v: exit %d: %s", args, code, errb.String())
	}
	var doc struct{ Sockets []peerRow }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	rows := map[uint32]peerRow{}
	for _, r := range doc.Sockets {
		if r.Inode != 0 {
			rows[r.Inode] = r
		}
	}
	return rows
}

// TestOnceJSONPeer: both ends of a loopback TCP connection on the test's
// own 127.a.b.c, and both ends of a Unix socketpair, each carry "peer"
// naming the other end by inode and cookie, with this process among its
// owners; the listener has none. The Unix rows' peer agrees with their
// peer_inode and peer_owners.
func TestOnceJSONPeer(t *testing.T) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()}}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pair[0]); unix.Close(pair[1]) })

	port := ln.Addr().(*net.TCPAddr).Port
	rows := onceJSONRows(t, "-t", "sport = :"+strconv.Itoa(port)+" or dport = :"+strconv.Itoa(port))
	lnIno, cIno, sIno := connInode(t, ln), connInode(t, c.(*net.TCPConn)), connInode(t, s)
	check := func(what string, a, b uint32, rows map[uint32]peerRow) {
		t.Helper()
		ra, okA := rows[a]
		rb, okB := rows[b]
		if !okA || !okB {
			t.Fatalf("%s: inodes %d and %d not both in the JSON (%v, %v)", what, a, b, okA, okB)
		}
		p := ra.Peer
		if p == nil || p.Inode == nil || *p.Inode != b || p.Cookie == nil || *p.Cookie != rb.Cookie || p.Owners == nil {
			t.Fatalf("%s: inode %d's peer is %+v, want inode %d, cookie %d, with owners", what, a, p, b, rb.Cookie)
		}
		mine := false
		for _, o := range *p.Owners {
			mine = mine || o.PID == os.Getpid()
		}
		if !mine {
			t.Errorf("%s: the peer's owners %v lack this process", what, *p.Owners)
		}
	}
	check("tcp client", cIno, sIno, rows)
	check("tcp server end", sIno, cIno, rows)
	if r, ok := rows[lnIno]; !ok || r.Peer != nil {
		t.Errorf("the listener: in the JSON %v, peer %+v; want it, without a peer", ok, r.Peer)
	}

	rows = onceJSONRows(t, "-x")
	u0, u1 := fdInode(t, pair[0]), fdInode(t, pair[1])
	check("unix pair", u0, u1, rows)
	check("unix pair, the other way", u1, u0, rows)
	r := rows[u0]
	if r.PeerInode == nil || *r.PeerInode != u1 || len(r.PeerOwners) != len(*r.Peer.Owners) {
		t.Errorf("the Unix row's peer_inode %v and peer_owners %v disagree with its peer %+v", r.PeerInode, r.PeerOwners, r.Peer)
	}
}
