//go:build linux

package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// unixRow is a Unix socket of socktop's JSON.
type unixRow struct {
	Proto      string `json:"proto"`
	Family     *int   `json:"family"`
	State      string `json:"state"`
	Path       *string
	Type       string  `json:"type"`
	PeerInode  *uint32 `json:"peer_inode"`
	RecvQ      *uint32 `json:"recv_q"`
	SendQ      *uint32 `json:"send_q"`
	Inode      uint32  `json:"inode"`
	Owners     []struct{ PID int }
	PeerOwners []struct{ PID int } `json:"peer_owners"`
}

// ssUnixRow is one line of ss -x: netid, state, queues, path, inode, peer.
type ssUnixRow struct {
	netid, state, path string
	rq, sq, ino, peer  uint64
}

func ssUnixRows(t *testing.T, args ...string) map[uint32]ssUnixRow {
	t.Helper()
	out, err := exec.Command("ss", args...).Output()
	if err != nil {
		t.Fatalf("ss %v: %v", args, err)
	}
	rows := map[uint32]ssUnixRow{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue // blank, or a name with a newline: not the test's
		}
		n := len(f)
		r := ssUnixRow{netid: f[0], state: f[1], path: strings.Join(f[4:n-3], " ")}
		var errs [4]error
		r.rq, errs[0] = strconv.ParseUint(f[2], 10, 32)
		r.sq, errs[1] = strconv.ParseUint(f[3], 10, 32)
		r.ino, errs[2] = strconv.ParseUint(f[n-3], 10, 32)
		r.peer, errs[3] = strconv.ParseUint(f[n-1], 10, 32)
		if errs != [4]error{} {
			continue
		}
		rows[uint32(r.ino)] = r
	}
	return rows
}

func fdInode(t *testing.T, fd int) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// ssState is ss's spelling of socktop's JSON state, for Unix sockets.
var ssState = map[string]string{"LISTEN": "LISTEN", "ESTABLISHED": "ESTAB", "UNCONN": "UNCONN"}
var ssNetid = map[string]string{"stream": "u_str", "dgram": "u_dgr", "seqpacket": "u_seq"}

// TestOnceUnixJSONAgreesWithSS runs `socktop --once -x --json` beside the
// test's own Unix sockets (a path listener with a connection pending and
// one accepted, an abstract listener, a socketpair with bytes queued, a
// dgram socket) and compares each with ss -xa: path, state, queues, peer;
// ss -x's rows (connected only) are all there too. The owners of both
// ends are this process.
func TestOnceUnixJSONAgreesWithSS(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	abs := "@socktop-test-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(dir)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	absLn, err := net.ListenUnix("unix", &net.UnixAddr{Name: abs, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer absLn.Close()
	var fds []int
	sock := func(typ int) int {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		fds = append(fds, fd)
		return fd
	}
	accepted := sock(unix.SOCK_STREAM)
	if err := unix.Connect(accepted, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.Write([]byte("to the client"))
	pending := sock(unix.SOCK_STREAM)
	if err := unix.Connect(pending, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pair[0]); unix.Close(pair[1]) })
	fds = append(fds, pair[0], pair[1])
	unix.Write(pair[1], []byte("hi"))
	sock(unix.SOCK_DGRAM)
	rawConn := func(c interface {
		File() (*os.File, error)
	}) int {
		f, err := c.File()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return int(f.Fd())
	}
	lnFD, absFD, serverFD := rawConn(ln), rawConn(absLn), rawConn(server)
	fds = append(fds, lnFD, absFD, serverFD)

	out, err := socktopCmd(t, "--once", "-x", "--json").Output()
	if err != nil {
		t.Fatalf("socktop --once -x --json: %v", err)
	}
	var doc struct{ Sockets []json.RawMessage }
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	got := map[uint32]unixRow{}
	for _, raw := range doc.Sockets {
		var r unixRow
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.Proto != "unix" {
			t.Fatalf("-x alone printed a %s socket: %s", r.Proto, raw)
		}
		got[r.Inode] = r
	}
	all, conn := ssUnixRows(t, "-xaH"), ssUnixRows(t, "-xH")
	me := os.Getpid()
	for _, fd := range fds {
		ino := fdInode(t, fd)
		r, ok := got[ino]
		s, inSS := all[ino]
		if !ok || !inSS {
			t.Errorf("inode %d: in socktop %v, in ss -xa %v", ino, ok, inSS)
			continue
		}
		if r.Path == nil || r.PeerInode == nil || r.RecvQ == nil || r.SendQ == nil || r.Family == nil || *r.Family != 0 {
			t.Errorf("inode %d lacks a field: %+v", ino, r)
			continue
		}
		p := *r.Path
		if p == "" {
			p = "*"
		}
		if p != s.path || ssState[r.State] != s.state || ssNetid[r.Type] != s.netid ||
			uint64(*r.RecvQ) != s.rq || uint64(*r.SendQ) != s.sq || uint64(*r.PeerInode) != s.peer {
			t.Errorf("inode %d: socktop %s %s %d %d %s peer %d; ss %+v", ino, r.Type, r.State, *r.RecvQ, *r.SendQ, p, *r.PeerInode, s)
		}
		if len(r.Owners) == 0 || r.Owners[0].PID != me {
			t.Errorf("inode %d: owners %+v, want pid %d", ino, r.Owners, me)
		}
		if _, c := conn[ino]; c && r.State != "ESTABLISHED" {
			t.Errorf("inode %d is in ss -x but %s in socktop", ino, r.State)
		}
	}
	// The figures themselves: one connection pending on a backlog of Go's
	// default, the bytes written to each receiver, the abstract name.
	if r := got[fdInode(t, lnFD)]; r.RecvQ == nil || *r.RecvQ != 1 || r.State != "LISTEN" || *r.Path != path {
		t.Errorf("listener: %+v, want LISTEN on %s with 1 pending", r, path)
	}
	if r := got[fdInode(t, absFD)]; r.Path == nil || *r.Path != abs {
		t.Errorf("abstract listener: %+v, want path %s", r, abs)
	}
	if r := got[fdInode(t, accepted)]; r.RecvQ == nil || *r.RecvQ != uint32(len("to the client")) ||
		len(r.PeerOwners) == 0 || r.PeerOwners[0].PID != me || *r.PeerInode != fdInode(t, serverFD) {
		t.Errorf("client: %+v, want the server's bytes queued and its owner, this process", r)
	}
	if r := got[fdInode(t, pair[0])]; r.RecvQ == nil || *r.RecvQ != 2 || *r.PeerInode != fdInode(t, pair[1]) {
		t.Errorf("socketpair end: %+v", r)
	}

	// -t -x adds TCP; path GLOB narrows to the test's directory.
	out, err = socktopCmd(t, "--once", "-H", "-t", "-x", "path", dir+"/*", "or", "tcp").Output()
	if err != nil {
		t.Fatalf("socktop --once -t -x: %v", err)
	}
	rows := strings.Split(strings.TrimSpace(string(out)), "\n")
	var listener, accept, pendingRow bool
	for _, l := range rows {
		f := strings.Fields(l)
		switch {
		case f[0] == "tcp" || f[0] == "tcp6":
		case f[0] == "u_str" && f[3] == path+":"+strconv.Itoa(int(fdInode(t, lnFD))):
			listener = f[5] == "LISTEN"
		case f[0] == "u_str" && f[3] == path+":"+strconv.Itoa(int(fdInode(t, serverFD))):
			accept = f[5] == "ESTABLISHED"
		case strings.HasPrefix(f[0], "u_"):
			pendingRow = true
			t.Errorf("a Unix row outside %s: %q", dir, l)
		default:
			t.Errorf("row %q", l)
		}
	}
	if !listener || !accept || pendingRow {
		t.Errorf("-t -x 'path %s/* or tcp': listener %v, accepted %v:\n%s", dir, listener, accept, out)
	}
}
