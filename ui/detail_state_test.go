package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
)

// Every TCP and UDP state a table shows has a meaning that fits one line
// of an 80-column detail view; a Unix socket has none.
func TestStateMeaningEveryState(t *testing.T) {
	for st := collect.State(1); st < collect.NumStates; st++ {
		for _, proto := range []collect.Proto{collect.TCP, collect.UDP} {
			if proto == collect.TCP && st == collect.StateUnconn {
				continue
			}
			if proto == collect.UDP && st != collect.StateUnconn && st != collect.StateEstablished {
				continue
			}
			s := tcpSock(st, 8080, 40000)
			s.Proto = proto
			m := stateMeaning(&s)
			if m == "" {
				t.Errorf("%s %s has no meaning", proto, st)
			}
			if w := ansi.StringWidth(m); w > 80-detailLabel-3 {
				t.Errorf("%s %s: %q is %d cells, over one line at 80 columns", proto, st, m, w)
			}
		}
	}
	u := collect.Socket{Proto: collect.Unix, State: collect.StateEstablished}
	if m := stateMeaning(&u); m != "" {
		t.Errorf("a Unix socket has a meaning: %q", m)
	}
}

// A CLOSE_WAIT's meaning names the program whose close it waits for; an
// orphaned FIN_WAIT_2 says the kernel ends it, one with a descriptor that
// the other end must close.
func TestStateMeaningNamesWhoActs(t *testing.T) {
	cw := tcpSock(collect.StateCloseWait, 41000, 8080)
	cw.Inode = 7001
	cw.Owners = []collect.Owner{{PID: 1234, Name: "nginx"}}
	h := newHarness(t, Config{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 30})
	h.feed(collect.Snapshot{Taken: t0, Owners: collect.OwnersComplete, Sockets: []collect.Socket{cw}})
	h.key("enter")
	if scr := h.screen(); !strings.Contains(scr, "Meaning       the peer closed; it stays until nginx/1234 closes it") {
		t.Errorf("the CLOSE_WAIT detail does not name who must close:\n%s", scr)
	}

	fw := tcpSock(collect.StateFinWait2, 8080, 41000)
	if m := stateMeaning(&fw); !strings.Contains(m, "tcp_fin_timeout") {
		t.Errorf("an orphaned FIN_WAIT_2 (inode 0): %q", m)
	}
	fw.Inode = 7002
	if m := stateMeaning(&fw); strings.Contains(m, "tcp_fin_timeout") || !strings.Contains(m, "other end to close") {
		t.Errorf("a FIN_WAIT_2 with a descriptor: %q", m)
	}
	fw.Inode, fw.Unknown = 0, collect.FieldInode
	if m := stateMeaning(&fw); strings.Contains(m, "orphaned") {
		t.Errorf("a FIN_WAIT_2 whose inode is unknown is called orphaned: %q", m)
	}
}
