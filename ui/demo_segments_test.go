package ui

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/demo"
)

// politeSegments is a polite close on the wire, a format fixture: the
// handshake, five bytes from the client, and the four segments of the
// close, from client to server:port, microseconds apart from t0.
func politeSegments(client, server netip.AddrPort) []segments.Segment {
	const cISN, sISN = 1000, 5000
	type s struct {
		us       int
		toServer bool
		flags    segments.Flags
		seq, ack uint32
		n        int
	}
	var out []segments.Segment
	for _, x := range []s{
		{0, true, segments.SYN, cISN, 0, 0},
		{15, false, segments.SYN | segments.ACK, sISN, cISN + 1, 0},
		{30, true, segments.ACK, cISN + 1, sISN + 1, 0},
		{2400, true, segments.ACK | segments.PSH, cISN + 1, sISN + 1, 5},
		{2410, false, segments.ACK, sISN + 1, cISN + 6, 0},
		{300000, true, segments.FIN | segments.ACK, cISN + 6, sISN + 1, 0},
		{300040, false, segments.ACK, sISN + 1, cISN + 7, 0},
		{600000, false, segments.FIN | segments.ACK, sISN + 1, cISN + 7, 0},
		{600030, true, segments.ACK, cISN + 7, sISN + 2, 0},
	} {
		g := segments.Segment{Time: t0.Add(time.Duration(x.us) * time.Microsecond), Src: client, Dst: server,
			Flags: x.flags, Seq: x.seq, Ack: x.ack, Len: x.n, Win: 64}
		if !x.toServer {
			g.Src, g.Dst = server, client
		}
		out = append(out, g)
	}
	return out
}

// stepsAt is a path of exact steps at the given microseconds after t0.
func stepsAt(states []collect.State, us []int) []collect.Step {
	out := make([]collect.Step, len(states))
	for i, s := range states {
		out[i] = collect.Step{State: s, At: t0.Add(time.Duration(us[i]) * time.Microsecond), Source: collect.Kernel}
	}
	return out
}

// goldenDemoSegments is the golden table with one polite-close run in the
// pane (ended, so no real sockets): its promises kept, checked exactly,
// its calls, and the segments section with both sides' paths.
func goldenDemoSegments(t *testing.T, w, h int, noColor bool) *harness {
	t.Helper()
	hs := goldenModel(t, w, h, noColor)
	sc := scenario(t, "polite-close")
	const port = 8001
	client, server := netip.MustParseAddrPort("127.0.0.1:40112"), netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(port))
	r := &demoRun{sc: sc, seq: 1, ports: []uint16{port}, ended: true, checked: "exact (bpf)", segsDirty: true}
	for _, p := range sc.PromisesFor(sc.DefaultConfig()) {
		r.status = append(r.status, demo.PromiseStatus{Promise: p, Seen: true, At: t0.Add(time.Second)})
	}
	for k, c := range []struct{ ep, call, res string }{
		{"server", "listen(backlog=4)", "0"}, {"client", "connect(127.0.0.1:8001)", "0"},
		{"server", "accept()", "fd 7"}, {"client", "close()", "0"}, {"server", "close()", "0"},
	} {
		r.events = append(r.events, demo.Event{At: t0.Add(time.Duration(k) * time.Millisecond), Endpoint: c.ep, Call: c.call, Result: c.res})
	}
	r.segs = politeSegments(client, server)
	r.paths = [2][]collect.Step{
		stepsAt([]collect.State{collect.StateSynSent, collect.StateEstablished, collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait},
			[]int{-5, 20, 299990, 300045, 600031}),
		stepsAt([]collect.State{collect.StateSynRecv, collect.StateEstablished, collect.StateCloseWait, collect.StateLastAck, collect.StateClosed},
			[]int{16, 35, 300020, 599990, 600035}),
	}
	hs.m.demos.runs = append(hs.m.demos.runs, r)
	hs.m.applyDemo(hs.m.demos.refilter(hs.m.tableFilter(), demoIntent{}))
	hs.m.render()
	return hs
}

// The pane's segments section: a heading, the diagram of the first
// connection with both paths beside its columns, reached with the pane's
// scroll keys.
func TestGoldenDemoSegments(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		name := "demo_segments_" + strconv.Itoa(sz[0]) + "x" + strconv.Itoa(sz[1])
		t.Run(name, func(t *testing.T) {
			build := func(t *testing.T, noColor bool) *harness {
				h := goldenDemoSegments(t, sz[0], sz[1], noColor)
				for range len(h.m.demos.pane.doc) {
					h.key("]")
				}
				return h
			}
			checkGoldens(t, name, sz[0], sz[1], build)
			h := build(t, true)
			if doc := strings.Join(h.m.demos.pane.doc, "\n"); !strings.Contains(doc, "segments: 9 of the first connection") {
				t.Errorf("the pane has no segments heading:\n%s", doc)
			}
			scr := h.screen()
			for _, want := range []string{"FIN_WAIT_2", "LAST_ACK", "|- FIN,ACK seq 6 ack 1", "-- FIN,ACK seq 1 ack 7 win 64 -|"} {
				if !strings.Contains(scr, want) {
					t.Errorf("the scrolled pane lacks %q:\n%s", want, scr)
				}
			}
		})
	}
}

// The section says why there is no diagram when the capture could not
// start, and counts the connections it does not draw.
func TestDemoSegmentsSection(t *testing.T) {
	st := DefaultStyles(true)
	p := demoPaneView{styles: &st}
	sc := scenario(t, "polite-close")
	off := &demoRun{sc: sc, ports: []uint16{8001}, capErr: fmt.Errorf("segments: %w: operation not permitted", segments.ErrUnavailable), segsDirty: true}
	got := strings.Join(p.segmentLines(off, 80), "\n")
	if !strings.Contains(got, "segments: not captured") || !strings.Contains(got, "operation not permitted") || !strings.Contains(got, "setcap cap_net_raw") {
		t.Errorf("no capture:\n%s", got)
	}

	server := netip.MustParseAddrPort("127.0.0.1:8001")
	first, second := netip.MustParseAddrPort("127.0.0.1:40112"), netip.MustParseAddrPort("127.0.0.1:40114")
	r := &demoRun{sc: sc, ports: []uint16{8001}, segsDirty: true}
	// Two connections to the server port: the first one's segments are
	// drawn, the second's counted.
	r.segs = append(politeSegments(first, server), politeSegments(second, server)[:3]...)
	lines := p.segmentLines(r, 80)
	got = strings.Join(lines, "\n")
	if !strings.Contains(got, "client "+first.String()) || strings.Contains(got, second.String()) {
		t.Errorf("the diagram is not the first connection's:\n%s", got)
	}
	if !strings.Contains(got, "3 segment(s) of 1 other connection(s)") {
		t.Errorf("the other connection is not counted:\n%s", got)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line %d cells wide: %q", n, l)
		}
	}
	// Cached for the width until something changes.
	r.segs = r.segs[:3]
	if again := p.segmentLines(r, 80); strings.Join(again, "\n") != got {
		t.Error("the section was drawn again without a change")
	}
	r.segsDirty = true
	if again := strings.Join(p.segmentLines(r, 80), "\n"); strings.Contains(again, "other connection") {
		t.Errorf("after the change the section still counts another connection:\n%s", again)
	}
}
