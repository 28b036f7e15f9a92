package ui

import (
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"
	"weak"

	"socktop/collect"
	"socktop/internal/synth"
)

// feedCopy delivers a copy of snap taken at later (so every refresh holds
// its own socket array, as a real source's do) and returns a weak pointer
// to that array: it turns nil once nothing in the view references it.
func feedCopy(h *harness, snap *collect.Snapshot, n int, later time.Duration) weak.Pointer[collect.Socket] {
	s := *snap
	s.Taken = s.Taken.Add(later)
	s.Sockets = slices.Clone(snap.Sockets[:n])
	w := weak.Make(&s.Sockets[0])
	h.feed(s)
	return w
}

// reachable counts the weak pointers whose array is still referenced,
// after a full collection.
func reachable(ws []weak.Pointer[collect.Socket]) int {
	runtime.GC()
	n := 0
	for _, w := range ws {
		if w.Value() != nil {
			n++
		}
	}
	return n
}

// checkNoStaleRows fails when a buffer of the view holds a socket pointer
// past its length, or is far larger than the table it now serves.
func checkNoStaleRows(t *testing.T, m *model) {
	t.Helper()
	for i, r := range m.rows[len(m.rows):cap(m.rows)] {
		if r.s != nil {
			t.Fatalf("m.rows[%d] past its length %d still points at a socket", len(m.rows)+i, len(m.rows))
		}
	}
	for i, r := range m.sorter.tmp[:cap(m.sorter.tmp)] {
		if r.s != nil {
			t.Fatalf("sorter.tmp[%d] still points at a socket between sorts", i)
		}
	}
	for i, g := range m.gone[len(m.gone):cap(m.gone)] {
		if g.s.Owners != nil || g.s.Info != nil {
			t.Fatalf("m.gone[%d] past its length %d still holds owners or tcp_info", len(m.gone)+i, len(m.gone))
		}
	}
	n := len(m.rows)
	for name, c := range map[string]int{
		"rows": cap(m.rows), "sorter.tmp": cap(m.sorter.tmp), "sorter.lidx": cap(m.sorter.lidx),
		"sorter.ridx": cap(m.sorter.ridx), "gone": cap(m.gone) - len(m.gone) + n,
	} {
		if oversized(c, n) {
			t.Errorf("%s has capacity %d for a table of %d rows", name, c, n)
		}
	}
}

// TestBurstReleasesOldSnapshots: after a 100k table fell back to 1k, no
// buffer of the view keeps the 100k snapshots reachable (the reused rows
// and the sorter's spare buffer used to, past their length), and none
// keeps the burst's size.
func TestBurstReleasesOldSnapshots(t *testing.T) {
	h := newHarness(t, Config{})
	big1, big2, small := synth.Table(100000, 1), synth.Table(100000, 2), synth.Table(1000, 3)
	var burst []weak.Pointer[collect.Socket]
	burst = append(burst, feedCopy(h, big1, len(big1.Sockets), 0))
	burst = append(burst, feedCopy(h, big2, len(big2.Sockets), time.Second))
	for i := range markRefreshes + 1 {
		feedCopy(h, small, len(small.Sockets), time.Duration(2+i)*time.Second)
	}
	checkNoStaleRows(t, h.m)
	if n := reachable(burst); n != 0 {
		t.Fatalf("%d of the 2 burst snapshots are still reachable from the view", n)
	}
	if len(h.m.hist.byKey) > maxHistKeys || len(h.m.hist.ring) > maxHistKeys {
		t.Fatalf("history holds %d connections (ring %d), bound %d", len(h.m.hist.byKey), len(h.m.hist.ring), maxHistKeys)
	}
	if len(h.m.log.entries) > maxLog {
		t.Fatalf("log holds %d entries, bound %d", len(h.m.log.entries), maxLog)
	}
}

// TestShrinkingTableKeepsNoOldSnapshot is a steady table on a busy host,
// whose length moves by a few sockets each refresh; here it shrinks. Each
// position past the current length of a reused buffer used to keep the
// last snapshot that reached it, so the view held more and more old
// snapshots (and the collector scanned them all, every cycle).
func TestShrinkingTableKeepsNoOldSnapshot(t *testing.T) {
	h := newHarness(t, Config{})
	base := synth.Table(3000, 1)
	r := rand.New(rand.NewPCG(1, 2))
	var ws []weak.Pointer[collect.Socket]
	n := len(base.Sockets)
	for i := range 40 {
		n -= 1 + r.IntN(20)
		ws = append(ws, feedCopy(h, base, n, time.Duration(i)*250*time.Millisecond))
		checkNoStaleRows(t, h.m)
	}
	// Only the shown snapshot may stay.
	if n := reachable(ws[:len(ws)-1]); n != 0 {
		t.Fatalf("%d old snapshots of %d are still reachable from the view", n, len(ws)-1)
	}
	if ws[len(ws)-1].Value() == nil {
		t.Fatal("the shown snapshot was collected: the check proves nothing")
	}
	runtime.KeepAlive(h)
}

// TestMarksMapShrinks: carried marks of a busy refresh are given back once
// they expire, instead of the map keeping its largest size.
func TestMarksMapShrinks(t *testing.T) {
	h := newHarness(t, Config{})
	base := synth.Table(8000, 1)
	feedCopy(h, base, 10, 0)
	// 7990 new rows: fewer than maxCarriedMarks, so all are carried.
	feedCopy(h, base, len(base.Sockets), time.Second)
	if len(h.m.marks) < 7000 {
		t.Fatalf("only %d marks carried; the test needs a big map", len(h.m.marks))
	}
	grown := reflect.ValueOf(h.m.marks).UnsafePointer()
	for i := range markRefreshes + 1 {
		feedCopy(h, base, len(base.Sockets), time.Duration(2+i)*time.Second)
	}
	if len(h.m.marks) != 0 {
		t.Fatalf("%d marks left after they expired", len(h.m.marks))
	}
	// A Go map keeps the buckets it grew to: only a new map gives them
	// back.
	if reflect.ValueOf(h.m.marks).UnsafePointer() == grown {
		t.Fatal("the map that grew to hold 8000 marks is still the one kept")
	}
}

// TestSparkSamplesStayInPlace: the sparkline's window is a buffer of one
// window's samples, not one that creeps forward and reallocates.
func TestSparkSamplesStayInPlace(t *testing.T) {
	h := newHarness(t, Config{})
	base := synth.Table(50, 1)
	step := 250 * time.Millisecond
	perWindow := int(sparkWindow / step)
	for i := range 3 * perWindow {
		feedCopy(h, base, len(base.Sockets), time.Duration(i)*step)
	}
	if got := len(h.m.samples); got != perWindow+1 {
		t.Fatalf("%d samples in the window, want %d", got, perWindow+1)
	}
	if c := cap(h.m.samples); c > 2*(perWindow+1) {
		t.Fatalf("samples buffer has capacity %d for %d samples", c, perWindow+1)
	}
	for i := 1; i < len(h.m.samples); i++ {
		if !h.m.samples[i-1].at.Before(h.m.samples[i].at) {
			t.Fatalf("samples out of order at %d", i)
		}
	}
}

func TestFitSlice(t *testing.T) {
	x := new(int)
	s := make([]*int, 10, 20)
	s = append(s[:3], x)
	s = fitSlice(s[:2])
	if len(s) != 2 || cap(s) != 20 || s[:4][3] != nil {
		t.Fatalf("small buffer: len %d cap %d, tail not cleared", len(s), cap(s))
	}
	big := make([]*int, 10, 100*shrinkFloor)
	big[9] = x
	big = fitSlice(big)
	if len(big) != 10 || cap(big) > shrinkFloor || big[9] != x {
		t.Fatalf("oversized buffer: len %d cap %d", len(big), cap(big))
	}
	sp := make([]*int, 5, 2*shrinkFloor)
	sp[4] = x
	sp = spareSlice(sp, 1000)
	if len(sp) != 0 || cap(sp) != 2*shrinkFloor || sp[:5][4] != nil {
		t.Fatalf("spare buffer: len %d cap %d", len(sp), cap(sp))
	}
	if spareSlice(make([]*int, 5, 100*shrinkFloor), 10) != nil {
		t.Fatal("oversized spare buffer kept")
	}
}

// TestClosedDetailKeepsNoSocket: once the detail view is closed, the next
// refresh drops its copy of the socket, whose owner slice belongs to the
// refresh it was opened in.
func TestClosedDetailKeepsNoSocket(t *testing.T) {
	h := newHarness(t, Config{})
	big := synth.Table(2000, 1)
	feedCopy(h, big, len(big.Sockets), 0)
	h.key("enter")
	if h.m.mode != modeDetail || h.m.detail.sock.Owners == nil {
		t.Fatalf("the detail view did not open on a socket with owners (mode %v)", h.m.mode)
	}
	h.key("esc")
	feedCopy(h, big, 10, time.Second)
	if d := h.m.detail; d.sock.Owners != nil || d.sock.Local.IsValid() || d.hist != nil || d.info != nil {
		t.Fatalf("the closed detail view still holds %v", d.sock.Key())
	}
	h.key("enter")
	if h.m.detail.sock.Key() != h.m.rows[h.m.selected].s.Key() {
		t.Fatalf("detail reopened on %v, want the selected row", h.m.detail.sock.Key())
	}
}
