package collect

import (
	"slices"
	"testing"
	"time"
)

var diffT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// dsock builds a TCP socket between two loopback endpoints.
func dsock(p Proto, state State, local, remote string) Socket {
	return Socket{Proto: p, Family: 4, State: state, Local: mustAP(local), Remote: mustAP(remote)}
}

func dsnap(sec int, socks ...Socket) *Snapshot {
	return &Snapshot{Taken: diffT0.Add(time.Duration(sec) * time.Second), Source: "test", Sockets: socks}
}

// tr is a transition without its time, for comparisons.
type tr struct {
	key      Key
	from, to State
}

func trs(t *testing.T, ch Changes, at time.Time) []tr {
	t.Helper()
	var out []tr
	for _, x := range ch.Transitions {
		if !x.At.Equal(at) {
			t.Errorf("transition %v at %v, want the time of cur %v", x, x.At, at)
		}
		out = append(out, tr{x.Key, x.From, x.To})
	}
	return out
}

func TestDiffFirstSnapshot(t *testing.T) {
	t.Parallel()
	cur := dsnap(0,
		dsock(TCP, StateListen, "127.0.0.1:80", "0.0.0.0:0"),
		dsock(TCP, StateEstablished, "127.0.0.1:80", "127.0.0.1:40000"))
	ch := Diff(nil, cur)
	if !slices.Equal(ch.Marks, []Mark{MarkNew, MarkNew}) || ch.Gone != nil || ch.Transitions != nil {
		t.Errorf("first snapshot: %+v, want all new, nothing gone, no transitions", ch)
	}
}

func TestDiffSameChangedNewGone(t *testing.T) {
	t.Parallel()
	listen := dsock(TCP, StateListen, "127.0.0.1:80", "0.0.0.0:0")
	est := dsock(TCP, StateEstablished, "127.0.0.1:80", "127.0.0.1:40000")
	est.Timer, est.TimerLeft = TimerKeepalive, 14*time.Second
	queued := dsock(TCP, StateEstablished, "127.0.0.1:80", "127.0.0.1:40001")
	keepalive := dsock(TCP, StateEstablished, "127.0.0.1:80", "127.0.0.1:40002")
	keepalive.Timer = TimerKeepalive
	closing := dsock(TCP, StateEstablished, "127.0.0.1:80", "127.0.0.1:40003")
	leaving := dsock(UDP, StateUnconn, "127.0.0.1:53", "0.0.0.0:0")
	prev := dsnap(0, listen, est, queued, keepalive, closing, leaving)

	est2 := est
	est2.TimerLeft = 9 * time.Second // a countdown alone is not a change
	queued2 := queued
	queued2.RecvQ = 512
	keepalive2 := keepalive
	keepalive2.Timer = TimerOn
	closing2 := closing
	closing2.State = StateCloseWait
	arriving := dsock(TCP, StateSynSent, "127.0.0.1:40010", "127.0.0.1:80")
	// Same 4-tuple as a gone socket but another protocol: a different Key.
	udpTwin := dsock(UDP, StateUnconn, "127.0.0.1:80", "0.0.0.0:0")
	cur := dsnap(2, arriving, closing2, keepalive2, queued2, est2, listen, udpTwin)

	ch := Diff(prev, cur)
	wantMarks := []Mark{MarkNew, MarkChanged, MarkChanged, MarkChanged, MarkSame, MarkSame, MarkNew}
	if !slices.Equal(ch.Marks, wantMarks) {
		t.Errorf("marks %v, want %v", ch.Marks, wantMarks)
	}
	if len(ch.Gone) != 1 || ch.Gone[0].Key() != leaving.Key() {
		t.Errorf("gone %+v, want only the UDP socket on :53", ch.Gone)
	}
	want := []tr{
		{arriving.Key(), StateUnknown, StateSynSent},
		{closing.Key(), StateEstablished, StateCloseWait},
		{udpTwin.Key(), StateUnknown, StateUnconn},
		{leaving.Key(), StateUnconn, StateUnknown},
	}
	if got := trs(t, ch, cur.Taken); !slices.Equal(got, want) {
		t.Errorf("transitions\n got %v\nwant %v", got, want)
	}
}

// A connection closed by this side goes ESTABLISHED -> FIN_WAIT_2 ->
// TIME_WAIT; the TIME_WAIT socket is a new kernel object with the same Key,
// and must read as the same connection moving on.
func TestDiffCloseSequence(t *testing.T) {
	t.Parallel()
	est := dsock(TCP, StateEstablished, "127.0.0.1:40000", "127.0.0.1:80")
	est.Inode = 1234
	fw2 := est
	fw2.State, fw2.Inode, fw2.Timer = StateFinWait2, 0, TimerTimeWait
	tw := fw2
	tw.State = StateTimeWait
	s0, s1, s2, s3 := dsnap(0, est), dsnap(1, fw2), dsnap(2, tw), dsnap(63)

	ch := Diff(s0, s1)
	if !slices.Equal(ch.Marks, []Mark{MarkChanged}) || len(ch.Gone) != 0 {
		t.Errorf("ESTABLISHED -> FIN_WAIT_2: %+v", ch)
	}
	if got := trs(t, ch, s1.Taken); !slices.Equal(got, []tr{{est.Key(), StateEstablished, StateFinWait2}}) {
		t.Errorf("ESTABLISHED -> FIN_WAIT_2 transitions %v", got)
	}
	ch = Diff(s1, s2)
	if !slices.Equal(ch.Marks, []Mark{MarkChanged}) || len(ch.Gone) != 0 {
		t.Errorf("FIN_WAIT_2 -> TIME_WAIT: %+v", ch)
	}
	if got := trs(t, ch, s2.Taken); !slices.Equal(got, []tr{{est.Key(), StateFinWait2, StateTimeWait}}) {
		t.Errorf("FIN_WAIT_2 -> TIME_WAIT transitions %v", got)
	}
	ch = Diff(s2, s3)
	if len(ch.Marks) != 0 || len(ch.Gone) != 1 {
		t.Errorf("TIME_WAIT expiry: %+v", ch)
	}
	if got := trs(t, ch, s3.Taken); !slices.Equal(got, []tr{{est.Key(), StateTimeWait, StateUnknown}}) {
		t.Errorf("TIME_WAIT expiry transitions %v", got)
	}
}

func TestDiffDuplicateKeys(t *testing.T) {
	t.Parallel()
	// SO_REUSEPORT: several identical UDP sockets pair in order.
	u := dsock(UDP, StateUnconn, "127.0.0.1:5353", "0.0.0.0:0")
	u2 := u
	u2.RecvQ = 100
	ch := Diff(dsnap(0, u, u), dsnap(1, u, u, u))
	if !slices.Equal(ch.Marks, []Mark{MarkSame, MarkSame, MarkNew}) || len(ch.Gone) != 0 || len(ch.Transitions) != 1 {
		t.Errorf("2 -> 3 reuseport sockets: %+v", ch)
	}
	ch = Diff(dsnap(0, u, u2), dsnap(1, u))
	if !slices.Equal(ch.Marks, []Mark{MarkSame}) || len(ch.Gone) != 1 || ch.Gone[0].RecvQ != 100 {
		t.Errorf("2 -> 1 reuseport sockets: %+v", ch)
	}
	ch = Diff(dsnap(0, u, u2), dsnap(1, u2, u))
	if !slices.Equal(ch.Marks, []Mark{MarkChanged, MarkChanged}) || len(ch.Gone) != 0 || len(ch.Transitions) != 0 {
		t.Errorf("2 reuseport sockets, reordered: %+v", ch)
	}

	// A TIME_WAIT still there while a new connection reuses its 4-tuple:
	// the TIME_WAIT stays the same row, the ESTABLISHED one is new.
	tw := dsock(TCP, StateTimeWait, "127.0.0.1:40000", "127.0.0.1:80")
	est := tw
	est.State = StateEstablished
	cur := dsnap(1, est, tw)
	ch = Diff(dsnap(0, tw), cur)
	if !slices.Equal(ch.Marks, []Mark{MarkNew, MarkSame}) || len(ch.Gone) != 0 {
		t.Errorf("TIME_WAIT plus reuse: %+v", ch)
	}
	if got := trs(t, ch, cur.Taken); !slices.Equal(got, []tr{{est.Key(), StateUnknown, StateEstablished}}) {
		t.Errorf("TIME_WAIT plus reuse transitions %v", got)
	}
	// And when the old one left: the pair becomes one connection's change.
	cur = dsnap(2, tw)
	ch = Diff(dsnap(1, est, tw), cur)
	if !slices.Equal(ch.Marks, []Mark{MarkSame}) || len(ch.Gone) != 1 || ch.Gone[0].State != StateEstablished {
		t.Errorf("two with one Key, one left: %+v", ch)
	}
}

func TestDiffCanonicalAndFamilies(t *testing.T) {
	t.Parallel()
	// NEW_SYN_RECV and SYN_RECV are one state to a person.
	a := dsock(TCP, StateNewSynRecv, "127.0.0.1:80", "127.0.0.1:40000")
	b := a
	b.State = StateSynRecv
	ch := Diff(dsnap(0, a), dsnap(1, b))
	if !slices.Equal(ch.Marks, []Mark{MarkSame}) || len(ch.Transitions) != 0 {
		t.Errorf("NEW_SYN_RECV -> SYN_RECV: %+v", ch)
	}
	// An IPv4 socket and its IPv4-mapped IPv6 twin are different Keys.
	v4 := dsock(TCP, StateListen, "127.0.0.1:80", "0.0.0.0:0")
	v6 := Socket{Proto: TCP, Family: 6, State: StateListen, Local: mustAP("[::ffff:127.0.0.1]:80"), Remote: mustAP("[::]:0")}
	ch = Diff(dsnap(0, v4), dsnap(1, v6))
	if !slices.Equal(ch.Marks, []Mark{MarkNew}) || len(ch.Gone) != 1 {
		t.Errorf("v4 -> v4-mapped v6: %+v", ch)
	}
	// Zones are part of the Key.
	z1 := Socket{Proto: TCP, Family: 6, State: StateEstablished, Local: mustAP("[fe80::1%1]:80"), Remote: mustAP("[fe80::2%1]:4000")}
	z2 := z1
	z2.Local = mustAP("[fe80::1%2]:80")
	ch = Diff(dsnap(0, z1), dsnap(1, z2))
	if !slices.Equal(ch.Marks, []Mark{MarkNew}) || len(ch.Gone) != 1 {
		t.Errorf("zone change: %+v", ch)
	}
}

func TestDiffNilCur(t *testing.T) {
	t.Parallel()
	prev := dsnap(0, dsock(TCP, StateListen, "127.0.0.1:80", "0.0.0.0:0"))
	ch := Diff(prev, nil)
	if len(ch.Marks) != 0 || len(ch.Gone) != 1 || len(ch.Transitions) != 1 || ch.Transitions[0].To != StateUnknown {
		t.Errorf("Diff(prev, nil) = %+v, want everything gone", ch)
	}
}

func TestMarkString(t *testing.T) {
	t.Parallel()
	for m, want := range map[Mark]string{MarkSame: "same", MarkNew: "new", MarkChanged: "changed", 9: "unknown"} {
		if m.String() != want {
			t.Errorf("Mark(%d).String() = %q, want %q", m, m.String(), want)
		}
	}
}
