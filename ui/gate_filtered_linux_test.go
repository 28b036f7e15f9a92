package ui

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// A view whose filter the kernel evaluates patches too: the events of the
// sockets on the filter's port are asked for, those elsewhere change
// nothing shown, and each refresh's table is the one a filtered dump
// reads; a UDP bind, which no event announces, makes it walk. Before,
// every refresh of a filtered view walked on a churning host, and its
// walk is the kernel's pass over the whole table.
func TestGatePatchesAFilteredView(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	ln, c, s := gatePair(t, "tcp4", "127.0.0.1:0")
	other, _, _ := gatePair(t, "tcp6", "[::1]:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	h := gateHarnessFiltered(t, "sport = :"+port+" or dport = :"+port)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s): the gate never opens", h.m.demos.mode)
	}
	if kf, _ := h.m.kernelWant(); kf == nil {
		t.Fatal("the filter gives the kernel no program")
	}
	h.tick()
	h.settle()
	if !h.m.snap.Filtered || len(h.m.snap.Sockets) != 3 {
		t.Fatalf("the filtered table has %d rows (filtered %v), want the listener and a pair", len(h.m.snap.Sockets), h.m.snap.Filtered)
	}
	if shownByInode(t, h.m, c.(*net.TCPConn)) == nil || shownByInode(t, h.m, s.(*net.TCPConn)) == nil {
		t.Fatal("the pair on the filter's port is not shown")
	}

	// A connection elsewhere: its events are of this namespace, so the
	// refresh patches, and nothing of it is shown.
	o, err := net.Dial("tcp6", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// Its events are dropped in the drain, before the tracker: the
	// kernel's program rejects the socket by its ports. A connect's
	// first event, before its port is chosen, cannot be judged and is
	// kept, with the socket's later ones.
	var patched *snapMsg
	for _, msg := range run(h.send(tickMsg{gen: h.m.gen})) {
		if sm, ok := msg.(snapMsg); ok {
			patched = &sm
		}
	}
	if patched == nil || !patched.patched {
		t.Fatalf("a connection off the filter made no patch: %+v", patched)
	}
	p, _ := strconv.Atoi(port)
	opened := map[uint64]bool{}
	for _, e := range patched.ev.events {
		switch {
		case e.Local.Port() == 0:
			opened[e.Cookie] = true
		case int(e.Local.Port()) != p && int(e.Remote.Port()) != p && !opened[e.Cookie]:
			t.Errorf("the drain kept %v %v -> %v of a socket off the filter", e.Local, e.Remote, e.To)
		}
	}
	h.send(*patched)
	if shownByInode(t, h.m, o.(*net.TCPConn)) != nil {
		t.Fatal("a connection off the filter is shown")
	}
	sameAsDump(t, h)

	// A connection to the port: patched in.
	h.settle()
	c2, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if k := h.tickKind(); k != "patch" {
		t.Fatalf("a new connection on the filter's port made a %s, want a patch", k)
	}
	if shownByInode(t, h.m, c2.(*net.TCPConn)) == nil {
		t.Fatal("the new connection is not shown after the patch")
	}
	sameAsDump(t, h)
	srv2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()

	// Its close, and the other end's: patched, TIME_WAIT kept.
	h.settle()
	c2.Close()
	waitState(t, h, collect.StateCloseWait)
	if k := h.tickKind(); k != "patch" {
		t.Fatalf("a close made a %s, want a patch", k)
	}
	sameAsDump(t, h)
	srv2.Close()
	if k := h.tickKind(); k != "patch" {
		t.Fatalf("the other end's close made a %s, want a patch", k)
	}
	sameAsDump(t, h)
	tw := 0
	for i := range h.m.snap.Sockets {
		if h.m.snap.Sockets[i].State == collect.StateTimeWait {
			tw++
		}
	}
	if tw != 1 {
		t.Errorf("%d TIME_WAIT rows after the active close, want 1", tw)
	}

	// A UDP bind, on no port of the filter's: the counters move with no
	// event, and the refresh walks.
	h.settle()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if !h.tick() {
		t.Fatal("a UDP bind did not make a walk")
	}
	sameAsDump(t, h)
}

// A new connection's rows are shown after the patch that found them, and
// that patch scanned only for the owners of the rows shown before it:
// the refresh after patches again, and the rows get the test's process,
// though the host is quiet and would otherwise peek.
func TestGateFindsTheOwnersOfNewRowsShown(t *testing.T) {
	if !kerneltest.InQuietNetns(t) {
		return
	}
	ln, _, _ := gatePair(t, "tcp4", "127.0.0.1:0")
	h := gateHarnessWith(t, "", true)
	if !h.m.demos.mode.Exact() {
		t.Skipf("no exact events here (%s): the gate never opens", h.m.demos.mode)
	}
	h.tick()
	h.settle()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pid := os.Getpid()
	owned := func() bool {
		r := shownByInode(t, h.m, c.(*net.TCPConn))
		return r != nil && len(r.Owners) > 0 && r.Owners[0].PID == pid
	}
	// A scan may be spaced out on a busy host (its cost times 50): the
	// ticks go on until it comes, and each must patch, not peek, while
	// the row's owner is unknown.
	waitfor.UntilShow(t, 20*time.Second, "the new connection's owner", func() bool {
		if k := h.tickKind(); k == "peek" {
			if r := shownByInode(t, h.m, c.(*net.TCPConn)); r != nil && !r.Known(collect.FieldOwners) && !h.m.gate.ownersTried[r.Cookie] {
				t.Fatal("a refresh peeked with a shown row's owner unknown and not yet looked for")
			}
		}
		return owned()
	}, func() string { return fmt.Sprintf("%+v", shownByInode(t, h.m, c.(*net.TCPConn))) })
}
