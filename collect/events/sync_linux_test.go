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
