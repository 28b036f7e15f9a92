package main

import (
	"context"
	"net"
	"testing"

	"socktop/collect"
)

// Under -6 -l the live view's source still lists an established IPv4 TCP
// connection, which is what a demo makes: the flags narrow the view, not
// the collection.
func TestLiveOptionsCollectWhatDemosNeed(t *testing.T) {
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
	local := c.LocalAddr().String()

	headless := collect.Options{IPv6: true, States: listeningMask}
	src, err := collect.NewSource("auto", liveOptions(headless))
	if err != nil {
		t.Fatal(err)
	}
	if cl, ok := src.(interface{ Close() error }); ok {
		defer cl.Close()
	}
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range snap.Sockets {
		x := &snap.Sockets[i]
		// The 4-tuple is this test's own: the kernel chose the ports.
		if x.Proto == collect.TCP && x.Local.String() == local && x.Remote.String() == ln.Addr().String() {
			if x.State != collect.StateEstablished {
				t.Fatalf("the client is %v, want ESTABLISHED", x.State)
			}
			return
		}
	}
	t.Fatalf("the live source under -6 -l does not list the IPv4 client %s", local)
}
