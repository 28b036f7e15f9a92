package ui

import (
	"net/netip"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
)

// The sockets of peerFixture, by inode.
const (
	inoPsql     = 7001 // the client of a loopback TCP connection
	inoPostgres = 7002 // its accepted server end
	inoUnixA    = 7003 // the two ends of a Unix stream pair
	inoUnixB    = 7004
	inoFar      = 7005 // a connection to another host
	inoLonely   = 7006 // a local connection whose other end is not listed
)

// peerFixture is the golden fixture with both ends of a loopback TCP
// connection (psql to postgres on 127.0.0.1:5432), a Unix pair, a
// connection to another host and a local one without its other end.
func peerFixture() collect.Snapshot {
	s := fixture()
	c := tcpSock(collect.StateEstablished, 41000, 5432)
	c.Inode, c.Cookie, c.SendQ = inoPsql, 11, 0
	c.Owners = []collect.Owner{{PID: 41, Name: "psql"}}
	srv := tcpSock(collect.StateEstablished, 5432, 41000)
	srv.Inode, srv.Cookie, srv.RecvQ = inoPostgres, 12, 17
	srv.Owners = []collect.Owner{{PID: 40, Name: "postgres"}}
	far := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Inode: inoFar,
		Local: netip.MustParseAddrPort("192.0.2.2:41001"), Remote: netip.MustParseAddrPort("198.51.100.7:443")}
	lonely := tcpSock(collect.StateSynSent, 41002, 6000)
	lonely.Inode = inoLonely
	ua := collect.Socket{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateEstablished,
		Path: "/run/socktop-test.sock", Inode: inoUnixA, PeerInode: inoUnixB, Owners: []collect.Owner{{PID: 50, Name: "dockerd"}}}
	ub := collect.Socket{Proto: collect.Unix, Type: collect.SockStream, State: collect.StateEstablished,
		Inode: inoUnixB, PeerInode: inoUnixA, SendQ: 3, Owners: []collect.Owner{{PID: 51, Name: "docker"}}}
	s.Sockets = append(s.Sockets, c, srv, far, lonely, ua, ub)
	return s
}

func byInode(in uint32) func(*collect.Socket) bool {
	return func(s *collect.Socket) bool { return s.Inode == in }
}

// selectedInode is the inode of the selected row.
func (h *harness) selectedInode() uint32 {
	h.t.Helper()
	if len(h.m.rows) == 0 {
		h.t.Fatal("no rows")
	}
	return h.m.rows[h.m.selected].s.Inode
}

// TestPeerKeyTable: p moves the selection to the other end of a loopback
// TCP connection and back, and between the ends of a Unix pair; the flash
// line names the other end's owner.
func TestPeerKeyTable(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(peerFixture())
	for _, c := range [][2]uint32{{inoPsql, inoPostgres}, {inoUnixB, inoUnixA}} {
		h.selectRow("the first end", byInode(c[0]))
		h.key("p")
		if got := h.selectedInode(); got != c[1] {
			t.Fatalf("p from inode %d selected inode %d, want %d (flash %q)", c[0], got, c[1], h.m.flash)
		}
		if h.m.selKey != h.m.rows[h.m.selected].s.Key() {
			t.Errorf("selKey %v does not follow the selection", h.m.selKey)
		}
		h.key("p")
		if got := h.selectedInode(); got != c[0] {
			t.Errorf("p again selected inode %d, want %d back", got, c[0])
		}
	}
	h.selectRow("psql", byInode(inoPsql))
	h.key("p")
	if !strings.Contains(h.screen(), "p: the other end, tcp 127.0.0.1:5432 (postgres/40)") {
		t.Errorf("the flash line does not name the other end:\n%s", h.screen())
	}
	// The selected row stays in the window: it was scrolled to.
	if h.m.selected < h.m.table.offset || h.m.selected >= h.m.table.offset+h.m.table.visibleRows() {
		t.Errorf("row %d is selected outside the window %d+%d", h.m.selected, h.m.table.offset, h.m.table.visibleRows())
	}
}

// TestPeerKeyNoPeer: without another end to go to, p leaves the
// selection where it is and says why.
func TestPeerKeyNoPeer(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	snap := peerFixture()
	// A Unix end whose other end is not listed (another namespace).
	snap.Sockets = append(snap.Sockets, collect.Socket{Proto: collect.Unix, Type: collect.SockStream,
		State: collect.StateEstablished, Inode: 7010, PeerInode: 7011})
	h.feed(snap)
	for _, c := range []struct {
		what  string
		match func(*collect.Socket) bool
		flash string
	}{
		{"the remote connection", byInode(inoFar), "p: not local: the other end is on another host"},
		{"the lonely one", byInode(inoLonely), "p: peer not found (closed, or in another namespace)"},
		{"a listener", func(s *collect.Socket) bool { return s.State == collect.StateListen }, "p: a listener has no other end"},
		{"the unconnected UDP socket", func(s *collect.Socket) bool { return s.State == collect.StateUnconn }, "p: not connected"},
		{"the Unix end alone", byInode(7010), "p: peer not found (closed, or in another namespace)"},
	} {
		h.selectRow(c.what, c.match)
		sel := h.m.selected
		h.key("p")
		if h.m.selected != sel {
			t.Errorf("%s: p moved the selection", c.what)
		}
		if !strings.HasPrefix(h.m.flash, c.flash) || !strings.Contains(h.screen(), c.flash) {
			t.Errorf("%s: flash %q, want %q", c.what, h.m.flash, c.flash)
		}
	}
	h.key("enter")
	if scr := h.screen(); !strings.Contains(scr, "Peer          inode 7011 (not found: closed, or in another namespace)") {
		t.Errorf("the detail of a Unix end whose other end is not listed:\n%s", scr)
	}
}

// TestPeerKeyFiltered: when the filter hides the other end, p says so in
// the flash line and changes neither the filter nor the selection.
func TestPeerKeyFiltered(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.feed(peerFixture())
	h.key("/")
	h.typeText("sport = :41000")
	h.key("enter")
	if h.m.filterText != "sport = :41000" || len(h.m.rows) != 1 {
		t.Fatalf("filter %q left %d rows", h.m.filterText, len(h.m.rows))
	}
	h.key("p")
	const want = "p: the other end, tcp 127.0.0.1:5432 (postgres/40), is not listed: the filter hides it"
	if !strings.HasPrefix(h.m.flash, want) {
		t.Errorf("flash %q, want %q", h.m.flash, want)
	}
	if h.m.filterText != "sport = :41000" || h.selectedInode() != inoPsql {
		t.Errorf("p changed the filter (%q) or the selection (inode %d)", h.m.filterText, h.selectedInode())
	}
	// The command line's flags hide it the same way, and are named: -4
	// hides a server end accepted by a dual-stack listener, which is
	// IPv6 with v4-mapped addresses.
	h = newHarness(t, Config{Narrow: Narrow{IPv4: true}})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	snap := peerFixture()
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Inode == inoPostgres {
			s.Family = 6
			s.Local = netip.MustParseAddrPort("[::ffff:127.0.0.1]:5432")
			s.Remote = netip.MustParseAddrPort("[::ffff:127.0.0.1]:41000")
		}
	}
	h.feed(snap)
	h.selectRow("psql", byInode(inoPsql))
	h.key("p")
	const wantFlags = "p: the other end, tcp [::ffff:127.0.0.1]:5432 (postgres/40), is not listed: the command line's flags hide it"
	if h.m.flash != wantFlags {
		t.Errorf("flash %q, want %q", h.m.flash, wantFlags)
	}
	// A UDP socket on the same ports is not a TCP socket's other end.
	h = newHarness(t, Config{})
	snap = peerFixture()
	for i := range snap.Sockets {
		if s := &snap.Sockets[i]; s.Inode == inoPsql {
			s.Proto = collect.UDP
		}
	}
	h.feed(snap)
	h.selectRow("the UDP one", byInode(inoPsql))
	h.key("p")
	if !strings.HasPrefix(h.m.flash, "p: peer not found") {
		t.Errorf("a UDP socket found a TCP peer: flash %q", h.m.flash)
	}
}

// TestPeerKeyDetail: in the detail view, p shows the other end's detail,
// and the Peer section names the first end; esc goes back to the table
// with the other end selected.
func TestPeerKeyDetail(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 50})
	h.feed(peerFixture())
	h.selectRow("psql", byInode(inoPsql))
	h.key("enter")
	scr := h.screen()
	for _, want := range []string{"Socket tcp 127.0.0.1:41000 -> 127.0.0.1:5432", "Peer (the other end",
		"Socket        tcp 127.0.0.1:5432 -> 127.0.0.1:41000 (inode 7002)", "ESTABLISHED, Recv-Q 17, Send-Q 0", "postgres/40", "p other end"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("the detail of psql's end lacks %q:\n%s", want, scr)
		}
	}
	h.key("p")
	if h.m.mode != modeDetail || h.m.detail.sock.Inode != inoPostgres {
		t.Fatalf("after p: mode %d, detail of inode %d; want the detail of postgres's end", h.m.mode, h.m.detail.sock.Inode)
	}
	scr = h.screen()
	for _, want := range []string{"Socket tcp 127.0.0.1:5432 -> 127.0.0.1:41000", "Socket        tcp 127.0.0.1:41000 -> 127.0.0.1:5432", "psql/41"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the detail of postgres's end lacks %q:\n%s", want, scr)
		}
	}
	// A refresh keeps the view on the other end, with its peer.
	h.feed(peerFixture())
	if h.m.detail.sock.Inode != inoPostgres || h.m.detail.peer.Inode != inoPsql {
		t.Errorf("after a refresh the detail shows inode %d with peer %d", h.m.detail.sock.Inode, h.m.detail.peer.Inode)
	}
	h.key("esc")
	if h.m.mode != modeTable || h.selectedInode() != inoPostgres {
		t.Errorf("esc: mode %d, selected inode %d; want the table on postgres's end", h.m.mode, h.selectedInode())
	}
	// A Unix pair's detail shows the other end's name, queue and owner.
	h.selectRow("the unnamed end", byInode(inoUnixB))
	h.key("enter")
	scr = h.screen()
	for _, want := range []string{"inode 7003", "unix stream /run/socktop-test.sock (inode 7003)", "dockerd/50"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the Unix end's detail lacks %q:\n%s", want, scr)
		}
	}
	h.key("p")
	if h.m.detail.sock.Inode != inoUnixA || !strings.Contains(h.screen(), "docker/51") {
		t.Errorf("p in a Unix detail: inode %d\n%s", h.m.detail.sock.Inode, h.screen())
	}
	// Without another end, the detail says why and p offers nothing.
	h.key("esc")
	h.selectRow("the remote connection", byInode(inoFar))
	h.key("enter")
	scr = h.screen()
	if !strings.Contains(scr, "Peer          not local (the other end is on another host)") || strings.Contains(scr, "p other end") {
		t.Errorf("the detail of a connection to another host:\n%s", scr)
	}
	h.key("p")
	if h.m.detail.sock.Inode != inoFar || !strings.Contains(h.screen(), "p: not local") {
		t.Errorf("p without a peer left the view on inode %d:\n%s", h.m.detail.sock.Inode, h.screen())
	}
}

// TestGoldenDetailPeer is the detail view of one end of a loopback TCP
// connection, with the Peer section naming the other.
func TestGoldenDetailPeer(t *testing.T) {
	checkGoldens(t, "detail_peer_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := newHarness(t, Config{NoColor: noColor})
		h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
		h.feed(peerFixture())
		h.selectRow("psql", byInode(inoPsql))
		h.key("enter")
		return h
	})
}
