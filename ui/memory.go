package ui

import (
	"runtime/debug"
	"runtime/metrics"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Returning memory after a burst. The view's heap follows the table (a
// heap goal of 1.5 times the live set, main.go), so once a burst is over
// the live heap is the small table's again; but the runtime gives the
// freed pages back to the kernel slowly, a little at a time, and RSS
// stayed at the burst's for minutes (bench/soak.sh: 311 MiB against a
// control view's 54 at 10k after a burst to 100k). When a table has
// shrunk to a quarter of the largest seen since the last release, the
// view asks the runtime to collect and return what it freed, twice: at
// once, and a few seconds later, for the garbage of the burst's
// teardown (the destroy records and events of the sockets that went).

// memReleaseMin is the smallest peak table a release is made for: below
// it the pages are few.
const memReleaseMin = 16384

// memReleaseAgain is when the second release follows the first.
const memReleaseAgain = 5 * time.Second

// memReleaseMsg asks for the second release.
type memReleaseMsg struct{}

// noteTableSize follows the table's size and returns the release's Cmd
// when the table has shrunk to a quarter of its peak.
func (m *model) noteTableSize(n int) tea.Cmd {
	m.memPeak = max(m.memPeak, n)
	if m.memPeak < memReleaseMin || 4*n > m.memPeak {
		return nil
	}
	m.memPeak = n
	m.memReleases++
	return tea.Batch(freeOSMemory, m.after(memReleaseAgain, memReleaseMsg{}))
}

// freeOSMemory collects and returns the freed pages to the kernel, off
// the event loop: a full collection of the live heap.
func freeOSMemory() tea.Msg {
	debug.FreeOSMemory()
	return nil
}

// The heap goal. A goal proportional to the live heap (GOGC) lets the
// heap grow by that share of the live set before the collector runs, so
// at 50 a view of a million sockets held hundreds of megabytes of
// garbage beside its table (docs/performance.md, the heap goal by the
// live heap). The collector's CPU follows the allocation rate divided
// by the percentage, not the live heap, so a large heap can be given a
// smaller percentage: the view gives the garbage about gcHeadroom
// bytes, as a percentage of the live heap between GCPercentMin and
// GCPercentMax. Tables up to about 100k sockets keep GCPercentMax, where
// a smaller percentage cost more CPU than the memory it saved.

// GCPercentMax is the heap goal's percentage for a small live heap, and
// the one main sets before the view has measured any.
const GCPercentMax = 50

// GCPercentMin is the smallest percentage the view sets.
const GCPercentMin = 20

// gcHeadroom is the garbage the view aims to let accumulate between two
// collections.
const gcHeadroom = 128 << 20

// gcStep rounds the percentage, so that a live heap that wavers from
// refresh to refresh changes it only when it crosses a step.
const gcStep = 5

// gcPercentFor is the heap goal's percentage for a live heap of live
// bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return GCPercentMax
	}
	p := int(min(100*gcHeadroom/live, GCPercentMax))
	p -= p % gcStep
	return max(p, GCPercentMin)
}

// gcTuner sets the heap goal's percentage from the live heap after each
// received snapshot; set is the percentage it last set (0: none yet).
type gcTuner struct {
	on bool
	// live returns the live heap in bytes; nil reads the runtime's
	// figure into sample, which is kept so that a read allocates
	// nothing.
	live   func() uint64
	sample [1]metrics.Sample
	set    int
}

// tune sets the percentage for the live heap now, when it differs from
// the one set last. It reads the runtime's figure of the last
// collection, which is no I/O.
func (g *gcTuner) tune() {
	if !g.on {
		return
	}
	var live uint64
	if g.live != nil {
		live = g.live()
	} else {
		live = g.liveHeap()
	}
	p := gcPercentFor(live)
	if p == g.set {
		return
	}
	g.set = p
	debug.SetGCPercent(p)
}

// liveSample is the runtime metric of the heap the last collection
// found reachable.
const liveSample = "/gc/heap/live:bytes"

// liveHeap returns the live heap of the last collection, in bytes; 0
// before the first or when the runtime does not offer the metric.
func (g *gcTuner) liveHeap() uint64 {
	g.sample[0].Name = liveSample
	metrics.Read(g.sample[:])
	if g.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return g.sample[0].Value.Uint64()
}
