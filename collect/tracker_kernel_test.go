package collect

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// kev is a state event at ms milliseconds after diffT0, the time base of
// dsnap.
func kev(ms int, cookie uint64, from, to State, local, remote string) StateEvent {
	return StateEvent{Time: diffT0.Add(time.Duration(ms) * time.Millisecond), Cookie: cookie, Proto: TCP, Family: 4,
		Local: mustAP(local), Remote: mustAP(remote), From: from, To: to}
}

func at(ms int) time.Time { return diffT0.Add(time.Duration(ms) * time.Millisecond) }

// ktr is a transition without its positions, for comparisons.
type ktr struct {
	key      Key
	from, to State
	src      Origin
	at       time.Time
	cookie   uint64
}

func ktrs(ch Changes) []ktr {
	var out []ktr
	for _, x := range ch.Transitions {
		out = append(out, ktr{x.Key, x.From, x.To, x.Source, x.At, x.Cookie})
	}
	return out
}

func tcpKey(local, remote string) Key {
	return Key{Proto: TCP, Local: mustAP(local), Remote: mustAP(remote)}
}

// stateSteps is a path without its times and sources.
func stateSteps(p []Step) []State {
	var out []State
	for _, s := range p {
		out = append(out, s.State)
	}
	return out
}

const (
	cliAddr = "127.0.0.1:40000"
	srvAddr = "127.0.0.1:80"
)

// polite returns the events of a client at cliAddr closing first and the
// server closing at once after, interleaved as the kernel gives them,
// from ms on.
func polite(ms int, cc, sc uint64) []StateEvent {
	return []StateEvent{
		kev(ms, cc, StateEstablished, StateFinWait1, cliAddr, srvAddr),
		kev(ms+1, sc, StateEstablished, StateCloseWait, srvAddr, cliAddr),
		kev(ms+2, sc, StateCloseWait, StateLastAck, srvAddr, cliAddr),
		kev(ms+3, cc, StateFinWait1, StateFinWait2, cliAddr, srvAddr),
		kev(ms+4, cc, StateFinWait2, StateClosed, cliAddr, srvAddr),
		kev(ms+5, sc, StateLastAck, StateClosed, srvAddr, cliAddr),
	}
}

// miniTW is the client's TIME_WAIT mini-socket, with a cookie of its own.
func miniTW(cookie uint64) Socket {
	s := dsock(TCP, StateTimeWait, cliAddr, srvAddr)
	s.Timer, s.Cookie = TimerTimeWait, cookie
	return s
}

// TestTrackerKernelPoliteClose: a close both sides saw as kernel events
// between two snapshots. The kernel's transitions come first, in its
// order, and replace the sampled ESTABLISHED -> TIME_WAIT and
// ESTABLISHED -> - that Diff makes; the client's FIN_WAIT_2 -> CLOSED
// reads FIN_WAIT_2 -> TIME_WAIT since cur lists its mini-socket; each
// transition points at its socket, in cur or in Gone.
func TestTrackerKernelPoliteClose(t *testing.T) {
	t.Parallel()
	cli := dsock(TCP, StateEstablished, cliAddr, srvAddr)
	cli.Cookie = 11
	srv := dsock(TCP, StateEstablished, srvAddr, cliAddr)
	srv.Cookie = 12
	lst := dsock(TCP, StateListen, srvAddr, "0.0.0.0:0")
	lst.Cookie = 10
	s0 := dsnap(0, lst, cli, srv)
	s1 := dsnap(1, lst, miniTW(99))
	if d := Diff(s0, s1); len(d.Transitions) != 2 {
		t.Fatalf("Diff: %v; the test expects the sampled jump and disappearance the kernel's replace", d.Transitions)
	}

	var tk Tracker
	tk.Update(s0)
	tk.AddEvents(polite(500, 11, 12), 0)
	ch := tk.Update(s1)
	ck, sk := tcpKey(cliAddr, srvAddr), tcpKey(srvAddr, cliAddr)
	want := []ktr{
		{ck, StateEstablished, StateFinWait1, Kernel, at(500), 11},
		{sk, StateEstablished, StateCloseWait, Kernel, at(501), 12},
		{sk, StateCloseWait, StateLastAck, Kernel, at(502), 12},
		{ck, StateFinWait1, StateFinWait2, Kernel, at(503), 11},
		{ck, StateFinWait2, StateTimeWait, Kernel, at(504), 11},
		{sk, StateLastAck, StateClosed, Kernel, at(505), 12},
	}
	if got := ktrs(ch); !slices.Equal(got, want) {
		t.Fatalf("transitions:\n got %v\nwant %v", got, want)
	}
	for i := range ch.Transitions {
		x := &ch.Transitions[i]
		s := ch.Socket(s1, x)
		switch x.Key {
		case ck:
			if x.Index != 1 || s == nil || s.Cookie != 99 {
				t.Errorf("%+v: points at %v, want the TIME_WAIT row", *x, s)
			}
		case sk:
			if x.Index != -1 || s == nil || s.Cookie != 12 {
				t.Errorf("%+v: points at %v, want the server in Gone", *x, s)
			}
		}
	}

	cp := tk.Path(ck)
	if got := stateSteps(cp); !slices.Equal(got, []State{StateEstablished, StateFinWait1, StateFinWait2, StateTimeWait}) {
		t.Fatalf("client path %v", cp)
	}
	if cp[0].Source != Sampled || !cp[0].At.Equal(s0.Taken) {
		t.Errorf("client's first step %+v, want sampled at the first snapshot", cp[0])
	}
	for i, ms := range []int{500, 503, 504} {
		if st := cp[i+1]; st.Source != Kernel || !st.At.Equal(at(ms)) {
			t.Errorf("client step %d %+v, want kernel at %v", i+1, st, at(ms))
		}
	}
	sp := tk.Path(sk)
	if got := stateSteps(sp); !slices.Equal(got, []State{StateEstablished, StateCloseWait, StateLastAck, StateClosed}) {
		t.Errorf("server path %v", sp)
	}

	// The mini-socket's end is sampled, and ends the path.
	ch = tk.Update(dsnap(70, lst))
	if got := ktrs(ch); len(got) != 1 || got[0].key != ck || got[0].from != StateTimeWait || got[0].src != Sampled || got[0].cookie != 99 {
		t.Errorf("TIME_WAIT gone: %v", got)
	}
	if got := stateSteps(tk.Path(ck)); !slices.Equal(got, []State{StateEstablished, StateFinWait1, StateFinWait2, StateTimeWait, StateClosed}) {
		t.Errorf("client path after TIME_WAIT: %v", got)
	}
}

// TestTrackerKernelPending: events after cur.Taken wait for the next
// Update, and the sampled change of their connection stays meanwhile.
func TestTrackerKernelPending(t *testing.T) {
	t.Parallel()
	srv := dsock(TCP, StateEstablished, srvAddr, cliAddr)
	srv.Cookie = 12
	closing := srv
	closing.State = StateCloseWait
	sk := srv.Key()
	var tk Tracker
	tk.Update(dsnap(0, srv))
	// The dump at 1s read the socket after its change at 1.2s.
	tk.AddEvents([]StateEvent{kev(1200, 12, StateEstablished, StateCloseWait, srvAddr, cliAddr)}, 0)
	ch := tk.Update(dsnap(1, closing))
	if got := ktrs(ch); !slices.Equal(got, []ktr{{sk, StateEstablished, StateCloseWait, Sampled, at(1000), 12}}) {
		t.Fatalf("at 1s: %v, want the sampled change only", got)
	}
	if len(tk.events) != 1 {
		t.Fatalf("%d events pending, want 1", len(tk.events))
	}
	ch = tk.Update(dsnap(2, closing))
	if got := ktrs(ch); !slices.Equal(got, []ktr{{sk, StateEstablished, StateCloseWait, Kernel, at(1200), 12}}) {
		t.Fatalf("at 2s: %v, want the kernel's", got)
	}
	if ch.Transitions[0].Index != 0 {
		t.Errorf("the kernel's transition points at %d, want the row listed unchanged", ch.Transitions[0].Index)
	}
	// The kernel's exact step replaces the sampled one.
	p := tk.Path(sk)
	if len(p) != 2 || p[1].State != StateCloseWait || p[1].Source != Kernel || !p[1].At.Equal(at(1200)) {
		t.Errorf("path %v, want ESTABLISHED then the kernel's CLOSE_WAIT", p)
	}
}

// TestTrackerKernelBetweenRefreshes: a connection that opened and closed
// between two snapshots has kernel transitions that point at no socket;
// its connect's CLOSED -> SYN_SENT, which has no port yet, takes the Key
// the next event names, by cookie with BPF and by peer without.
func TestTrackerKernelBetweenRefreshes(t *testing.T) {
	t.Parallel()
	for _, cookies := range []bool{true, false} {
		c := func(x uint64) uint64 {
			if cookies {
				return x
			}
			return 0
		}
		evs := []StateEvent{
			kev(100, c(21), StateClosed, StateSynSent, "127.0.0.1:0", srvAddr),
			kev(101, c(22), StateListen, StateSynRecv, srvAddr, cliAddr),
			kev(102, c(21), StateSynSent, StateEstablished, cliAddr, srvAddr),
			kev(103, c(22), StateSynRecv, StateEstablished, srvAddr, cliAddr),
			// An abortive close: RST, no TIME_WAIT.
			kev(200, c(21), StateEstablished, StateClosed, cliAddr, srvAddr),
			kev(201, c(22), StateEstablished, StateClosed, srvAddr, cliAddr),
		}
		var tk Tracker
		tk.Update(dsnap(0))
		tk.AddEvents(evs, 0)
		s1 := dsnap(1)
		ch := tk.Update(s1)
		ck, sk := tcpKey(cliAddr, srvAddr), tcpKey(srvAddr, cliAddr)
		if len(ch.Transitions) != 6 || ch.Transitions[0].Key != ck {
			t.Fatalf("cookies %v: %v, want six, the first with the client's full Key", cookies, ktrs(ch))
		}
		for i := range ch.Transitions {
			x := &ch.Transitions[i]
			if x.Source != Kernel || x.Index != -1 || x.Gone != -1 || ch.Socket(s1, x) != nil {
				t.Errorf("cookies %v: %+v, want a kernel transition pointing at no socket", cookies, *x)
			}
		}
		if got := stateSteps(tk.Path(ck)); !slices.Equal(got, []State{StateClosed, StateSynSent, StateEstablished, StateClosed}) {
			t.Errorf("cookies %v: client path %v", cookies, got)
		}
		sp := tk.Path(sk)
		if got := stateSteps(sp); !slices.Equal(got, []State{StateListen, StateSynRecv, StateEstablished, StateClosed}) {
			t.Errorf("cookies %v: server path %v", cookies, got)
		}
		if len(sp) > 0 && !sp[0].At.IsZero() {
			t.Errorf("cookies %v: server's first step %+v; its entry was not seen, so its time is unknown", cookies, sp[0])
		}
	}
}

// TestTrackerKernelJoinLater: a snapshot that lacks the mini-socket (a
// partial dump) delays the join; the next one that lists it gets the
// FIN_WAIT_2 -> TIME_WAIT, at the event's time, pointing at its row.
// Without a mini-socket for joinWait more Updates, the kernel's
// FIN_WAIT_2 -> CLOSED stands.
func TestTrackerKernelJoinLater(t *testing.T) {
	t.Parallel()
	cli := dsock(TCP, StateFinWait2, cliAddr, srvAddr)
	cli.Cookie = 11
	ck := cli.Key()
	ev := []StateEvent{kev(500, 11, StateFinWait2, StateClosed, cliAddr, srvAddr)}

	var tk Tracker
	tk.Update(dsnap(0, cli))
	tk.AddEvents(ev, 0)
	s1 := dsnap(1)
	s1.Partial = true
	if ch := tk.Update(s1); len(ch.Transitions) != 0 {
		t.Fatalf("partial snapshot without the mini-socket: %v, want the join to wait", ktrs(ch))
	}
	s2 := dsnap(2, miniTW(99))
	ch := tk.Update(s2)
	if got := ktrs(ch); !slices.Equal(got, []ktr{{ck, StateFinWait2, StateTimeWait, Kernel, at(500), 11}}) {
		t.Fatalf("mini-socket listed: %v", got)
	}
	if s := ch.Socket(s2, &ch.Transitions[0]); s == nil || s.Cookie != 99 {
		t.Errorf("the join points at %v, want the TIME_WAIT row", s)
	}

	var rst Tracker
	rst.Update(dsnap(0, cli))
	rst.AddEvents(ev, 0)
	for i := 1; i <= joinWait; i++ {
		if ch := rst.Update(dsnap(i)); len(ch.Transitions) != 0 {
			t.Fatalf("update %d without the mini-socket: %v, want the join to wait", i, ktrs(ch))
		}
	}
	ch = rst.Update(dsnap(joinWait + 1))
	if got := ktrs(ch); !slices.Equal(got, []ktr{{ck, StateFinWait2, StateClosed, Kernel, at(500), 11}}) {
		t.Fatalf("no mini-socket: %v, want the kernel's FIN_WAIT_2 -> CLOSED", got)
	}
	if got := stateSteps(rst.Path(ck)); !slices.Equal(got, []State{StateFinWait2, StateClosed}) {
		t.Errorf("path %v", got)
	}
}

// TestTrackerKernelOrphanFinWait2: an orphaned FIN_WAIT_2 socket hands
// over to a mini-socket that waits in FIN_WAIT_2 for the peer's FIN: the
// path stays in FIN_WAIT_2, with no CLOSED, and the mini-socket's move to
// TIME_WAIT is a sampled step.
func TestTrackerKernelOrphanFinWait2(t *testing.T) {
	t.Parallel()
	cli := dsock(TCP, StateEstablished, cliAddr, srvAddr)
	cli.Cookie = 11
	ck := cli.Key()
	mini := miniTW(99)
	mini.State = StateFinWait2
	var tk Tracker
	tk.Update(dsnap(0, cli))
	tk.AddEvents([]StateEvent{
		kev(100, 11, StateEstablished, StateFinWait1, cliAddr, srvAddr),
		kev(101, 11, StateFinWait1, StateFinWait2, cliAddr, srvAddr),
		kev(102, 11, StateFinWait2, StateClosed, cliAddr, srvAddr),
	}, 0)
	ch := tk.Update(dsnap(1, mini))
	want := []ktr{
		{ck, StateEstablished, StateFinWait1, Kernel, at(100), 11},
		{ck, StateFinWait1, StateFinWait2, Kernel, at(101), 11},
	}
	if got := ktrs(ch); !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	ch = tk.Update(dsnap(2, miniTW(99)))
	if got := ktrs(ch); !slices.Equal(got, []ktr{{ck, StateFinWait2, StateTimeWait, Sampled, at(2000), 99}}) {
		t.Fatalf("mini-socket in TIME_WAIT: %v, want the sampled step", got)
	}
	p := tk.Path(ck)
	if got := stateSteps(p); !slices.Equal(got, []State{StateEstablished, StateFinWait1, StateFinWait2, StateTimeWait}) || p[3].Source != Sampled {
		t.Errorf("path %v", p)
	}
}

// TestTrackerKernelPartial: a partial snapshot that lacks a socket with
// kernel events holds it (not gone), and the kernel's transitions point
// at no row; a held socket whose destroy record came is gone at once,
// with its owners in the record.
func TestTrackerKernelPartial(t *testing.T) {
	t.Parallel()
	srv := dsock(TCP, StateEstablished, srvAddr, cliAddr)
	srv.Cookie = 12
	srv.Owners = []Owner{{PID: 812, Name: "nginx"}}
	other := dsock(TCP, StateListen, "127.0.0.1:81", "0.0.0.0:0")
	sk := srv.Key()
	var tk Tracker
	tk.AddClosed(nil, 0)
	tk.Update(dsnap(0, srv, other))
	tk.AddEvents([]StateEvent{kev(100, 12, StateEstablished, StateCloseWait, srvAddr, cliAddr)}, 0)
	s1 := dsnap(1, other)
	s1.Partial = true
	ch := tk.Update(s1)
	if len(ch.Gone) != 0 || len(tk.held) != 1 {
		t.Fatalf("partial: %d gone, %d held; want the server held", len(ch.Gone), len(tk.held))
	}
	if got := ktrs(ch); !slices.Equal(got, []ktr{{sk, StateEstablished, StateCloseWait, Kernel, at(100), 12}}) || ch.Transitions[0].Index != -1 || ch.Transitions[0].Gone != -1 {
		t.Fatalf("partial: %+v", ch.Transitions)
	}

	tk.AddEvents([]StateEvent{
		kev(1100, 12, StateCloseWait, StateLastAck, srvAddr, cliAddr),
		kev(1101, 12, StateLastAck, StateClosed, srvAddr, cliAddr),
	}, 0)
	tk.AddClosed([]Closed{{Proto: TCP, Family: 4, State: StateClosed, Local: srv.Local, Remote: srv.Remote, Cookie: 12, Received: at(1102)}}, 0)
	s2 := dsnap(2, other)
	s2.Partial = true
	ch = tk.Update(s2)
	if len(tk.held) != 0 || len(ch.Gone) != 1 || ch.Gone[0].Cookie != 12 {
		t.Fatalf("destroyed while held: %d held, gone %v; want it gone", len(tk.held), ch.Gone)
	}
	want := []ktr{
		{sk, StateCloseWait, StateLastAck, Kernel, at(1100), 12},
		{sk, StateLastAck, StateClosed, Kernel, at(1101), 12},
	}
	if got := ktrs(ch); !slices.Equal(got, want) {
		t.Fatalf("destroyed while held:\n got %v\nwant %v (no sampled ESTABLISHED -> -: the kernel said it)", got, want)
	}
	if len(ch.Closed) != 1 {
		t.Fatalf("closed %v, want one record", ch.Closed)
	}
	cc := ch.Closed[0]
	if !cc.OwnersKnown || !slices.Equal(cc.Owners, srv.Owners) || !cc.Opened.Equal(diffT0) {
		t.Errorf("record %+v: want the owners seen alive and the first snapshot's time", cc)
	}
	if got := stateSteps(cc.Path); !slices.Equal(got, []State{StateEstablished, StateCloseWait, StateLastAck, StateClosed}) {
		t.Errorf("record's path %v", got)
	}
}

// TestTrackerClosedRecords: a record is returned once, at the first
// Update whose snapshot was taken after it came, with the owners of the
// socket when last listed, when it was first listed and its path; the
// socket may have left the dump before the record came, or at the same
// Update. A UDP record gets its owners the same way; a record of a
// socket never seen has nothing known.
func TestTrackerClosedRecords(t *testing.T) {
	t.Parallel()
	a := dsock(TCP, StateEstablished, cliAddr, srvAddr)
	a.Cookie, a.Owners = 31, []Owner{{PID: 4, Name: "curl"}}
	u := dsock(UDP, StateUnconn, "127.0.0.1:5353", "0.0.0.0:0")
	u.Cookie, u.Owners = 32, []Owner{{PID: 5, Name: "avahi"}}
	rec := func(s Socket, ms int) Closed {
		return Closed{Proto: s.Proto, Family: 4, State: StateClosed, Local: s.Local, Remote: s.Remote, Cookie: s.Cookie, Received: at(ms)}
	}

	var tk Tracker
	tk.AddClosed(nil, 0)
	tk.Update(dsnap(0))
	tk.Update(dsnap(1, a, u)) // both appear: first seen at 1s
	a2 := a
	a2.Owners = []Owner{{PID: 4, Name: "curl"}, {PID: 6, Name: "curl"}}
	tk.Update(dsnap(2, a2, u)) // owners change, no transition
	// u is destroyed at 2.5s, its record read at once; a's comes after
	// the dump at 3s that no longer lists it.
	tk.AddClosed([]Closed{rec(u, 2500), rec(a, 3100)}, 0)
	ch := tk.Update(dsnap(3))
	if len(ch.Closed) != 1 || ch.Closed[0].Proto != UDP {
		t.Fatalf("at 3s: %+v, want the UDP record only (a's came after the dump)", ch.Closed)
	}
	if c := ch.Closed[0]; !c.OwnersKnown || !slices.Equal(c.Owners, u.Owners) || !c.Opened.Equal(at(1000)) {
		t.Errorf("UDP record %+v", c)
	}
	if d, ok := ch.Closed[0].Lifetime(); !ok || d != 1500*time.Millisecond {
		t.Errorf("UDP lifetime %v %v, want 1.5s", d, ok)
	}
	if len(tk.closed) != 1 {
		t.Fatalf("%d records pending, want a's", len(tk.closed))
	}
	// The same record read twice is returned once; a socket never seen
	// has a record with nothing known.
	ghost := dsock(TCP, StateEstablished, "127.0.0.1:40001", srvAddr)
	ghost.Cookie = 33
	// A socket never bound nor connected is no connection: left out.
	unbound := Closed{Proto: TCP, Family: 4, State: StateClosed, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 0),
		Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), Cookie: 34, Received: at(3300)}
	tk.AddClosed([]Closed{rec(a, 3100), rec(ghost, 3200), unbound}, 0)
	ch = tk.Update(dsnap(4))
	if len(ch.Closed) != 2 {
		t.Fatalf("at 4s: %+v, want a's record and the unknown one, not the unbound socket's", ch.Closed)
	}
	if c := ch.Closed[0]; c.Cookie != 31 || !c.OwnersKnown || !slices.Equal(c.Owners, a2.Owners) || !c.Opened.Equal(at(1000)) {
		t.Errorf("a's record %+v, want the owners of the last dump that listed it", c)
	} else if got := stateSteps(c.Path); !slices.Equal(got, []State{StateEstablished, StateClosed}) {
		t.Errorf("a's path %v", got)
	}
	if c := ch.Closed[1]; c.Cookie != 33 || c.OwnersKnown || c.Owners != nil || !c.Opened.IsZero() || c.Path != nil {
		t.Errorf("unknown socket's record %+v, want nothing known", c)
	}
	if _, ok := ch.Closed[1].Lifetime(); ok {
		t.Errorf("unknown socket has a lifetime")
	}
}

// TestTrackerLost: the losses handed in since the last Update are
// returned once.
func TestTrackerLost(t *testing.T) {
	t.Parallel()
	var tk Tracker
	tk.AddEvents(nil, 3)
	tk.AddClosed(nil, 2)
	if ch := tk.Update(dsnap(0)); ch.Lost != 5 {
		t.Errorf("Lost %d, want 5", ch.Lost)
	}
	if ch := tk.Update(dsnap(1)); ch.Lost != 0 {
		t.Errorf("Lost %d after it was returned, want 0", ch.Lost)
	}
	tk.AddEvents(nil, 1)
	if ch := tk.Update(dsnap(2)); ch.Lost != 1 {
		t.Errorf("Lost %d, want 1", ch.Lost)
	}
}

// TestTrackerKernelNamespaces: the same 4-tuple in two network
// namespaces is two connections, each with its own path.
func TestTrackerKernelNamespaces(t *testing.T) {
	t.Parallel()
	const other = 4026539999
	a := kev(100, 0, StateClosed, StateListen, srvAddr, "0.0.0.0:0")
	b := a
	b.NetNS = other
	b2 := kev(200, 0, StateListen, StateClosed, srvAddr, "0.0.0.0:0")
	b2.NetNS = other
	var tk Tracker
	tk.Update(dsnap(0))
	tk.AddEvents([]StateEvent{a, b, b2}, 0)
	tk.Update(dsnap(1))
	own, theirs := a.Key(), b.Key()
	if own == theirs {
		t.Fatalf("the two namespaces' Keys are equal: %+v", own)
	}
	if got := stateSteps(tk.Path(own)); !slices.Equal(got, []State{StateClosed, StateListen}) {
		t.Errorf("own namespace's listener: %v", got)
	}
	if got := stateSteps(tk.Path(theirs)); !slices.Equal(got, []State{StateClosed, StateListen, StateClosed}) {
		t.Errorf("other namespace's listener: %v", got)
	}
}
