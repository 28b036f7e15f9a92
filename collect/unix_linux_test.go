//go:build linux

package collect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// unixFixture is a set of Unix sockets of every kind ss shows, made by
// the test: a path listener with two connections it has not accepted and
// one it has, an abstract listener, a stream and a seqpacket socketpair
// with bytes queued, a bound dgram socket with a connected sender and a
// datagram waiting, and an unbound unconnected dgram socket.
type unixFixture struct {
	dir, path, abstract string
	listener, abs       int
	pending             [2]int
	client, accepted    int
	pair, seq           [2]int
	dgram, sender, lone int
}

// unixSock makes a Unix socket that the test's cleanup closes.
func unixSock(t testing.TB, typ int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_UNIX): %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// unixPair makes a socketpair that the test's cleanup closes.
func unixPair(t testing.TB, typ int) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func randomName(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func newUnixFixture(t testing.TB) *unixFixture {
	t.Helper()
	f := &unixFixture{dir: t.TempDir()}
	f.path = filepath.Join(f.dir, "l.sock")
	f.abstract = "@socktop-test-" + randomName(t)

	f.listener = unixSock(t, unix.SOCK_STREAM)
	must(t, "bind", unix.Bind(f.listener, &unix.SockaddrUnix{Name: f.path}))
	must(t, "listen", unix.Listen(f.listener, 5))
	for i := range f.pending {
		f.pending[i] = unixSock(t, unix.SOCK_STREAM)
		must(t, "connect", unix.Connect(f.pending[i], &unix.SockaddrUnix{Name: f.path}))
	}
	f.client = unixSock(t, unix.SOCK_STREAM)
	must(t, "connect", unix.Connect(f.client, &unix.SockaddrUnix{Name: f.path}))
	// Accept takes the oldest pending connection, which is pending[0]'s;
	// the two left in the queue are pending[1]'s and client's.
	a, _, err := unix.Accept4(f.listener, unix.SOCK_CLOEXEC)
	must(t, "accept", err)
	t.Cleanup(func() { unix.Close(a) })
	f.accepted = a
	f.client, f.pending[0] = f.pending[0], f.client
	_, err = unix.Write(f.client, []byte("queued!"))
	must(t, "write", err)

	f.abs = unixSock(t, unix.SOCK_STREAM)
	must(t, "bind abstract", unix.Bind(f.abs, &unix.SockaddrUnix{Name: f.abstract}))
	must(t, "listen", unix.Listen(f.abs, 3))

	f.pair = unixPair(t, unix.SOCK_STREAM)
	_, err = unix.Write(f.pair[0], []byte("hello"))
	must(t, "write", err)
	f.seq = unixPair(t, unix.SOCK_SEQPACKET)
	_, err = unix.Write(f.seq[1], []byte("pkt"))
	must(t, "write", err)

	f.dgram = unixSock(t, unix.SOCK_DGRAM)
	must(t, "bind dgram", unix.Bind(f.dgram, &unix.SockaddrUnix{Name: filepath.Join(f.dir, "d.sock")}))
	f.sender = unixSock(t, unix.SOCK_DGRAM)
	must(t, "connect dgram", unix.Connect(f.sender, &unix.SockaddrUnix{Name: filepath.Join(f.dir, "d.sock")}))
	_, err = unix.Write(f.sender, []byte("abc"))
	must(t, "send", err)
	f.lone = unixSock(t, unix.SOCK_DGRAM)
	return f
}

// fds returns every descriptor of the fixture.
func (f *unixFixture) fds() []int {
	return []int{f.listener, f.abs, f.pending[0], f.pending[1], f.client, f.accepted,
		f.pair[0], f.pair[1], f.seq[0], f.seq[1], f.dgram, f.sender, f.lone}
}

// ssUnix is one line of ss -x.
type ssUnix struct {
	netid, state   string
	recvQ, sendQ   uint32
	path           string // "*" for none
	ino, peerIno   uint32
	peerName, line string
}

// runSSUnix runs ss with args (-x and others) and parses every line it
// prints. A path with runs of spaces comes back with single spaces, which
// the test's own paths do not have; lines that do not split into the
// eight fields of a Unix row (a name with a newline in it) are returned
// apart.
func runSSUnix(t testing.TB, args ...string) (rows map[uint32]ssUnix, odd []string) {
	t.Helper()
	out, err := exec.Command("ss", args...).Output()
	if err != nil {
		t.Fatalf("ss %v: %v", args, err)
	}
	rows = make(map[uint32]ssUnix)
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		l, err := parseSSUnix(line)
		if err != nil {
			odd = append(odd, line)
			continue
		}
		rows[l.ino] = l
	}
	return rows, odd
}

func parseSSUnix(line string) (ssUnix, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return ssUnix{}, fmt.Errorf("%d fields in %q", len(f), line)
	}
	n := len(f)
	l := ssUnix{netid: f[0], state: f[1], path: strings.Join(f[4:n-3], " "), peerName: f[n-2], line: line}
	var err error
	for _, v := range []struct {
		p *uint32
		s string
	}{{&l.recvQ, f[2]}, {&l.sendQ, f[3]}, {&l.ino, f[n-3]}, {&l.peerIno, f[n-1]}} {
		var x uint64
		if x, err = strconv.ParseUint(v.s, 10, 32); err != nil {
			return ssUnix{}, fmt.Errorf("%q in %q: %w", v.s, line, err)
		}
		*v.p = uint32(x)
	}
	return l, nil
}

func TestParseSSUnix(t *testing.T) {
	l, err := parseSSUnix("u_str LISTEN 2      5       /tmp/a b.sock 10015251 * 0")
	if err != nil {
		t.Fatal(err)
	}
	want := ssUnix{netid: "u_str", state: "LISTEN", recvQ: 2, sendQ: 5, path: "/tmp/a b.sock", ino: 10015251, peerName: "*"}
	l.line = ""
	if l != want {
		t.Errorf("got %+v, want %+v", l, want)
	}
	if _, err := parseSSUnix("u_str ESTAB 0 0 * 12"); err == nil {
		t.Error("a short line parsed")
	}
	if _, err := parseSSUnix("u_str ESTAB x 0 * 1 * 2"); err == nil {
		t.Error("a bad queue parsed")
	}
}

// ssNetid is ss's Netid for a Unix socket type.
func ssNetid(t SockType) string {
	switch t {
	case SockStream:
		return "u_str"
	case SockDgram:
		return "u_dgr"
	case SockSeqpacket:
		return "u_seq"
	}
	return "?"
}

func unixSnapshot(t testing.TB, opts Options) Snapshot {
	t.Helper()
	n := NewNetlink(opts)
	t.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return snap
}

func byInode(snap *Snapshot) map[uint32]*Socket {
	m := make(map[uint32]*Socket)
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Proto == Unix {
			m[s.Inode] = s
		}
	}
	return m
}

// TestUnixMatchesSS compares the fixture's sockets with ss -xa, field by
// field, and checks that ss -x (connected only) and ss -xl list each of
// them in the snapshot of the same states.
func TestUnixMatchesSS(t *testing.T) {
	f := newUnixFixture(t)
	snap := unixSnapshot(t, Options{Unix: true, Owners: true})
	got := byInode(&snap)
	all, odd := runSSUnix(t, "-xaH")
	if len(odd) > 0 {
		t.Logf("ss lines that are not ours and do not split into 8 fields: %q", odd)
	}
	for _, fd := range f.fds() {
		ino := inodeOf(t, fd)
		s, ok := got[ino]
		if !ok {
			t.Errorf("fd %d (inode %d) is not in the snapshot", fd, ino)
			continue
		}
		ss, ok := all[ino]
		if !ok {
			t.Errorf("fd %d (inode %d) is not in ss -xa", fd, ino)
			continue
		}
		path := s.Path
		if path == "" {
			path = "*"
		}
		if ssNetid(s.Type) != ss.netid || s.State.SSName() != ss.state || path != ss.path ||
			s.RecvQ != ss.recvQ || s.SendQ != ss.sendQ || s.PeerInode != ss.peerIno {
			t.Errorf("inode %d: socktop %s %s %d %d %s peer %d; ss: %s", ino, ssNetid(s.Type), s.State.SSName(),
				s.RecvQ, s.SendQ, path, s.PeerInode, ss.line)
		}
		if s.Unknown&(FieldRecvQ|FieldSendQ|FieldUID|FieldInode|FieldCookie) != 0 {
			t.Errorf("inode %d: fields unknown: %b", ino, s.Unknown)
		}
		if s.UID != uint32(os.Geteuid()) {
			t.Errorf("inode %d: uid %d, want %d", ino, s.UID, os.Geteuid())
		}
		if s.Cookie == 0 {
			t.Errorf("inode %d: no cookie", ino)
		}
		if !ownedByMe(s) {
			t.Errorf("inode %d: owners %v, want this process (%d)", ino, s.Owners, os.Getpid())
		}
	}

	// The fields ss shows, checked against the fixture itself too, so a
	// kernel and ss that agree on something wrong do not pass.
	check := func(fd int, typ SockType, state State, path string, rq, sq int) {
		t.Helper()
		s := got[inodeOf(t, fd)]
		if s == nil {
			return // reported above
		}
		if s.Type != typ || state != NumStates && s.State != state || s.Path != path || rq >= 0 && s.RecvQ != uint32(rq) || sq >= 0 && s.SendQ != uint32(sq) {
			t.Errorf("fd %d: %s %s %q rq %d sq %d; want %s %s %q rq %d sq %d", fd, s.Type, s.State, s.Path, s.RecvQ, s.SendQ,
				typ, state, path, rq, sq)
		}
	}
	check(f.listener, SockStream, StateListen, f.path, 2, 5) // two not accepted, backlog 5
	check(f.abs, SockStream, StateListen, f.abstract, 0, 3)
	check(f.accepted, SockStream, StateEstablished, f.path, len("queued!"), -1)
	check(f.pair[1], SockStream, StateEstablished, "", len("hello"), -1)
	check(f.seq[0], SockSeqpacket, StateEstablished, "", len("pkt"), -1)
	// The kernel also marks the receiving end of a connected dgram socket
	// ESTABLISHED (this one, 6.18, does; older ones may not): ss is the
	// judge of its state above.
	check(f.dgram, SockDgram, NumStates, filepath.Join(f.dir, "d.sock"), len("abc"), -1)
	check(f.lone, SockDgram, StateUnconn, "", 0, 0)

	// Peers: each end of a pair names the other; a connection not yet
	// accepted has a peer with no inode.
	pairs := [][2]int{{f.pair[0], f.pair[1]}, {f.seq[0], f.seq[1]}, {f.client, f.accepted}}
	for _, p := range pairs {
		a, b := got[inodeOf(t, p[0])], got[inodeOf(t, p[1])]
		if a == nil || b == nil {
			continue
		}
		if a.PeerInode != b.Inode || b.PeerInode != a.Inode {
			t.Errorf("pair %d/%d: peers %d/%d, inodes %d/%d", p[0], p[1], a.PeerInode, b.PeerInode, a.Inode, b.Inode)
		}
	}
	if s := got[inodeOf(t, f.pending[1])]; s != nil && s.PeerInode != 0 {
		t.Errorf("a connection not accepted yet has peer %d, want 0", s.PeerInode)
	}

	conn, _ := runSSUnix(t, "-xH")
	listen, _ := runSSUnix(t, "-xlH")
	for _, c := range []struct {
		ss   map[uint32]ssUnix
		mask StateMask
		name string
	}{{conn, 1 << StateEstablished, "ss -x"}, {listen, 1<<StateListen | 1<<StateUnconn, "ss -xl"}} {
		sub := byInode(ptr(unixSnapshot(t, Options{Unix: true, States: c.mask})))
		for _, fd := range f.fds() {
			ino := inodeOf(t, fd)
			_, inSS := c.ss[ino]
			if _, in := sub[ino]; in != inSS {
				t.Errorf("fd %d (inode %d, %s): in %s %v, in the snapshot of states %b %v", fd, ino, got[ino].State, c.name, inSS, c.mask, in)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func ownedByMe(s *Socket) bool {
	for _, o := range s.Owners {
		if o.PID == os.Getpid() {
			return true
		}
	}
	return false
}

// TestUnixPeers checks the index of the other ends: both ends of a pair,
// the accepted end of a connection and its client, and nothing for a
// socket without a peer or a TCP socket.
func TestUnixPeers(t *testing.T) {
	f := newUnixFixture(t)
	snap := unixSnapshot(t, Options{Unix: true, Owners: true})
	var p Peers
	p.Build(snap.Sockets)
	find := func(fd int) *Socket {
		in := inodeOf(t, fd)
		for i := range snap.Sockets {
			if snap.Sockets[i].Proto == Unix && snap.Sockets[i].Inode == in {
				return &snap.Sockets[i]
			}
		}
		t.Fatalf("fd %d not in the snapshot", fd)
		return nil
	}
	for _, pair := range [][2]int{{f.pair[0], f.pair[1]}, {f.client, f.accepted}, {f.accepted, f.client}, {f.seq[1], f.seq[0]}} {
		s, want := find(pair[0]), find(pair[1])
		if got := p.Of(s); got != want {
			t.Errorf("Peers.Of(fd %d) = %v, want the row of fd %d", pair[0], got, pair[1])
		}
		if got := PeerOf(&snap, s); got != want {
			t.Errorf("PeerOf(fd %d) = %v, want the row of fd %d", pair[0], got, pair[1])
		}
		if got := p.Of(s); got != nil && !ownedByMe(got) {
			t.Errorf("the peer of fd %d is owned by %v, want this process", pair[0], got.Owners)
		}
	}
	for _, fd := range []int{f.listener, f.lone, f.pending[1]} {
		if got := p.Of(find(fd)); got != nil {
			t.Errorf("fd %d has peer %+v, want none", fd, got)
		}
	}
	tcp := Socket{Proto: TCP, Inode: 1, PeerInode: find(f.pair[0]).Inode}
	if p.Of(&tcp) != nil || PeerOf(&snap, &tcp) != nil {
		t.Error("a TCP socket has a Unix peer")
	}
	// Rebuilt on a later snapshot, the index answers from it, not the old.
	next := unixSnapshot(t, Options{Unix: true})
	p.Build(next.Sockets)
	if got := p.Of(find(f.pair[0])); got == nil || got.Owners != nil || got.Unknown&FieldOwners == 0 {
		t.Errorf("after a rebuild on a snapshot without owners, the peer is %+v", got)
	}
}

// TestUnixOptions checks that Unix alone asks for Unix sockets only, and
// with TCP adds them to TCP's.
func TestUnixOptions(t *testing.T) {
	newUnixFixture(t)
	count := func(snap Snapshot) (inet, ux int) {
		for i := range snap.Sockets {
			if snap.Sockets[i].Proto == Unix {
				ux++
			} else {
				inet++
			}
		}
		return
	}
	l, _ := listenTCP(t, unix.AF_INET, 1, nil)
	_ = l
	if inet, ux := count(unixSnapshot(t, Options{})); ux != 0 || inet == 0 {
		t.Errorf("default options: %d inet, %d unix sockets; want some inet and no unix", inet, ux)
	}
	if inet, ux := count(unixSnapshot(t, Options{Unix: true})); ux == 0 || inet != 0 {
		t.Errorf("Unix alone: %d inet, %d unix sockets; want unix only", inet, ux)
	}
	if inet, ux := count(unixSnapshot(t, Options{Unix: true, TCP: true})); ux == 0 || inet == 0 {
		t.Errorf("Unix and TCP: %d inet, %d unix sockets; want both", inet, ux)
	}
}

func TestUnixPathText(t *testing.T) {
	var u unixDump
	u.paths = map[string]string{}
	for _, c := range []struct{ raw, want string }{
		{"", ""},
		{"/run/x.sock\x00", "/run/x.sock"},
		{"/run/x.sock", "/run/x.sock"},
		{"\x00name", "@name"},
		{"\x00a\x00b", "@a@b"},
		{"\x00" + strings.Repeat("x", 200), "@" + strings.Repeat("x", 200)},
	} {
		if got := u.path([]byte(c.raw)); got != c.want {
			t.Errorf("path(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	// A path seen in the previous snapshot is not allocated again.
	u.prev, u.paths = u.paths, map[string]string{}
	raw := []byte("/run/x.sock\x00")
	if n := testing.AllocsPerRun(100, func() { u.path(raw) }); n != 0 {
		t.Errorf("a known path costs %v allocations", n)
	}
}

// TestGopsutilLeavesUnixOut: gopsutil lists no Unix sockets, so asking
// for them gives a Partial snapshot with a notice, and Unix alone gives
// no TCP or UDP sockets either.
func TestGopsutilLeavesUnixOut(t *testing.T) {
	g := NewGopsutil(Options{Unix: true})
	snap, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Partial || !slicesContains(snap.Notices, noticeGopsutilUnix) || len(snap.Sockets) != 0 {
		t.Errorf("gopsutil with Unix alone: partial %v, notices %q, %d sockets", snap.Partial, snap.Notices, len(snap.Sockets))
	}
	// gopsutil has no inodes: the listener is found by its port on the
	// test's own loopback address.
	_, port := listenTCP(t, unix.AF_INET, 1, nil)
	g = NewGopsutil(Options{Unix: true, TCP: true})
	snap, err = g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		found = found || s.Proto == TCP && s.State == StateListen && s.Local.Addr() == testAddr4 && int(s.Local.Port()) == port
	}
	if !snap.Partial || !found {
		t.Errorf("gopsutil with Unix and TCP: partial %v, the test's listener found %v", snap.Partial, found)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
