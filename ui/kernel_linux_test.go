package ui

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"unsafe"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/filter"
)

// listenLoopback opens a TCP listener on 127.0.0.1 and returns its port.
func listenLoopback(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// netlinkHarness is a view on the real netlink source, refreshed by hand:
// refresh runs the collection's Cmd as bubbletea would and hands its
// message to Update.
func netlinkHarness(t *testing.T, flt string) (*harness, *collect.Netlink) {
	t.Helper()
	src := collect.NewNetlink(collect.Options{TCP: true, IPv4: true, States: collect.AllStates})
	t.Cleanup(func() { src.Close() })
	h := newHarness(t, Config{Source: src, Filter: flt})
	h.send(tea.WindowSizeMsg{Width: 160, Height: 40})
	return h, src
}

func (h *harness) refresh() {
	h.t.Helper()
	msg := h.m.collectCmd()()
	if sm := msg.(snapMsg); sm.err != nil {
		h.t.Fatalf("snapshot: %v", sm.err)
	}
	h.send(msg)
}

// listed reports whether the shown snapshot has the listener on port.
func listed(m *model, port uint16) bool {
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	for i := range m.snap.Sockets {
		if s := &m.snap.Sockets[i]; s.State == collect.StateListen && s.Local == want {
			return true
		}
	}
	return false
}

// TestLiveViewKernelFilter: a one-port filter reaches the kernel, so the
// snapshot holds only the port's sockets while the header still counts
// the host's table; a new filter rebases the tracker, so the sockets the
// old kernel answer had are not gone, the new ones are not new, and the
// log says nothing of either.
func TestLiveViewKernelFilter(t *testing.T) {
	a, b := listenLoopback(t), listenLoopback(t)
	h, _ := netlinkHarness(t, fmt.Sprintf("sport = :%d", a))
	h.refresh()
	h.refresh()
	m := h.m
	if !m.snap.Filtered || !listed(m, a) || listed(m, b) {
		t.Fatalf("filtered %v, listener a listed %v, b listed %v: want the kernel's answer for a alone", m.snap.Filtered, listed(m, a), listed(m, b))
	}
	for i := range m.snap.Sockets {
		if p := m.snap.Sockets[i].Local.Port(); p != a {
			t.Fatalf("the kernel sent a socket of port %d for sport = :%d", p, a)
		}
	}
	if m.header.total < len(m.snap.Sockets) || m.header.total < 2 {
		t.Fatalf("header total %d: want the host's table (at least both listeners), not the %d shown", m.header.total, len(m.snap.Sockets))
	}
	logged := len(m.log.entries)

	f, err := filter.Parse(fmt.Sprintf("sport = :%d", b))
	if err != nil {
		t.Fatal(err)
	}
	m.filter, m.filterText = f, f.String()
	m.rebuildRows()
	h.refresh()
	if !listed(m, b) || listed(m, a) {
		t.Fatalf("after the new filter: a listed %v, b listed %v", listed(m, a), listed(m, b))
	}
	// The listeners are known by their exact address, which they hold
	// alone: other programs' sockets may share the port numbers on other
	// addresses, and come and go meanwhile.
	lo := netip.MustParseAddr("127.0.0.1")
	aAddr, bAddr := netip.AddrPortFrom(lo, a), netip.AddrPortFrom(lo, b)
	for _, g := range m.gone {
		if g.s.Local == aAddr {
			t.Fatalf("listener a, outside the new kernel filter, is shown gone")
		}
	}
	for _, r := range m.rows {
		if r.s.Local == bAddr && r.mark != markSame {
			t.Fatalf("listener b marked %v after a filter change", r.mark)
		}
	}
	for _, e := range m.log.entries[logged:] {
		if e.key.Local == aAddr || e.key.Local == bAddr {
			t.Fatalf("the filter change logged %v %v -> %v", e.key.Local, e.from, e.to)
		}
	}
	if !m.snap.Filtered {
		t.Fatal("the new filter did not reach the kernel")
	}
	// No filter: the kernel sends everything again.
	m.filter, m.filterText = nil, ""
	m.rebuildRows()
	h.refresh()
	if m.snap.Filtered || !listed(m, a) || !listed(m, b) {
		t.Fatalf("without a filter: filtered %v, a %v, b %v", m.snap.Filtered, listed(m, a), listed(m, b))
	}
	if len(m.gone) != 0 {
		t.Fatalf("%d gone rows after the filter was cleared", len(m.gone))
	}
}

// TestRecycledArraysAreNotHeld: every refresh hands the source an array
// it fills while the view goes on reading what it holds (rows, gone rows,
// the held copies, the detail view), as the event loop does while a
// collection runs. The race detector sees a row the view still holds in
// the array being filled; so does the address check, without it.
func TestRecycledArraysAreNotHeld(t *testing.T) {
	// A kernel-filtered view, so the test reads a few sockets whatever
	// the host holds; the arrays rotate all the same.
	port := listenLoopback(t)
	for range 3 {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	h, _ := netlinkHarness(t, fmt.Sprintf("port %d", port))
	m := h.m
	h.refresh()
	reused := 0
	for i := range 12 {
		if i == 4 {
			h.key(" ") // paused: the shown snapshot, the pending one and the tracker's differ
		}
		if i == 8 {
			h.key(" ")
			h.key("enter") // the detail view keeps a copy
		}
		spare := m.spare
		cmd := m.collectCmd()
		var wg sync.WaitGroup
		var msg tea.Msg
		wg.Go(func() { msg = cmd() })
		sum := 0
		for _, r := range m.rows {
			sum += int(r.s.Local.Port()) + int(r.s.State)
		}
		for _, g := range m.gone {
			sum += int(g.s.Local.Port())
		}
		sum += int(m.detail.sock.Local.Port())
		wg.Wait()
		_ = sum
		sm := msg.(snapMsg)
		if sm.err != nil {
			t.Fatal(sm.err)
		}
		if cap(spare) > 0 && len(sm.snap.Sockets) > 0 && unsafe.SliceData(spare) == unsafe.SliceData(sm.snap.Sockets) {
			reused++
		}
		for _, held := range []*collect.Snapshot{m.snap, m.pending, m.fed} {
			if held != nil && len(held.Sockets) > 0 && cap(spare) > 0 && unsafe.SliceData(held.Sockets) == unsafe.SliceData(spare) {
				t.Fatalf("refresh %d: the array given to the source is still held by the view", i)
			}
		}
		h.send(sm)
	}
	if reused == 0 {
		t.Fatal("no refresh reused an array: the test proves nothing")
	}
}
