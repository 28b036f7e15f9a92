package ui

import (
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/internal/synth"
)

// benchModel is a 160x48 view holding a 100k-socket snapshot.
func benchModel(b *testing.B, filter string) *harness {
	b.Helper()
	t := &testing.T{}
	h := newHarness(t, Config{Filter: filter})
	h.send(tea.WindowSizeMsg{Width: 160, Height: 48})
	h.feed(*synth.Table(100000, 1))
	return h
}

// BenchmarkView is the cost of a frame: View only returns the screen
// built by the last Update.
func BenchmarkView(b *testing.B) {
	h := benchModel(b, "")
	b.ReportAllocs()
	for b.Loop() {
		_ = h.m.View()
	}
}

// BenchmarkKeyDown is a key press on a 100k table: Update moves the
// selection and rebuilds the screen (visible rows only).
func BenchmarkKeyDown(b *testing.B) {
	h := benchModel(b, "")
	down := keyMsg("j")
	b.ReportAllocs()
	for b.Loop() {
		h.m.Update(down)
	}
}

// BenchmarkUpdateSnapshot is a new 100k snapshot arriving: diff against the
// previous one, marks, gone rows, log, filter, sort, reselect, render.
// Two different tables alternate so each refresh has real churn.
func BenchmarkUpdateSnapshot(b *testing.B) {
	for _, tc := range []struct{ name, filter string }{
		{"nofilter", ""},
		{"filter", "state established and sport >= :8004"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchModel(b, tc.filter)
			snaps := [2]collect.Snapshot{*synth.Table(100000, 2), *synth.Table(100000, 1)}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				s := snaps[i%2]
				s.Taken = s.Taken.Add(time.Duration(i) * time.Second)
				// A source hands out a fresh slice per snapshot; making
				// it here is not the view's cost, so it is not timed.
				b.StopTimer()
				s.Sockets = append([]collect.Socket(nil), s.Sockets...)
				b.StartTimer()
				h.m.Update(snapMsg{snap: s})
				i++
			}
		})
	}
}

// BenchmarkUpdateSnapshotSteady is the common case: the same 100k table
// again (nothing changed), so the cost is filter, sort and render.
func BenchmarkUpdateSnapshotSteady(b *testing.B) {
	h := benchModel(b, "")
	base := *synth.Table(100000, 1)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s := base
		s.Taken = s.Taken.Add(time.Duration(i) * time.Second)
		b.StopTimer()
		s.Sockets = append([]collect.Socket(nil), base.Sockets...)
		b.StartTimer()
		h.m.Update(snapMsg{snap: s})
		i++
	}
}

// BenchmarkSortRows is the sort alone: 100k rows by the default column.
func BenchmarkSortRows(b *testing.B) {
	snap := synth.Table(100000, 1)
	rows := make([]row, len(snap.Sockets))
	var s sorter
	b.ReportAllocs()
	for b.Loop() {
		for i := range snap.Sockets {
			rows[i] = row{s: &snap.Sockets[i]}
		}
		rows = s.sortRows(rows, colLocal, false)
	}
}

// BenchmarkDiff is collect.Diff on the same inputs, to tell its share of
// BenchmarkUpdateSnapshot from the view's.
func BenchmarkDiff(b *testing.B) {
	a, c := synth.Table(100000, 1), synth.Table(100000, 1)
	b.ReportAllocs()
	for b.Loop() {
		collect.Diff(a, c)
	}
}

// BenchmarkDiffChurn is collect.Diff when every socket changed, the inputs
// of BenchmarkUpdateSnapshot.
func BenchmarkDiffChurn(b *testing.B) {
	a, c := synth.Table(100000, 1), synth.Table(100000, 2)
	b.ReportAllocs()
	for b.Loop() {
		collect.Diff(a, c)
	}
}

// BenchmarkPromptKey is a key typed at the `/` prompt over a 100k table:
// only the prompt line is drawn again.
func BenchmarkPromptKey(b *testing.B) {
	h := benchModel(b, "")
	h.key("/")
	k := keyMsg("x")
	bs := keyMsg("backspace")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			h.m.Update(k)
		} else {
			h.m.Update(bs)
		}
	}
}

// BenchmarkMeasureRows is the once-per-refresh pass that sizes the
// columns from every row (so they do not change while scrolling).
func BenchmarkMeasureRows(b *testing.B) {
	h := benchModel(b, "")
	b.ReportAllocs()
	for b.Loop() {
		_ = measureRows(h.m.rows)
	}
}

// BenchmarkRenderSmall is the screen string of a 200x50 view of a few
// sockets, what every refresh of an idle view pays besides the library's
// redraw.
func BenchmarkRenderSmall(b *testing.B) {
	t := &testing.T{}
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 200, Height: 50})
	h.feed(fixture())
	b.ReportAllocs()
	for b.Loop() {
		h.m.render()
	}
}
