package ui

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"socktop/collect"
)

// listenTable is a small table with a full listener (Recv-Q over its
// backlog), one with room, and the full one's SYN_RECV rows.
func listenTable(at time.Time) collect.Snapshot {
	any4 := netip.IPv4Unspecified()
	full := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: ap(any4, 80),
		Remote: ap(any4, 0), RecvQ: 129, SendQ: 128, Inode: 7001, Owners: []collect.Owner{{PID: 900, Name: "nginx"}}}
	room := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: ap(any4, 443),
		Remote: ap(any4, 0), RecvQ: 3, SendQ: 4096, Inode: 7002, Owners: []collect.Owner{{PID: 900, Name: "nginx"}}}
	est := tcpSock(collect.StateEstablished, 443, 50100)
	est.Inode, est.Owners = 7003, []collect.Owner{{PID: 900, Name: "nginx"}}
	syn1 := tcpSock(collect.StateNewSynRecv, 80, 50200)
	syn2 := tcpSock(collect.StateNewSynRecv, 80, 50201)
	return collect.Snapshot{Taken: at, Source: "netlink", Owners: collect.OwnersComplete,
		Sockets: []collect.Socket{full, room, est, syn1, syn2}}
}

// netstatText is /proc/net/netstat's TcpExt lines with these counters.
func netstatText(overflows, drops, cookies string) string {
	return "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPReqQFullDrop TCPReqQFullDoCookies\n" +
		"TcpExt: 0 " + overflows + " " + drops + " 0 " + cookies + "\n"
}

// listenHarness is the view after two refreshes a second apart, with the
// counters parsed from netstat text between them.
func listenHarness(t *testing.T, noColor bool) *harness {
	t.Helper()
	h := newHarness(t, Config{NoColor: noColor})
	h.send(windowSize(80, 24))
	for i, text := range []string{netstatText("100", "100", "0"), netstatText("112", "112", "3")} {
		c, err := collect.ParseNetstat(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		h.send(snapMsg{snap: listenTable(t0.Add(time.Duration(i) * time.Second)),
			counters: counterReading{read: true, c: c}})
	}
	return h
}

func TestGoldenFullListener(t *testing.T) {
	checkGoldens(t, "listener_full_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := listenHarness(t, noColor)
		// Off the full row, so its own style shows.
		h.selectRow("ESTABLISHED", func(s *collect.Socket) bool { return s.State == collect.StateEstablished })
		return h
	})
	checkGoldens(t, "listener_detail_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := listenHarness(t, noColor)
		h.selectRow("the full listener", func(s *collect.Socket) bool { return s.Inode == 7001 })
		h.key("enter")
		return h
	})
}

// TestFullListenerMarks checks the model's view of the table: only the
// listener over its backlog is full, the header counts it and the rates,
// and a rate that did not move is not shown.
func TestFullListenerMarks(t *testing.T) {
	h := listenHarness(t, true)
	for _, r := range h.m.rows {
		if want := r.s.Inode == 7001; r.full != want {
			t.Errorf("%v %v: full %v, want %v", r.s.State, r.s.Local, r.full, want)
		}
	}
	head := strings.Split(h.screen(), "\n")[2]
	for _, want := range []string{"! 1 accept queue full", "overflows 12/s", "listen drops 12/s", "SYN cookies 3.0/s"} {
		if !strings.Contains(head, want) {
			t.Errorf("header line %q lacks %q", head, want)
		}
	}
	if strings.Contains(head, "SYN-queue drops") {
		t.Errorf("a counter that did not move is shown: %q", head)
	}
	h.selectRow("the full listener", func(s *collect.Socket) bool { return s.Inode == 7001 })
	h.key("enter")
	if scr := h.screen(); !strings.Contains(scr, "Accept queue  129/128 FULL") || !strings.Contains(scr, "SYN queue     2") {
		t.Errorf("detail view:\n%s", scr)
	}
	h.key("esc")
	// A queue at its backlog still takes one more: not full.
	snap := listenTable(t0.Add(2 * time.Second))
	snap.Sockets[0].RecvQ = 128
	h.feed(snap)
	for _, r := range h.m.rows {
		if r.full {
			t.Errorf("%v at 128/128 is marked full", r.s.Local)
		}
	}
	if strings.Contains(h.screen(), "accept queue full") {
		t.Errorf("no listener is full, the header says one is:\n%s", h.screen())
	}
}
