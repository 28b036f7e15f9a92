package ui

import (
	"runtime/debug"
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
