//go:build linux

package ui

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
)

// On a real loopback connection, w in the detail view captures its
// segments with segments.Start and the view draws their diagram: the
// data segment with its length and both FINs. Without CAP_NET_RAW it is
// skipped (TestDetailSegmentsUnavailable covers the error).
func TestDetailSegmentsRealCapture(t *testing.T) {
	ln := listen(t)
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
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	remote := netip.MustParseAddrPort(ln.Addr().String())
	sock := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: local, Remote: remote}

	h, _ := liveHarness(t, Config{NoColor: true}, nil)
	h.send(windowSize(120, 60))
	h.collect(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{sock}})
	h.key("enter")
	for _, msg := range run(h.key("w")) {
		h.send(msg)
	}
	if err := h.m.seg.err; err != nil {
		if errors.Is(err, segments.ErrUnavailable) {
			t.Skipf("no capture here: %v", err)
		}
		t.Fatal(err)
	}
	if h.m.seg.capture == nil {
		t.Fatal("w started no capture")
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	fins := func() int {
		n := 0
		for _, g := range h.m.seg.segs {
			if g.Flags&segments.FIN != 0 && (g.Src == local || g.Src == remote) {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); fins() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		h.collect(collect.Snapshot{Taken: t0, Sockets: []collect.Socket{sock}})
	}
	scr := h.screen()
	if fins() < 2 || !strings.Contains(scr, "len 5") || strings.Count(scr, "FIN,ACK") < 2 {
		t.Fatalf("the diagram lacks the data segment or the FINs (%d segments):\n%s", len(h.m.seg.segs), scr)
	}
	run(h.key("esc"))
	if h.m.seg.capture != nil {
		t.Fatal("the capture outlived the detail view")
	}
}
