package events

import (
	"net/netip"
	"testing"
	"time"

	"socktop/collect"
)

// markReader is a reader that has caught up to a time the test sets; it
// reads nothing. It stands for the readers' bookkeeping, not for the
// kernel, whose side TestTrackerKernelLoopback covers.
type markReader struct{ mark time.Time }

func (m *markReader) run(func([]collect.StateEvent)) error { return nil }
func (m *markReader) lost() uint64                         { return 0 }
func (m *markReader) caughtUp() time.Time                  { return m.mark }
func (m *markReader) close() error                         { return nil }

// TestDrainHoldsTCPRecords: a TCP destroy record read after the point the
// tracepoint reader has caught up to waits in the queue, so the tracker
// gets the connection's last events first; it goes once the reader has
// caught up, or after closedHold. UDP records, which have no events, and
// a stream without a tracepoint reader never wait.
func TestDrainHoldsTCPRecords(t *testing.T) {
	now := time.Now()
	rd := &markReader{mark: now.Add(-time.Second)}
	s := queueStream(DefaultQueue)
	s.rd = rd
	tcp := collect.Closed{Proto: collect.TCP, Family: 4, Cookie: 1, Received: now,
		Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2")}
	udp := tcp
	udp.Proto, udp.Cookie = collect.UDP, 2
	old := tcp
	old.Cookie, old.Received = 3, now.Add(-2*closedHold)
	s.addClosed([]collect.Closed{tcp, udp, old})
	_, got, _, _ := s.Drain(nil, nil)
	if len(got) != 2 || got[0].Cookie != 2 || got[1].Cookie != 3 {
		t.Fatalf("reader behind: drained %+v, want the UDP record and the one held past closedHold", got)
	}
	_, got, _, _ = s.Drain(nil, nil)
	if len(got) != 0 {
		t.Fatalf("reader still behind: drained %+v, want the TCP record held", got)
	}
	rd.mark = now.Add(time.Millisecond)
	_, got, _, _ = s.Drain(nil, nil)
	if len(got) != 1 || got[0].Cookie != 1 {
		t.Fatalf("reader caught up: drained %+v, want the TCP record", got)
	}
	if _, got, _, _ = s.Drain(nil, nil); len(got) != 0 {
		t.Fatalf("the record came twice: %+v", got)
	}

	noReader := queueStream(DefaultQueue)
	noReader.addClosed([]collect.Closed{tcp})
	if _, got, _, _ := noReader.Drain(nil, nil); len(got) != 1 {
		t.Fatalf("sampled stream: drained %+v, want the record at once", got)
	}
}
