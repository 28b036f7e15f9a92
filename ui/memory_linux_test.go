package ui

import (
	"net/netip"
	"runtime"
	"runtime/debug"
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

// The heap goal's percentage is GCPercentMax for a live heap that leaves
// gcHeadroom within it, falls in steps of gcStep as the live heap grows
// past, and stops at GCPercentMin.
func TestGCPercentForTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, GCPercentMax},          // no collection yet
		{30 * mib, GCPercentMax},   // 10k sockets
		{100 * mib, GCPercentMax},  // 100k
		{256 * mib, GCPercentMax},  // 50 % is 128 MiB exactly
		{257 * mib, 45},            // 49.8 %, rounded down
		{400 * mib, 30},            // 32 %
		{640 * mib, GCPercentMin},  // 20 % is 128 MiB exactly
		{850 * mib, GCPercentMin},  // a million: 15 % would be under the floor
		{8192 * mib, GCPercentMin}, // far beyond
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}
}

// The live heap the tuner reads is the runtime's: a 64 MiB array held
// across a collection is in it.
func TestLiveHeapReadsTheRuntime(t *testing.T) {
	const held = 64 << 20
	buf := make([]byte, held)
	runtime.GC()
	var g gcTuner
	if got := g.liveHeap(); got < held {
		t.Errorf("live heap %d bytes with %d held", got, held)
	}
	runtime.KeepAlive(buf)
}

// gcPercentNow returns the collector's percentage without changing it.
func gcPercentNow() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The view sets the heap goal from the live heap after each snapshot it
// takes in, when TuneGC lets it, and leaves it alone otherwise.
func TestViewTunesTheHeapGoal(t *testing.T) {
	orig := debug.SetGCPercent(77)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	var live uint64 = 900 << 20
	h := newHarness(t, Config{TuneGC: true}, tableOf(10), tableOf(10), tableOf(10))
	h.m.gc.live = func() uint64 { return live }
	h.send(windowSize(120, 40))
	h.refresh()
	if got := gcPercentNow(); got != GCPercentMin {
		t.Fatalf("percentage %d with 900 MiB live, want %d", got, GCPercentMin)
	}
	live = 100 << 20
	h.refresh()
	if got := gcPercentNow(); got != GCPercentMax {
		t.Fatalf("percentage %d with 100 MiB live, want %d", got, GCPercentMax)
	}

	debug.SetGCPercent(77)
	off := newHarness(t, Config{}, tableOf(10), tableOf(10))
	off.m.gc.live = func() uint64 { return 900 << 20 }
	off.send(windowSize(120, 40))
	off.refresh()
	if got := gcPercentNow(); got != 77 {
		t.Fatalf("percentage %d without TuneGC, want the 77 it was", got)
	}
}
