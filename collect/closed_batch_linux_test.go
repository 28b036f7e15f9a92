//go:build linux

package collect

import (
	"golang.org/x/sys/unix"
	"sync"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// batchSink gathers what a WatchClosedFunc watcher hands on, copying each
// batch as the contract asks; gate, when set, holds the reader in emit
// until it is closed.
type batchSink struct {
	mu      sync.Mutex
	count   map[uint64]int
	batches int
	gate    chan struct{}
	// waiting receives when the reader entered emit and waits on gate.
	waiting chan struct{}
}

func (s *batchSink) emit(cs []Closed) {
	if s.gate != nil {
		select {
		case s.waiting <- struct{}{}:
		default:
		}
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for _, c := range cs {
		s.count[c.Cookie]++
	}
}

// seen returns how many of cookies were handed on, and the most times
// any one of them was.
func (s *batchSink) seen(cookies []uint64) (n, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cookies {
		if k := s.count[c]; k > 0 {
			n++
			most = max(most, k)
		}
	}
	return n, most
}

// closePairs makes and closes n UDP pairs and returns their cookies.
func closePairs(t *testing.T, n int) []uint64 {
	var cookies []uint64
	for range n {
		a, b := udpPair(t, "udp4", kerneltest.Addr4)
		cookies = append(cookies, kerneltest.Cookie(t, a), kerneltest.Cookie(t, b))
		a.Close()
		b.Close()
	}
	return cookies
}

// TestClosedWatcherFuncBatches closes sockets faster than the reader's
// pause: every record reaches emit exactly once, in batches of more than
// one record.
func TestClosedWatcherFuncBatches(t *testing.T) {
	sink := &batchSink{count: map[uint64]int{}}
	w, err := WatchClosedFunc(nil, sink.emit)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cookies := closePairs(t, 300)
	waitfor.Until(t, 30*time.Second, "the records of 600 sockets", func() bool {
		n, _ := sink.seen(cookies)
		return n == len(cookies) || w.Lost() > 0
	})
	if w.Lost() > 0 {
		t.Skipf("the kernel dropped destroy records (%d ENOBUFS) on a busy host; the loss test covers it", w.Lost())
	}
	// Records of the host's other sockets may follow; a duplicate of one
	// of ours would show by now.
	n, most := sink.seen(cookies)
	if n != len(cookies) || most != 1 {
		t.Errorf("%d of %d records handed on, one of them %d times; want each once", n, len(cookies), most)
	}
	sink.mu.Lock()
	batches := sink.batches
	sink.mu.Unlock()
	if batches >= len(cookies) {
		t.Errorf("%d records came in %d batches: the reader hands them on one at a time", len(cookies), batches)
	}
	t.Logf("%d records in %d batches", len(cookies), batches)
	if ch := w.Closed(); len(ch) != 0 {
		t.Errorf("a WatchClosedFunc watcher queued %d records on its channel", len(ch))
	}
}

// TestClosedWatcherFuncLost holds the reader in emit while the kernel's
// buffer overflows: the watcher counts the ENOBUFS, the kernel's drop
// count covers every record of the test's sockets that never came, and
// none comes twice.
func TestClosedWatcherFuncLost(t *testing.T) {
	sink := &batchSink{count: map[uint64]int{}, gate: make(chan struct{}), waiting: make(chan struct{}, 1)}
	w, err := watchClosed(nil, 1, 0, sink.emit) // the kernel raises 1 to its minimum
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	released := false
	release := func() {
		if !released {
			released = true
			close(sink.gate)
		}
	}
	defer release()
	// The first record takes the reader into emit, where it waits; the
	// rest overflow the buffer.
	first := closePairs(t, 1)
	waitfor.Recv(t, 30*time.Second, "the reader to wait in emit", sink.waiting, func(struct{}, bool) bool { return true }, nil)
	cookies := append(first, closePairs(t, 500)...)
	// The kernel sends the records from a work queue, so the drops come
	// some time after the closes. Once it has dropped some, the buffer is
	// made as large as a real watcher's: with the kernel's minimum, the
	// host's own churn (every socket the host destroys comes here) would
	// keep it overflowing, and the records that mark the end below could
	// be dropped as often as they are sent.
	waitfor.Until(t, 30*time.Second, "the kernel to drop destroy records", func() bool {
		d, err := w.Dropped()
		return err == nil && d > 0
	})
	setRcvBuf(t, w, closedRcvBuf)
	release()
	// Once the reader caught up, a new socket's record marks the end:
	// the kernel sends records in order from one work queue.
	var last []uint64
	waitfor.Until(t, 30*time.Second, "a record after the loss", func() bool {
		if last != nil {
			if n, _ := sink.seen(last); n == len(last) {
				return true
			}
		}
		last = closePairs(t, 1)
		return false
	})
	if w.Lost() == 0 {
		t.Error("no ENOBUFS counted, though the kernel dropped records")
	}
	dropped, err := w.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	n, most := sink.seen(cookies)
	missing := uint64(len(cookies) - n)
	if missing > dropped {
		t.Errorf("%d of the test's records never came, but the kernel counts only %d drops", missing, dropped)
	}
	if most > 1 {
		t.Errorf("a record was handed on %d times", most)
	}
	if dropped < w.Lost() {
		t.Errorf("the kernel counts %d drops, fewer than the watcher's %d ENOBUFS", dropped, w.Lost())
	}
	t.Logf("%d of %d records came; %d ENOBUFS, %d dropped", n, len(cookies), w.Lost(), dropped)
}

// setRcvBuf sets the watcher's receive buffer to n bytes.
func setRcvBuf(t *testing.T, w *ClosedWatcher, n int) {
	t.Helper()
	rc, err := w.file.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("SO_RCVBUFFORCE: %v", serr)
	}
}
