package collect

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/waitfor"
)

// pace writes to fd at rate bytes per second, as a token bucket: each
// round it writes what the time since the start allows and it has not
// written yet, so a writer held up by a loaded host catches up rather
// than falls behind. The reader drains the other end as fast as it can.
// Both stop, and the client's write side is shut, when the test ends.
func pace(t *testing.T, client, server *rawFD, rate float64) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		chunk := make([]byte, 64<<10)
		start := time.Now()
		var written float64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			owed := rate*time.Since(start).Seconds() - written
			for owed >= 1 {
				n := int(min(owed, float64(len(chunk))))
				w, err := unix.Write(client.fd, chunk[:n])
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err != nil {
					t.Errorf("paced write: %v", err)
					return
				}
				written += float64(w)
				owed -= float64(w)
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 256<<10)
		for {
			n, err := unix.Read(server.fd, buf)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if n <= 0 || err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		// The reader ends on the EOF of the shut write side.
		unix.Shutdown(client.fd, unix.SHUT_WR)
		wg.Wait()
	})
}

// TestRatePacedConnection sends 2 MB/s over a loopback connection with a
// token-bucket writer and checks that the rates computed from the
// kernel's counters over two snapshots' own timestamps show it on both
// ends: Send on the sender, Recv on the receiver, within 20%; and that a
// first snapshot has no rate (unknown, not 0).
func TestRatePacedConnection(t *testing.T) {
	const rate = 2e6
	// Long enough that the edges of the window stay far inside 20% on a
	// loaded host: a writer held up at the moment of a snapshot, and the
	// dump, which reads a socket some time after Taken, at another place
	// in the table each time. That place can be anywhere in the dump, so
	// the window is at least 20 dumps long (5%), however long a dump of
	// this host's table takes.
	const minWindow = 3 * time.Second
	client, server, _ := pairTCP(t, unix.AF_INET)
	pace(t, client, server, rate)
	src := NewNetlink(Options{TCP: true, TCPInfo: true})
	defer src.Close()
	var rt RateTracker

	// Past slow start and the first bursts of the bucket.
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	first := snapshotRates(t, src, &rt)
	window := min(max(minWindow, 20*time.Since(began)), time.Minute)
	for _, end := range []*rawFD{client, server} {
		s := findFD(t, &first, end)
		if s == nil {
			t.Fatal("a paced end is missing from the first snapshot")
		}
		if s.Info == nil {
			t.Fatalf("%v: no tcp_info although it was asked for", s.Key())
		}
		if s.Rate != nil {
			t.Errorf("%v: rate %+v from one snapshot; want unknown (nil)", s.Key(), *s.Rate)
		}
	}

	time.Sleep(window)
	second := snapshotRates(t, src, &rt)
	snd, rcv := findFD(t, &second, client), findFD(t, &second, server)
	if snd == nil || rcv == nil {
		t.Fatal("a paced end is missing from the second snapshot")
	}
	if snd.Rate == nil || rcv.Rate == nil {
		t.Fatalf("no rate on the second snapshot: sender %v, receiver %v", snd.Rate, rcv.Rate)
	}
	dt := second.Taken.Sub(first.Taken)
	t.Logf("over %v: sender Send %.0f B/s, receiver Recv %.0f B/s (paced at %.0f)", dt, snd.Rate.Send, rcv.Rate.Recv, rate)
	within := func(what string, got float64) {
		if math.Abs(got-rate)/rate > 0.2 {
			t.Errorf("%s rate %.0f B/s over %v; want %.0f B/s within 20%%", what, got, dt, rate)
		}
	}
	within("sender's Send", snd.Rate.Send)
	within("receiver's Recv", rcv.Rate.Recv)
	// The other direction carries only ACKs, no payload.
	if snd.Rate.Recv != 0 || rcv.Rate.Send != 0 {
		t.Errorf("reverse direction: sender Recv %.0f, receiver Send %.0f; want 0 (no payload goes back)", snd.Rate.Recv, rcv.Rate.Send)
	}
}

// snapshotRates takes one snapshot and fills its rates.
func snapshotRates(t *testing.T, src *Netlink, rt *RateTracker) Snapshot {
	t.Helper()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	rt.Fill(&snap)
	return snap
}

// TestRateGoneConnectionLeavesNoState closes a connection and checks that
// the tracker forgets it at the first snapshot without it, and that what
// it remembers is exactly the snapshot's sockets with tcp_info.
func TestRateGoneConnectionLeavesNoState(t *testing.T) {
	client, server, _ := pairTCP(t, unix.AF_INET)
	src := NewNetlink(Options{TCP: true, TCPInfo: true})
	defer src.Close()
	var rt RateTracker
	snap := snapshotRates(t, src, &rt)
	c := findFD(t, &snap, client)
	if c == nil {
		t.Fatal("the client is missing from the snapshot")
	}
	gone := rateEntry{cookie: c.Cookie, netns: c.NetNS.Inode}
	if !rt.has(gone.cookie, gone.netns) {
		t.Fatalf("the tracker does not remember %v after a snapshot listing it", c.Key())
	}
	goneKey := c.Key()
	client.Close()
	server.Close()
	// The client's socket lives on in TIME_WAIT or FIN_WAIT, with the
	// same key: what must go is the counters of the connection that had
	// tcp_info, once no socket with its cookie is listed.
	waitfor.Until(t, 10*time.Second, "the closed client to leave the table", func() bool {
		snap = snapshotRates(t, src, &rt)
		for i := range snap.Sockets {
			if snap.Sockets[i].Cookie == gone.cookie && snap.Sockets[i].Info != nil {
				return false
			}
		}
		return true
	})
	if rt.has(gone.cookie, gone.netns) {
		t.Errorf("the tracker still holds the gone connection %v", goneKey)
	}
	want := map[rateEntry]bool{}
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Info != nil {
			want[rateEntry{cookie: s.Cookie, netns: s.NetNS.Inode}] = true
		}
	}
	if rt.Len() != len(want) {
		t.Errorf("the tracker holds %d connections; want the %d of the last snapshot with tcp_info", rt.Len(), len(want))
	}
}
