package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
)

// TestDetailUnix: the table shows a Unix row whole, and its detail view
// names the path, the other end and the other end's owner: who is
// connected to the server's socket.
func TestDetailUnix(t *testing.T) {
	snap := fixture()
	const path = "/run/postgresql/.s.PGSQL.5432"
	snap.Sockets = append(snap.Sockets,
		collect.Socket{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateEstablished, Path: path,
			Inode: 9001, PeerInode: 9002, Owners: []collect.Owner{{PID: 70, Name: "postgres"}}},
		collect.Socket{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateEstablished,
			Inode: 9002, PeerInode: 9001, Owners: []collect.Owner{{PID: 71, Name: "psql"}}},
		collect.Socket{Proto: collect.Unix, Type: collect.SockDgram, State: collect.StateUnconn, Path: "@socktop-dg", Inode: 9003})
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 140, Height: 40})
	h.feed(snap)
	scr := h.screen()
	for _, want := range []string{"u_str", path + ":9001", "*:9001", "u_dgr", "@socktop-dg:9003"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("table lacks %q:\n%s", want, scr)
		}
	}
	// Narrower, the Narrow form's Netid and the inode kept as a port is.
	h.send(tea.WindowSizeMsg{Width: 80, Height: 40})
	scr = h.screen()
	for _, want := range []string{"u_s ", "…:9001", "u_d ", "@socktop-dg:9003"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("80 columns: table lacks %q:\n%s", want, scr)
		}
	}
	h.send(tea.WindowSizeMsg{Width: 140, Height: 40})
	h.selectRow("the postgres end", func(s *collect.Socket) bool { return s.Inode == 9001 })
	h.key("enter")
	scr = h.screen()
	for _, want := range []string{"Socket unix stream " + path + " (inode 9001)", "Path", "inode 9002", "unix stream unnamed (inode 9002)", "psql/71", "postgres/70"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("detail lacks %q:\n%s", want, scr)
		}
	}
	if strings.Contains(scr, "0.0.0.0") || strings.Contains(scr, "IPv0") {
		t.Errorf("a Unix socket's detail shows an address:\n%s", scr)
	}
	h.key("esc")
	h.selectRow("the dgram socket", func(s *collect.Socket) bool { return s.Inode == 9003 })
	h.key("enter")
	scr = h.screen()
	if !strings.Contains(scr, "abstract name") || strings.Contains(scr, "the other end, on this host") {
		t.Errorf("the unconnected dgram socket's detail:\n%s", scr)
	}
}
