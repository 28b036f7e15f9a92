package collect

import (
	"slices"
	"testing"
)

func TestStateEventInSyscall(t *testing.T) {
	t.Parallel()
	syscalls := map[[2]State]bool{
		{StateClosed, StateSynSent}:       true,
		{StateClosed, StateListen}:        true,
		{StateEstablished, StateFinWait1}: true,
		{StateCloseWait, StateLastAck}:    true,
	}
	for from := State(1); from < NumStates; from++ {
		for to := State(1); to < NumStates; to++ {
			e := StateEvent{Proto: TCP, From: from, To: to}
			if got, want := e.InSyscall(), syscalls[[2]State{from, to}]; got != want {
				t.Errorf("%s -> %s: InSyscall %v, want %v", from, to, got, want)
			}
		}
	}
	if e := (StateEvent{Proto: UDP, From: StateClosed, To: StateSynSent}); e.InSyscall() {
		t.Errorf("a UDP event is in a system call")
	}
}

// withTask is ev run in the task pid, comm.
func withTask(ev StateEvent, pid uint32, comm string) StateEvent {
	ev.PID, ev.Comm = pid, comm
	return ev
}

// TestTrackerEventOwners: connections made and closed between two
// snapshots, which no snapshot lists, have the owner of their
// system-call events (the client's connect and close, the server's
// close), never the task a softirq change interrupted; a connection with
// softirq changes only has none; an owner a snapshot gave stays.
func TestTrackerEventOwners(t *testing.T) {
	t.Parallel()
	const irq = 777 // whoever the softirq interrupted
	const cliPort0 = "127.0.0.1:0"
	var tk Tracker
	tk.AddClosed(nil, 0)
	tk.Update(dsnap(0))
	evs := []StateEvent{
		withTask(kev(100, 1, StateClosed, StateSynSent, cliPort0, srvAddr), 10, "curl"),
		withTask(kev(101, 2, StateListen, StateSynRecv, srvAddr, cliAddr), irq, "other"),
		withTask(kev(102, 1, StateSynSent, StateEstablished, cliAddr, srvAddr), irq, "other"),
		withTask(kev(103, 2, StateSynRecv, StateEstablished, srvAddr, cliAddr), irq, "other"),
	}
	for _, e := range polite(200, 1, 2) {
		switch {
		case e.Cookie == 1 && e.InSyscall():
			e = withTask(e, 11, "curl")
		case e.Cookie == 2 && e.InSyscall():
			e = withTask(e, 20, "nginx")
		default:
			e = withTask(e, irq, "other")
		}
		evs = append(evs, e)
	}
	// A connection reset in softirq: none of its events names its owner.
	const rstAddr = "127.0.0.1:40002"
	evs = append(evs,
		withTask(kev(300, 3, StateListen, StateSynRecv, srvAddr, rstAddr), irq, "other"),
		withTask(kev(301, 3, StateSynRecv, StateEstablished, srvAddr, rstAddr), irq, "other"),
		withTask(kev(302, 3, StateEstablished, StateClosed, srvAddr, rstAddr), irq, "other"))
	rec := func(cookie uint64, local, remote string, ms int) Closed {
		return Closed{Proto: TCP, Family: 4, State: StateClosed, Local: mustAP(local), Remote: mustAP(remote), Cookie: cookie, Received: at(ms)}
	}
	tk.AddEvents(evs, 0)
	tk.AddClosed([]Closed{rec(1, cliAddr, srvAddr, 210), rec(2, srvAddr, cliAddr, 210), rec(3, srvAddr, rstAddr, 310)}, 0)
	ch := tk.Update(dsnap(1))
	if len(ch.Closed) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(ch.Closed), ch.Closed)
	}
	want := map[uint64][]Owner{1: {{PID: 11, Name: "curl"}}, 2: {{PID: 20, Name: "nginx"}}, 3: nil}
	for _, c := range ch.Closed {
		w := want[c.Cookie]
		if !slices.Equal(c.Owners, w) || c.OwnersFromEvents != (w != nil) || c.OwnersKnown {
			t.Errorf("cookie %d: owners %v (from events %v, known %v), want %v from events, not known from a snapshot",
				c.Cookie, c.Owners, c.OwnersFromEvents, c.OwnersKnown, w)
		}
	}

	// A connection a snapshot listed with its owner keeps that owner,
	// whoever its events ran in.
	a := dsock(TCP, StateEstablished, "127.0.0.1:40003", srvAddr)
	a.Cookie, a.Owners = 4, []Owner{{PID: 4, Name: "ssh"}}
	tk.Update(dsnap(2, a))
	tk.AddEvents([]StateEvent{
		withTask(kev(2100, 4, StateEstablished, StateFinWait1, "127.0.0.1:40003", srvAddr), 12, "sshfs"),
		withTask(kev(2101, 4, StateFinWait1, StateClosed, "127.0.0.1:40003", srvAddr), irq, "other"),
	}, 0)
	tk.AddClosed([]Closed{rec(4, "127.0.0.1:40003", srvAddr, 2102)}, 0)
	ch = tk.Update(dsnap(3))
	if len(ch.Closed) != 1 {
		t.Fatalf("%d records, want 1: %+v", len(ch.Closed), ch.Closed)
	}
	if c := ch.Closed[0]; !c.OwnersKnown || c.OwnersFromEvents || !slices.Equal(c.Owners, a.Owners) {
		t.Errorf("listed connection: owners %v (known %v, from events %v), want the snapshot's %v", c.Owners, c.OwnersKnown, c.OwnersFromEvents, a.Owners)
	}
}
