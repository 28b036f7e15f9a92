package events

import (
	"net/netip"
	"testing"

	"socktop/collect"
)

// queueStream is a Stream with no reader: the test hands it batches as
// the readers do.
func queueStream(limit int) *Stream {
	return &Stream{limit: limit, ready: make(chan struct{}, 1)}
}

func closedBatchOf(from, n int) []collect.Closed {
	cs := make([]collect.Closed, n)
	for i := range cs {
		cs[i] = collect.Closed{Proto: collect.TCP, Family: 4, Cookie: uint64(from + i),
			Local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(from+i)), Info: &collect.TCPInfo{}}
	}
	return cs
}

// TestStreamQueueShrinks fills both queues to the default bound in one
// burst, then checks that after some quiet drains (the peak they are
// sized by fades by a quarter a drain) they no longer pin the burst's
// backing arrays, that a queue kept busy keeps its array, and that one
// drained twice a refresh, once full and once nearly empty, keeps it
// too.
func TestStreamQueueShrinks(t *testing.T) {
	s := queueStream(DefaultQueue)
	burst := make([]collect.StateEvent, DefaultQueue)
	for i := range burst {
		burst[i] = collect.StateEvent{Cookie: uint64(i + 1), Proto: collect.TCP, From: collect.StateSynSent, To: collect.StateEstablished}
	}
	for i := 0; i < DefaultQueue; i += 512 {
		s.addEvents(burst[i : i+512])
		s.addClosed(closedBatchOf(i, 512))
	}
	evs, closed, lost, closedLost := s.Drain(nil, nil)
	if len(evs) != DefaultQueue || len(closed) != DefaultQueue || lost != 0 || closedLost != 0 {
		t.Fatalf("burst: drained %d events and %d records, lost %d and %d; want %d each and none lost", len(evs), len(closed), lost, closedLost, DefaultQueue)
	}
	// The drain that emptied the burst cannot know it is over; quiet ones
	// after it do, within a few seconds of refreshes.
	quiet := 0
	for ; quiet < 40 && (cap(s.evs) > keepQueue || cap(s.closed) > keepQueue); quiet++ {
		s.addEvents(burst[:10])
		s.addClosed(closedBatchOf(0, 10))
		evs, closed, _, _ = s.Drain(evs[:0], closed[:0])
		if len(evs) != 10 || len(closed) != 10 {
			t.Fatalf("quiet refresh: drained %d events and %d records, want 10 each", len(evs), len(closed))
		}
	}
	if quiet < 2 || quiet > 24 {
		t.Errorf("the burst's arrays were let go after %d quiet drains, want after a few (2 to 24: some seconds of refreshes); now %d and %d entries", quiet, cap(s.evs), cap(s.closed))
	}

	// Drained full, then nearly empty (a patch's second drain), refresh
	// after refresh: the array is not regrown each time.
	for i := 0; i < 4*keepQueue; i += 512 {
		s.addEvents(burst[i : i+512])
	}
	s.Drain(nil, nil)
	held := cap(s.evs)
	for range 8 {
		for i := 0; i < 4*keepQueue; i += 512 {
			s.addEvents(burst[i : i+512])
		}
		s.Drain(nil, nil)
		s.addEvents(burst[:10])
		s.Drain(nil, nil)
		if cap(s.evs) != held {
			t.Fatalf("a queue drained full and then nearly empty went from %d to %d entries", held, cap(s.evs))
		}
	}
	for range 40 {
		s.Drain(nil, nil)
	}

	// Sustained load keeps its array: no regrowth at every refresh.
	for range 3 {
		for i := 0; i < 4*keepQueue; i += 512 {
			s.addEvents(burst[i : i+512])
		}
		before := cap(s.evs)
		s.Drain(nil, nil)
		if before >= 4*keepQueue && cap(s.evs) != before {
			t.Errorf("a queue that held %d of %d entries was reallocated to %d", 4*keepQueue, before, cap(s.evs))
		}
	}
}

// TestStreamClosedBatchLost hands the stream batches larger than its
// queue's room: each record is queued once or counted lost once.
func TestStreamClosedBatchLost(t *testing.T) {
	s := queueStream(100)
	s.addClosed(closedBatchOf(0, 60))
	s.addClosed(closedBatchOf(60, 60)) // 40 fit, 20 lost
	s.addClosed(closedBatchOf(120, 5)) // none fit
	_, closed, _, closedLost := s.Drain(nil, nil)
	if len(closed) != 100 || closedLost != 25 {
		t.Fatalf("drained %d records, lost %d; want 100 and 25", len(closed), closedLost)
	}
	for i, c := range closed {
		if c.Cookie != uint64(i) {
			t.Fatalf("record %d has cookie %d: the queue must keep the kernel's order and each record once", i, c.Cookie)
		}
	}
	if st := s.Stats(); st.Closed != 125 {
		t.Errorf("Stats.Closed = %d, want the 125 records read", st.Closed)
	}
	s.addClosed(closedBatchOf(200, 10))
	_, closed, _, closedLost = s.Drain(nil, nil)
	if len(closed) != 10 || closedLost != 0 {
		t.Errorf("after the drain: %d records, %d lost; want 10 and 0", len(closed), closedLost)
	}
	// The queue keeps no record's tcp_info alive once drained.
	for _, c := range s.closed[:cap(s.closed)] {
		if c.Info != nil {
			t.Fatal("a drained queue still holds a record's tcp_info")
		}
	}
}
