package ui

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"

	"golang.org/x/sys/unix"
)

// gateHarness is a view on the real netlink source and the real event
// stream (BPF as root), ticked by hand.
func gateHarness(t *testing.T) *harness {
	t.Helper()
	return gateHarnessFiltered(t, "")
}

// gateHarnessFiltered is gateHarness with a filter in force from the
// start.
func gateHarnessFiltered(t *testing.T, filter string) *harness {
	t.Helper()
	return gateHarnessWith(t, filter, false)
}

// gateHarnessWith is gateHarnessFiltered with owners looked up or not.
func gateHarnessWith(t *testing.T, filter string, owners bool) *harness {
	t.Helper()
	src := collect.NewNetlink(collect.Options{TCP: true, UDP: true, IPv4: true, IPv6: true, States: collect.AllStates, Owners: owners})
	t.Cleanup(func() { src.Close() })
	st, err := events.Open(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := newHarness(t, Config{Source: src, Events: st, Filter: filter})
	h.send(windowSize(200, 40))
	return h
}

// gatePair is a listener on addr and a connection to it, both ends,
// closed when the test ends.
func gatePair(t *testing.T, network, addr string) (net.Listener, net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ln, c, s
}

// tickKind delivers a tick and the refresh it starts, as the bubbletea
// loop would, and says what the refresh was: "walk", "peek" or "patch".
func (h *harness) tickKind() string {
	h.t.Helper()
	g := &h.m.gate
	walks, peeks, patches := g.walks, g.peeks, g.patches
	for _, msg := range run(h.send(tickMsg{gen: h.m.gen})) {
		switch msg.(type) {
		case snapMsg, peekMsg:
			h.send(msg)
		}
	}
	switch d := [3]int{g.walks - walks, g.peeks - peeks, g.patches - patches}; d {
	case [3]int{1, 0, 0}:
		return "walk"
	case [3]int{0, 1, 0}:
		return "peek"
	case [3]int{0, 0, 1}:
		return "patch"
	default:
		h.t.Fatalf("a tick made %d walks, %d peeks and %d patches", d[0], d[1], d[2])
	}
	return ""
}

// tick is tickKind for a refresh that must not patch: it reports
// whether it walked.
func (h *harness) tick() (walked bool) {
	h.t.Helper()
	k := h.tickKind()
	if k == "patch" {
		h.t.Fatal("a tick patched the table")
	}
	return k == "walk"
}

// settle ticks until a walk, then until a peek: a walk's own drain may
// name sockets (the test's setup) that the refresh after it patches.
func (h *harness) settle() {
	h.t.Helper()
	walked := h.m.gate.walks > 0
	for range 2*reconcileEvery(h.m.interval) + 2 {
		switch h.tickKind() {
		case "walk":
			walked = true
		case "peek":
			if walked {
				return
			}
		}
	}
	h.t.Fatalf("no peek came after a walk in %d ticks: %+v", 2*reconcileEvery(h.m.interval)+2, &h.m.gate)
}

// shownByInode is the shown row of the descriptor c holds, or nil.
func shownByInode(t *testing.T, m *model, c syscall.Conn) *collect.Socket {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	for i := range m.rows {
		if s := m.rows[i].s; uint64(s.Inode) == st.Ino {
			return s
		}
	}
	return nil
}

// The gate with the real kernel, in a namespace of the test's own (the
// BPF stream is the host's; other namespaces' events must not make it
// walk): a quiet table peeks, a write into a shown socket shows its new
// Recv-Q without a walk, a new connection and a UDP bind make it walk,
// the reconcile period walks, and a sort by Recv-Q walks every tick.
func TestGateWalksOnlyOnChange(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	h := gateHarness(t)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s): the gate never opens", h.m.demos.mode)
	}
	ln, c, s := gatePair(t, "tcp4", "127.0.0.1:0")
	h.tick()
	h.settle()

	// A quiet tick peeks.
	if h.tick() {
		t.Fatal("a quiet tick walked")
	}
	// A write into a shown socket: its Recv-Q, on the next tick, without
	// a walk. Loopback delivers within the write; the tick after is
	// allowed in case the softirq ran late.
	if _, err := c.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if h.tick() {
			t.Fatal("a write into a shown socket made a walk")
		}
		row := shownByInode(t, h.m, s.(*net.TCPConn))
		if row == nil {
			t.Fatal("the server end is not shown")
		}
		if row.RecvQ == 100 {
			break
		}
		if i == 2 {
			t.Fatalf("Recv-Q %d after the write, want 100", row.RecvQ)
		}
	}
	if ma, ok := h.m.marks[shownByInode(t, h.m, s.(*net.TCPConn)).Key()]; !ok || ma.mark != markChanged {
		t.Error("the peeked queue change is not marked")
	}
	// The reconcile period: peeks until it, then a walk.
	for h.m.gate.age+1 < reconcileEvery(h.m.interval) {
		if h.tick() {
			t.Fatalf("walked at age %d, before the reconcile period", h.m.gate.age)
		}
	}
	if !h.tick() {
		t.Fatal("no walk at the reconcile period")
	}

	// A new connection: the events name its sockets, so the table is
	// patched, not walked, and its rows appear; the patched table is the
	// one a dump reads. Its close: the client's TIME_WAIT and the
	// server's CLOSE_WAIT, then the server's close; each patched.
	patchedConnectClose(t, h, ln)

	// A UDP bind, which no event announces: the counters make it walk.
	h.settle()
	u, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if !h.tick() {
		t.Fatal("a UDP bind did not make a walk")
	}
	if shownByInode(t, h.m, u) == nil {
		t.Fatal("the UDP socket is not shown after the walk")
	}

	// Sorted by Recv-Q, every tick walks: the order needs every row's.
	h.settle()
	h.m.table.sortCol = colRecvQ
	h.m.rebuildRows()
	for range 3 {
		if !h.tick() {
			t.Fatal("a tick sorted by Recv-Q peeked")
		}
	}
}

// As uid 65534 there is no BPF: transitions are sampled, so the table
// can change unannounced and every tick walks.
func TestGateNobodyWalks(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	h := gateHarness(t)
	if h.m.demos.mode.Exact() {
		t.Fatalf("exact events (%s) as uid %d", h.m.demos.mode, syscall.Getuid())
	}
	for range 4 {
		if !h.tick() {
			t.Fatal("a tick with sampled events peeked")
		}
	}
}

// listenElsewhere makes a listening socket in a new network namespace of
// its own, on a thread that is thrown away after: the kernel reports its
// CLOSED -> LISTEN with that namespace's inode. It returns the socket
// and the namespace's inode.
func listenElsewhere(t *testing.T) (fd int, ns uint32) {
	t.Helper()
	type res struct {
		fd  int
		ns  uint32
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// The thread stays locked and ends with the goroutine: it is in
		// the other namespace for good.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err}
			return
		}
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			ch <- res{err: err}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			if err = unix.Bind(fd, &unix.SockaddrInet4{}); err == nil {
				err = unix.Listen(fd, 4)
			}
		}
		ch <- res{fd: fd, ns: uint32(st.Ino), err: err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r.fd, r.ns
}

// A view of its own namespace drops the other namespaces' events before
// the tracker: it lists none of their sockets, and the tracker would
// keep them until a walk (on a host with containers, most of the
// stream). They do not make it walk either.
func TestGateDropsOtherNamespacesEvents(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	h := gateHarness(t)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s)", h.m.demos.mode)
	}
	own, ok := h.m.src.(peeker).PeekNetNS()
	if !ok || own == 0 {
		t.Fatalf("the source does not say its namespace: %d %v", own, ok)
	}
	if s := h.m.eventScope(); !s.on || s.ns != own {
		t.Fatalf("scope %+v, want on for namespace %d", s, own)
	}
	h.tick()
	h.settle()
	_, other := listenElsewhere(t)
	if other == own {
		t.Fatal("the other namespace is the view's own")
	}
	// The listen's event is in the ring by the time listen returns; the
	// next drain reads it.
	for range 3 {
		if h.tick() {
			t.Fatal("an event of another namespace made a walk")
		}
		if h.m.gate.held != 0 {
			t.Fatalf("the tracker was handed %d events of another namespace", h.m.gate.held)
		}
	}
	// Under a running demo every event is kept: a scenario may run in a
	// namespace of its own and check its paths.
	saved := h.m.demos.runs
	h.m.demos.runs = append(h.m.demos.runs, nil)
	on := h.m.eventScope().on
	h.m.demos.runs = saved
	if on {
		t.Error("the scope is on while a demo runs")
	}
}

// A tick that comes while a walk is in flight peeks beside it: the rows
// shown get their fresh queues without waiting for the walk, which runs
// on its own netlink socket at the same time (-race watches both), and
// the walk, when it lands, is merged as usual.
func TestGatePeeksBesideAWalk(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	h := gateHarness(t)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s)", h.m.demos.mode)
	}
	_, c, s := gatePair(t, "tcp6", "[::1]:0")
	h.tick()
	h.settle()
	// Peek up to the reconcile period: the next tick walks.
	for h.m.gate.age+1 < reconcileEvery(h.m.interval) {
		if h.tick() {
			t.Fatal("walked before the reconcile period")
		}
	}
	walks, besides := h.m.gate.walks, h.m.gate.besides
	walkCmd := h.send(tickMsg{gen: h.m.gen})
	if !h.m.inFlight || !h.m.gate.walking {
		t.Fatal("the tick at the reconcile period started no walk")
	}
	landed := make(chan []tea.Msg, 1)
	go func() { landed <- run(walkCmd) }()

	if _, err := c.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	var peek *peekMsg
	for _, msg := range run(h.send(tickMsg{gen: h.m.gen})) {
		if p, ok := msg.(peekMsg); ok {
			peek = &p
		}
	}
	if peek == nil || !peek.beside {
		t.Fatalf("a tick during the walk did not peek beside it: %+v", peek)
	}
	h.send(*peek)
	if h.m.gate.besides != besides+1 || h.m.gate.peeking {
		t.Fatalf("besides %d (was %d), peeking %v", h.m.gate.besides, besides, h.m.gate.peeking)
	}
	row := shownByInode(t, h.m, s.(*net.TCPConn))
	if row == nil {
		t.Fatal("the server end is not shown")
	}
	if row.RecvQ != 100 {
		// Loopback delivers within the write; a late softirq is not
		// the peek's fault, but nothing else would show 100 here.
		t.Errorf("Recv-Q %d after the peek beside the walk, want 100", row.RecvQ)
	}
	for _, msg := range <-landed {
		if _, ok := msg.(snapMsg); ok {
			h.send(msg)
		}
	}
	if h.m.gate.walks != walks+1 || h.m.inFlight || h.m.gate.walking {
		t.Fatalf("the walk did not land: walks %d (was %d), in flight %v", h.m.gate.walks, walks, h.m.inFlight)
	}
	if row := shownByInode(t, h.m, s.(*net.TCPConn)); row == nil || row.RecvQ != 100 {
		t.Fatalf("after the walk the server end is %+v", row)
	}
}

// sameAsDump fails unless the table shown is the one a dump of the
// namespace (the test's own, quiet) reads now: the same sockets by
// cookie, in the same states, with the same addresses.
func sameAsDump(t *testing.T, h *harness) {
	t.Helper()
	type row struct {
		state         collect.State
		local, remote string
	}
	rows := func(socks []collect.Socket) map[uint64]row {
		out := map[uint64]row{}
		for i := range socks {
			s := &socks[i]
			out[s.Cookie] = row{s.State, s.Local.String(), s.Remote.String()}
		}
		return out
	}
	dump, err := h.m.src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, want := rows(h.m.snap.Sockets), rows(dump.Sockets)
	if len(got) != len(want) {
		t.Errorf("the table shown has %d sockets, a dump %d", len(got), len(want))
	}
	for c, w := range want {
		if g, ok := got[c]; !ok || g != w {
			t.Errorf("cookie %d: shown %+v (%v), dumped %+v", c, g, ok, w)
		}
	}
	for c, g := range got {
		if _, ok := want[c]; !ok {
			t.Errorf("cookie %d: shown %+v, not in a dump", c, g)
		}
	}
}

// waitStates waits until a dump of the namespace counts its sockets'
// states as settled says: a close's FIN, and the ACK that answers it,
// cross loopback in softirq, which a busy host runs late (ksoftirqd),
// so the state a close reaches is not yet in force when close returns.
func waitStates(t *testing.T, h *harness, what string, settled func(n map[collect.State]int) bool) {
	t.Helper()
	var n map[collect.State]int
	waitfor.UntilShow(t, 20*time.Second, what, func() bool {
		dump, err := h.m.src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n = map[collect.State]int{}
		for i := range dump.Sockets {
			n[dump.Sockets[i].State]++
		}
		return settled(n)
	}, func() string { return fmt.Sprintf("states dumped: %v", n) })
}

// patchedConnectClose connects to ln, then closes the client and then
// the server, checking that each of the three refreshes patches and
// leaves the table a dump would read, and that the new connection is
// shown after the first.
func patchedConnectClose(t *testing.T, h *harness, ln net.Listener) {
	t.Helper()
	h.settle()
	c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Dial returns once the client sent the handshake's last ACK; the
	// server's side turns ESTABLISHED when that ACK is taken in.
	waitStates(t, h, "the handshake's last ACK", func(n map[collect.State]int) bool {
		return n[collect.StateSynSent] == 0 && n[collect.StateSynRecv] == 0
	})
	if k := h.tickKind(); k != "patch" {
		t.Fatalf("a new connection made a %s, want a patch", k)
	}
	if shownByInode(t, h.m, c.(*net.TCPConn)) == nil {
		t.Fatal("the new connection is not shown after the patch")
	}
	sameAsDump(t, h)
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h.settle()
	c.Close()
	// The client's FIN_WAIT_2 follows the server's CLOSE_WAIT: a patch
	// between the two would show FIN_WAIT_1, which the dump after it
	// no longer reads.
	waitStates(t, h, "the close's FIN and its ACK", func(n map[collect.State]int) bool {
		return n[collect.StateCloseWait] == 1 && n[collect.StateFinWait2] == 1
	})
	if k := h.tickKind(); k != "patch" {
		t.Fatalf("a close made a %s, want a patch", k)
	}
	sameAsDump(t, h)
	srv.Close()
	waitStates(t, h, "the other end's FIN and its ACK", func(n map[collect.State]int) bool {
		return n[collect.StateTimeWait] == 1 && n[collect.StateLastAck] == 0 && n[collect.StateFinWait2] == 0
	})
	if k := h.tickKind(); k != "patch" {
		t.Fatalf("the other end's close made a %s, want a patch", k)
	}
	sameAsDump(t, h)
}
