package ui

import (
	"slices"
	"testing"
	"time"

	"socktop/collect"
)

// stateEvent is an event of namespace ns with cookie c.
func stateEvent(ns uint32, c uint64) collect.StateEvent {
	return collect.StateEvent{NetNS: ns, Cookie: c, Proto: collect.TCP, From: collect.StateSynSent, To: collect.StateEstablished, Comm: "curl"}
}

func cookies(evs []collect.StateEvent) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Cookie)
	}
	return out
}

// A scoped drain keeps the events of its namespace and of none known, in
// order, in an array of their own: the next drain, which reads the
// stream into the same scratch array, leaves the first answer as it was.
// A drain that keeps most of what it read takes the array with it.
func TestDrainScopedKeepsOwnEventsInTheirOwnArray(t *testing.T) {
	st := &scriptStream{t: t}
	var buf drainBuf
	scope := nsScope{ns: 7, on: true, buf: &buf}
	st.evs = []collect.StateEvent{stateEvent(9, 1), stateEvent(7, 2), stateEvent(0, 3), stateEvent(9, 4), stateEvent(7, 5),
		stateEvent(9, 7), stateEvent(9, 8)}
	st.closed = []collect.Closed{{Cookie: 6}}
	d := drain(st, scope)
	if got, want := cookies(d.events), []uint64{2, 3, 5}; !slices.Equal(got, want) {
		t.Fatalf("first drain kept cookies %v, want %v", got, want)
	}
	if len(d.closed) != 1 || d.closed[0].Cookie != 6 {
		t.Fatalf("first drain's destroy records: %+v", d.closed)
	}
	if len(buf.evs) != 0 || cap(buf.evs) < 7 {
		t.Fatalf("the scratch array: len %d cap %d, want it empty and kept", len(buf.evs), cap(buf.evs))
	}
	for _, e := range buf.evs[:cap(buf.evs)] {
		if e != (collect.StateEvent{}) {
			t.Fatalf("the scratch array keeps an event: %+v", e)
		}
	}
	st.evs = []collect.StateEvent{stateEvent(7, 10), stateEvent(7, 11), stateEvent(9, 12), stateEvent(7, 13)}
	scratch := &buf.evs[:1][0]
	d2 := drain(st, scope)
	if got, want := cookies(d2.events), []uint64{10, 11, 13}; !slices.Equal(got, want) {
		t.Fatalf("second drain kept cookies %v, want %v", got, want)
	}
	if got, want := cookies(d.events), []uint64{2, 3, 5}; !slices.Equal(got, want) {
		t.Fatalf("the first drain's events changed under the second drain: %v, want %v", got, want)
	}
	if &d2.events[0] == scratch {
		t.Fatal("a drain that kept 3 events took the scratch array with them")
	}
	// Many kept, most of what was read: the events are in the scratch
	// array, which is no longer the drain's.
	st.evs = nil
	for i := range drainHandOff + 10 {
		st.evs = append(st.evs, stateEvent(7, uint64(100+i)))
	}
	st.evs = append(st.evs, stateEvent(9, 99))
	buf.evs = make([]collect.StateEvent, 0, 2*drainHandOff)
	scratch = &buf.evs[:1][0]
	d3 := drain(st, scope)
	if len(d3.events) != drainHandOff+10 || &d3.events[0] != scratch || buf.evs != nil {
		t.Fatalf("a drain that kept %d of %d copied them (%v) or kept the array (cap %d)", len(d3.events), len(st.evs), &d3.events[0] != scratch, cap(buf.evs))
	}
	st.evs = []collect.StateEvent{stateEvent(7, 14)}
	if got := cookies(drain(st, scope).events); !slices.Equal(got, []uint64{14}) {
		t.Fatalf("the drain after a hand-over kept %v", got)
	}
	if d3.events[0].Cookie != 100 || d3.events[len(d3.events)-1].Cookie != uint64(100+drainHandOff+9) {
		t.Fatalf("the handed-over events changed under the next drain: %d ... %d", d3.events[0].Cookie, d3.events[len(d3.events)-1].Cookie)
	}
	// Nothing of the namespace: no events, and none of the others'.
	st.evs = []collect.StateEvent{stateEvent(9, 20)}
	if d3 := drain(st, scope); len(d3.events) != 0 {
		t.Fatalf("a drain of other namespaces' events kept %v", cookies(d3.events))
	}
	// Unscoped (a demo runs, --all-netns): everything.
	st.evs = []collect.StateEvent{stateEvent(9, 30), stateEvent(7, 31)}
	if got, want := cookies(drain(st, nsScope{}).events), []uint64{30, 31}; !slices.Equal(got, want) {
		t.Fatalf("an unscoped drain kept %v, want %v", got, want)
	}
}

// A burst's scratch array is not kept once drains read little for
// 2*drainSpan drains (a whole span of them, wherever the span starts); a refresh's two drains, a second's events and then a few
// milliseconds', keep it.
func TestDrainScratchShrinksAfterABurst(t *testing.T) {
	st := &scriptStream{t: t}
	var buf drainBuf
	scope := nsScope{ns: 7, on: true, buf: &buf}
	burst := func(n int) {
		for i := range n {
			st.evs = append(st.evs, stateEvent(9, uint64(i)))
		}
		drain(st, scope)
	}
	burst(4 * drainKeep)
	arr := &buf.evs[:1][0]
	for range 2 * drainSpan {
		st.evs = []collect.StateEvent{stateEvent(7, 1)}
		drain(st, scope)
		burst(2 * drainKeep)
	}
	if cap(buf.evs) < 4*drainKeep || &buf.evs[:1][0] != arr {
		t.Fatalf("drains alternating big and small did not keep the array: cap %d", cap(buf.evs))
	}
	for range 2 * drainSpan {
		st.evs = []collect.StateEvent{stateEvent(7, 1)}
		if d := drain(st, scope); len(d.events) != 1 {
			t.Fatalf("a drain after the burst kept %d events, want 1", len(d.events))
		}
	}
	if cap(buf.evs) > drainKeep {
		t.Fatalf("after %d small drains the scratch array holds %d, want at most %d", 2*drainSpan, cap(buf.evs), drainKeep)
	}
}

// fakeSyncer is synced once the fake clock reaches at; it counts the
// questions.
type fakeSyncer struct {
	clock *time.Time
	at    time.Time
	asked int
}

func (f *fakeSyncer) Sync(time.Time, time.Duration) bool {
	f.asked++
	return !f.clock.Before(f.at)
}

// syncWait's questions grow apart: a stream that catches up after 10 ms
// (the reader's coalescing) is asked a handful of times, not forty, and
// the answer is found at most one step after it came; one that never
// catches up is given up at the bound, not later.
func TestSyncWaitBacksOff(t *testing.T) {
	start := time.Unix(1000, 0)
	clock := start
	now := func() time.Time { return clock }
	sleep := func(d time.Duration) { clock = clock.Add(d) }

	f := &fakeSyncer{clock: &clock, at: start.Add(10 * time.Millisecond)}
	if !syncWait(f, start, eventSyncMax, now, sleep) {
		t.Fatal("syncWait gave up on a stream that caught up within the bound")
	}
	if f.asked > 10 {
		t.Errorf("asked %d times for a 10 ms wait, want at most 10", f.asked)
	}
	if late := clock.Sub(f.at); late > eventSyncStep {
		t.Errorf("found the stream caught up %v after it did, want at most %v", late, eventSyncStep)
	}

	clock = start
	f = &fakeSyncer{clock: &clock, at: start.Add(time.Hour)}
	if syncWait(f, start, eventSyncMax, now, sleep) {
		t.Fatal("syncWait says a stream that never caught up did")
	}
	if waited := clock.Sub(start); waited != eventSyncMax {
		t.Errorf("waited %v for a stream that never caught up, want the bound %v", waited, eventSyncMax)
	}

	clock = start
	f = &fakeSyncer{clock: &clock, at: start}
	if !syncWait(f, start, eventSyncMax, now, sleep) || f.asked != 1 || !clock.Equal(start) {
		t.Errorf("a stream already caught up: asked %d times, waited %v", f.asked, clock.Sub(start))
	}
}
