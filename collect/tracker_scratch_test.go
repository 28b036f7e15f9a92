package collect

import (
	"testing"
	"time"
)

// TestTrackerScratchShrinks hands the tracker a burst of events that its
// next Update merges, then a quiet Update: the burst's arrays are let go.
func TestTrackerScratchShrinks(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var tr Tracker
	tr.Update(&Snapshot{Taken: at})
	const burst = 100_000
	evs := make([]StateEvent, burst)
	for i := range evs {
		evs[i] = StateEvent{Time: at.Add(time.Duration(i)), Cookie: uint64(i + 1), Proto: TCP, Family: 4, From: StateClosed, To: StateListen}
	}
	tr.AddEvents(evs, 0)
	tr.Update(&Snapshot{Taken: at.Add(time.Second)})
	if cap(tr.kern.ready) < burst {
		t.Fatalf("the burst's Update merged %d events, want %d", cap(tr.kern.ready), burst)
	}
	for i := range 2 {
		tr.AddEvents(evs[:10], 0)
		tr.Update(&Snapshot{Taken: at.Add(time.Duration(2+i) * time.Second)})
	}
	if c := cap(tr.events); c > scratchKeep {
		t.Errorf("the event queue keeps an array of %d after a quiet Update", c)
	}
	if c := cap(tr.kern.ready); c > scratchKeep {
		t.Errorf("the merge's scratch keeps an array of %d after a quiet Update", c)
	}
	if c := cap(tr.kern.kt); c > scratchKeep {
		t.Errorf("the transitions' scratch keeps an array of %d after a quiet Update", c)
	}
}
