package demo

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/probe"
)

func states(steps []collect.Step) []collect.State {
	out := make([]collect.State, len(steps))
	for i, s := range steps {
		out[i] = s.State
	}
	return out
}

// A connection's path comes from its kernel transitions alone once it has
// any, the kernel's From included; a sampled TIME_WAIT (the mini-socket
// the kernel reports nothing for) is kept, other sampled steps are not.
func TestStepsOfPrefersKernel(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	k := func(ms int, from, to collect.State) collect.Transition {
		return collect.Transition{At: at(ms), From: from, To: to, Source: collect.Kernel}
	}
	s := func(ms int, from, to collect.State) collect.Transition {
		return collect.Transition{At: at(ms), From: from, To: to, Source: collect.Sampled}
	}
	trans := []collect.Transition{
		s(5, collect.StateUnknown, established), // the first snapshot
		k(1, synSent, established),
		k(300, established, finWait1),
		s(350, established, finWait2), // a jump between two refreshes
		k(340, finWait1, finWait2),
		s(650, finWait2, timeWait),
	}
	steps := stepsOf(trans)
	want := []collect.State{synSent, established, finWait1, finWait2, timeWait}
	if got := states(steps); !slices.Equal(got, want) {
		t.Fatalf("path %v, want %v", got, want)
	}
	if !steps[0].At.IsZero() || steps[1].At != at(1) || steps[4].Source != collect.Sampled {
		t.Errorf("steps %+v: want SYN_SENT's start unknown, ESTABLISHED at the kernel's time, TIME_WAIT sampled", steps)
	}
	if _, ok := pathHas(steps, want); !ok {
		t.Errorf("pathHas(%v, %v) = false", states(steps), want)
	}

	// A dump that began before the close sees the TIME_WAIT before the
	// kernel's last events: it still ends the path.
	early := stepsOf([]collect.Transition{k(1, synRecv, established), s(299, established, timeWait),
		k(300, established, finWait1), k(300, finWait1, finWait2)})
	if got := states(early); !slices.Equal(got, []collect.State{synRecv, established, finWait1, finWait2, timeWait}) {
		t.Errorf("path with an early snapshot %v, want TIME_WAIT last", got)
	} else if early[4].At != at(300) {
		t.Errorf("the early TIME_WAIT at %v, want it after the kernel's last step", early[4].At)
	}

	sampledOnly := stepsOf([]collect.Transition{s(5, collect.StateUnknown, established), s(350, established, finWait2), s(650, finWait2, collect.StateUnknown)})
	if got := states(sampledOnly); !slices.Equal(got, []collect.State{established, finWait2}) {
		t.Errorf("sampled path %v, want [ESTABLISHED FIN_WAIT_2]", got)
	}
	if _, ok := pathHas(sampledOnly, []collect.State{established, finWait2}); ok {
		t.Error("a sampled step kept a path promise: only kernel steps are exact")
	}
	if _, ok := pathHas(steps, []collect.State{established, finWait2}); ok {
		t.Error("pathHas accepted states that are not consecutive")
	}
	if _, ok := pathHas(steps, []collect.State{finWait2, timeWait, closed}); ok {
		t.Error("pathHas accepted a step the path does not have")
	}
}

// A segment promise matches runs of consecutive segments in order, with
// anySegs between them, the first run from the connection's first
// segment; flags and payload are compared exactly.
func TestSegsHave(t *testing.T) {
	srv := netip.AddrPortFrom(probe.Loopback, 4000)
	cli := netip.AddrPortFrom(probe.Loopback, 50000)
	r := &Run{serverPort: map[uint16]bool{4000: true}}
	var segs []segments.Segment
	// The client's ISN is 1000 and the server's 5000: relativeSeq must
	// give the course's numbers.
	add := func(from Role, f segments.Flags, n int, seq, ack uint32) {
		s := segments.Segment{Src: cli, Dst: srv, Flags: f, Len: n, Seq: seq, Ack: ack}
		if from == Server {
			s.Src, s.Dst = srv, cli
		}
		segs = append(segs, s)
	}
	add(Client, fSYN, 0, 1000, 0)
	add(Server, fSYNACK, 0, 5000, 1001)
	add(Client, fACK, 0, 1001, 5001)
	add(Client, fACK|segments.PSH, 5, 1001, 5001)
	add(Server, fACK, 0, 5001, 1006)
	add(Client, fFINACK, 0, 1006, 5001)
	add(Server, fACK, 0, 5001, 1007)
	add(Server, fFINACK, 0, 5001, 1007)
	add(Client, fACK, 0, 1007, 5002)
	groups := r.connSegs(segs)
	if len(groups) != 1 || len(groups[0]) != len(segs) {
		t.Fatalf("connSegs = %v, want one connection of %d", groups, len(segs))
	}
	polite, _ := Find("polite-close")
	var want []Seg
	for _, p := range polite.Promises {
		if len(p.Segments) > 0 {
			want = p.Segments
		}
	}
	for _, c := range []struct {
		name string
		want []Seg
		ok   bool
	}{
		{"polite-close's promise", want, true},
		{"the data segment", []Seg{anySegs, withData(fromC(fACK))}, true},
		{"a pure ACK is not data", []Seg{anySegs, fromC(fACK), fromS(fACK), fromC(fFINACK)}, false},
		{"the first run is anchored", []Seg{fromS(fSYNACK)}, false},
		{"order matters", []Seg{anySegs, fromS(fFINACK), anySegs, fromC(fFINACK)}, false},
		{"a FIN,ACK is not a FIN", []Seg{anySegs, fromC(segments.FIN)}, false},
		{"runs are consecutive", []Seg{anySegs, fromC(fFINACK), fromS(fFINACK)}, false},
		{"the handshake, anchored", then(handshake), true},
	} {
		if _, ok := r.segsHave(segs, groups[0], c.want); ok != c.ok {
			t.Errorf("%s: segsHave(%s) = %v, want %v", c.name, segsString(c.want), ok, c.ok)
		}
	}
	seq, ack := relativeSeq(r, segs, groups[0])
	wantSeq := []uint32{0, 0, 1, 1, 1, 6, 1, 1, 7}
	wantAck := []any{nil, uint32(1), uint32(1), uint32(1), uint32(6), uint32(1), uint32(7), uint32(7), uint32(2)}
	if !slices.Equal(seq, wantSeq) || !slices.Equal(ack, wantAck) {
		t.Errorf("relative seq %v ack %v, want %v and %v", seq, ack, wantSeq, wantAck)
	}
}

// Every TCP scenario promises a path for each side it has a connection
// on, and each path and segment promise names its side and reads as the
// course writes it.
func TestCataloguePromisesPaths(t *testing.T) {
	for _, sc := range Catalogue() {
		roles := map[Role]bool{}
		for _, p := range sc.Promises {
			if len(p.Path) > 0 {
				roles[p.Role] = true
			}
		}
		want := []Role{Client, Server}
		switch sc.Name {
		case "udp", "udp-refused":
			want = nil // no TCP states to go through
		case "closed":
			want = []Role{Client} // the server is only bound: no state changes
		}
		for _, role := range want {
			if !roles[role] {
				t.Errorf("%s: no path promise for the %s", sc.Name, role)
			}
		}
	}
	polite, _ := Find("polite-close")
	var got []string
	for _, p := range polite.Promises {
		if len(p.Path) > 0 || len(p.Segments) > 0 {
			got = append(got, p.String())
		}
	}
	want := []string{
		"client SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT",
		"server SYN_RECV -> ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED",
		"segments client SYN, server SYN,ACK, client ACK, ..., client FIN,ACK, server ACK, server FIN,ACK, client ACK",
	}
	if !slices.Equal(got, want) {
		t.Errorf("polite-close promises\n%q\nwant\n%q", got, want)
	}
	abortive, _ := Find("abortive-close")
	if s := abortive.Promises[len(abortive.Promises)-1].String(); s != "no FIN" {
		t.Errorf("abortive-close's last promise reads %q, want \"no FIN\"", s)
	}
}

// TestLostEventsLeavePathsUnchecked: a path promise not kept while the
// kernel reported lost events is unchecked, with a note saying so, and
// does not fail the run; one kept stays kept, and without losses a
// missed path is missed.
func TestLostEventsLeavePathsUnchecked(t *testing.T) {
	path := []collect.State{collect.StateSynSent, collect.StateEstablished}
	r := &Run{status: []PromiseStatus{
		{Promise: Promise{Role: Client, Path: path}},
		{Promise: Promise{Role: Server, Path: path}, Seen: true},
	}}
	if r.Kept() {
		t.Fatal("a missed path with no events lost counts as kept")
	}
	if st := r.Status()[0]; st.Unchecked {
		t.Fatalf("with no events lost the missed path is unchecked: %+v", st)
	}
	r.lost = 42
	st := r.Status()
	if !st[0].Unchecked || !strings.Contains(st[0].Note, "lost 42 events") {
		t.Errorf("with 42 events lost the missed path is %+v, want unchecked with a note", st[0])
	}
	if st[1].Unchecked || !st[1].Seen {
		t.Errorf("a kept path became %+v", st[1])
	}
	if !r.Kept() {
		t.Error("a path left unchecked by lost events fails the run")
	}
	if r.status[0].Unchecked {
		t.Error("Status changed the run's own record")
	}
}
