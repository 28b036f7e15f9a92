package events

import (
	"net"
	"testing"
	"time"
)

// Sync at a time t makes the next Drain hold every event the kernel made
// before t: the connect's and accept's transitions, though the reader
// hands events on in batches milliseconds apart. An idle stream (the
// reader waiting on an empty ring) is synced too.
func TestStreamSync(t *testing.T) {
	needRoot(t)
	st, err := Open(Options{Mode: ModeBPF})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client, server := cookieOf(t, c.(*net.TCPConn)), cookieOf(t, s.(*net.TCPConn))
	if !st.Sync(time.Now(), 5*time.Second) {
		t.Fatal("the stream did not catch up")
	}
	evs, _, _, _ := st.Drain(nil, nil)
	var sawClient, sawServer bool
	for _, e := range evs {
		sawClient = sawClient || e.Cookie == client
		sawServer = sawServer || e.Cookie == server
	}
	if !sawClient || !sawServer {
		t.Fatalf("after Sync the drain has the client's events %v and the server's %v (of %d)", sawClient, sawServer, len(evs))
	}
	if !st.Sync(time.Now(), 5*time.Second) {
		t.Fatal("an idle stream did not sync")
	}
}

// A reader that waits after a small batch (it lets events gather to
// save wakeups) is woken by Sync: with the wait made an hour long, Sync
// still catches up with a connection's events, and the next Drain holds
// them.
func TestStreamSyncWakesTheReader(t *testing.T) {
	needRoot(t)
	st, err := Open(Options{Mode: ModeBPF})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, ok := st.rd.(*bpfReader)
	if !ok {
		t.Skipf("the stream's reader is %T, not BPF", st.rd)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// One small batch puts the reader in its wait, now an hour long.
	r.coalesce.Store(int64(time.Hour))
	for round := range 3 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		client := cookieOf(t, c.(*net.TCPConn))
		if !st.Sync(time.Now(), 10*time.Second) {
			t.Fatalf("round %d: Sync did not wake the waiting reader", round)
		}
		evs, _, _, _ := st.Drain(nil, nil)
		saw := false
		for _, e := range evs {
			saw = saw || e.Cookie == client
		}
		if !saw {
			t.Fatalf("round %d: after Sync the drain lacks the client's events (%d events)", round, len(evs))
		}
		c.Close()
		s.Close()
	}
}
