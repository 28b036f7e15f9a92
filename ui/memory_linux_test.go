package ui

import (
	"net/netip"
	"testing"

	"socktop/collect"
)

// tableOf is a snapshot of n UDP rows.
func tableOf(n int) collect.Snapshot {
	socks := make([]collect.Socket, n)
	for i := range socks {
		socks[i] = collect.Socket{Proto: collect.UDP, Family: 4, State: collect.StateUnconn,
			Local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)}), uint16(1024+i%60000))}
	}
	return collect.Snapshot{Sockets: socks}
}

// A table that shrinks to a quarter of its peak (a burst over) makes the
// view return its freed memory, once, and again a few seconds later; one
// that stays, or a small one, does not.
func TestMemoryReleasedAfterABurst(t *testing.T) {
	h := newHarness(t, Config{}, tableOf(20000), tableOf(19000), tableOf(4000), tableOf(3900), tableOf(100))
	h.send(windowSize(120, 40))
	for range 2 {
		h.refresh()
	}
	if h.m.memReleases != 0 {
		t.Fatalf("%d releases while the table held", h.m.memReleases)
	}
	h.refresh() // 20000 -> 4000
	if h.m.memReleases != 1 {
		t.Fatalf("%d releases after the table shrank to a fifth, want 1", h.m.memReleases)
	}
	h.refresh()
	h.refresh() // 4000 -> 100: under memReleaseMin, the pages are few
	if h.m.memReleases != 1 {
		t.Fatalf("%d releases after a small table shrank, want still 1", h.m.memReleases)
	}
}
