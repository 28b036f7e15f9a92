//go:build linux

package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/internal/kerneltest"
)

// Without CAP_NET_RAW a demo still runs: its state promises are kept
// from snapshots, its segment promises are left unchecked with the
// reason, the pane says the segments were not captured, and the header
// tells it once however many demos start.
func TestDemoWithoutCapture(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	stream, err := events.Open(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	src, err := collect.NewSource("auto", collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Source: src, Events: stream, Interval: 100 * time.Millisecond, NoColor: true})
	h.m.after = func(d time.Duration, msg tea.Msg) tea.Cmd {
		return tea.Tick(d, func(time.Time) tea.Msg { return msg })
	}
	h.m.demos.fast = true
	h.send(tea.WindowSizeMsg{Width: 120, Height: 60})
	l := newLoop(t)
	l.exec(h.m.Init())

	sc := scenario(t, "polite-close")
	for n := 1; n <= 2; n++ {
		h.key("d")
		l.exec(h.key(sc.Key))
		l.until(t, h, "the demo to start", func() bool { return len(h.m.demos.runs) == n })
		t.Cleanup(h.m.demos.runs[n-1].run.Stop)
	}
	r := h.m.demos.runs[0]
	if r.capErr == nil {
		t.Fatal("the capture started without CAP_NET_RAW")
	}
	if want := "exact (" + string(stream.Mode()) + ")"; stream.Mode() == events.ModeSampled && r.checked != "sampled" || stream.Mode().Exact() && r.checked != want {
		t.Errorf("stream %s, the run checks %q", stream.Mode(), r.checked)
	}
	if n := strings.Count(h.m.header.notice, "segments off:"); n != 1 {
		t.Errorf("the header tells the missing capture %d times, want once: %q", n, h.m.header.notice)
	}
	if !strings.Contains(h.m.header.notice, "setcap cap_net_raw+ep") {
		t.Errorf("the notice names no remedy: %q", h.m.header.notice)
	}
	// The demo goes on: every promise it can check is kept.
	l.until(t, h, "the run to settle", r.run.Settled)
	unchecked := 0
	for _, ps := range r.run.Status() {
		switch {
		case len(ps.Promise.Segments) > 0:
			if !ps.Unchecked || !strings.Contains(ps.Note, "no segment capture") {
				t.Errorf("segment promise %s: unchecked %v, note %q", ps.Promise, ps.Unchecked, ps.Note)
			}
			unchecked++
		case !ps.Seen && !ps.Unchecked:
			t.Errorf("promise %s not kept: %s", ps.Promise, ps.Note)
		}
	}
	if unchecked == 0 {
		t.Error("polite-close promises no segments")
	}
	if doc := strings.Join(h.m.demos.pane.doc, "\n"); !strings.Contains(doc, "segments: not captured") {
		t.Errorf("the pane does not say the segments were not captured:\n%s", doc)
	}
}
