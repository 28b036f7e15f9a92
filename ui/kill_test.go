//go:build linux

package ui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// livePair is a connected TCP pair on the test binary's own 127.a.b.c,
// and a real snapshot holding its two ends only (the listener is closed).
func livePair(t *testing.T) (client, server *net.TCPConn, port int, snap collect.Snapshot) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("killing needs CAP_NET_ADMIN")
	}
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()}}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln.Close()
	src := collect.NewNetlink(collect.Options{TCP: true})
	defer src.Close()
	full, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	snap = full
	snap.Sockets = nil
	for _, so := range full.Sockets {
		if so.Local.Addr() == kerneltest.Addr4 && so.State == collect.StateEstablished &&
			(so.Local.Port() == uint16(port) || so.Remote.Port() == uint16(port)) {
			snap.Sockets = append(snap.Sockets, so)
		}
	}
	if len(snap.Sockets) != 2 {
		t.Fatalf("want the pair's two ends in the dump, got %+v", snap.Sockets)
	}
	return c.(*net.TCPConn), s, port, snap
}

func readErrConn(c *net.TCPConn) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 8))
	return err
}

func aliveConn(t *testing.T, a, b *net.TCPConn) {
	t.Helper()
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := readErrConn(b); err != nil {
		t.Fatalf("the connection is dead: %v", err)
	}
}

// selectLocal moves the selection to the row whose local end is local.
func selectLocal(t *testing.T, h *harness, local string) {
	t.Helper()
	h.key("g")
	for range h.m.rows {
		if h.m.rows[h.m.selected].s.Local.String() == local {
			return
		}
		h.key("j")
	}
	t.Fatalf("no row with local %s", local)
}

// deliver runs the kill's Cmd and hands its answer to Update.
func deliver(t *testing.T, h *harness, cmd tea.Cmd) {
	t.Helper()
	for _, msg := range run(cmd) {
		if done, ok := msg.(killDoneMsg); ok {
			h.send(done)
			return
		}
	}
	t.Fatal("the kill's Cmd gave no killDoneMsg")
}

// TestKillSelectedRow: K asks about the selected row, naming it and the
// effect, with no I/O; y returns the kill as a Cmd (the connection lives
// until it runs); its answer goes to the flash line, and the peer got
// the RST.
func TestKillSelectedRow(t *testing.T) {
	c, s, _, snap := livePair(t)
	h := newHarness(t, Config{}, snap)
	h.send(tea.WindowSizeMsg{Width: 160, Height: 40})
	h.feed(snap)
	selectLocal(t, h, c.LocalAddr().String())
	if cmd := h.key("K"); cmd != nil {
		t.Errorf("K returned a Cmd: the question needs none")
	}
	screen := h.screen()
	for _, want := range []string{"kill tcp " + c.LocalAddr().String() + " → " + c.RemoteAddr().String(), "y: yes", "RST", "ECONNABORTED"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the question lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "a: all") {
		t.Errorf("all filtered offered with no filter:\n%s", screen)
	}
	cmd := h.key("y")
	if cmd == nil {
		t.Fatal("y returned no Cmd")
	}
	aliveConn(t, c, s) // Update killed nothing itself
	deliver(t, h, cmd)
	if !strings.Contains(h.screen(), "killed tcp "+c.LocalAddr().String()) {
		t.Errorf("no result in the flash line:\n%s", h.screen())
	}
	if err := readErrConn(s); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the peer's read: %v, want ECONNRESET", err)
	}
	if err := readErrConn(c); !errors.Is(err, syscall.ECONNABORTED) {
		t.Errorf("the killed end's read: %v, want ECONNABORTED", err)
	}
}

// TestKillFilteredRows: with a filter active, the question offers every
// filtered row, and a kills them all.
func TestKillFilteredRows(t *testing.T) {
	c, s, port, snap := livePair(t)
	h := newHarness(t, Config{Filter: fmt.Sprintf("src %s and (sport = :%d or dport = :%d)", kerneltest.Addr4, port, port)}, snap)
	h.send(tea.WindowSizeMsg{Width: 160, Height: 40})
	h.feed(snap)
	if len(h.m.rows) != 2 {
		t.Fatalf("%d rows, want the pair's 2", len(h.m.rows))
	}
	h.key("K")
	if !strings.Contains(h.screen(), "a: all 2 filtered") {
		t.Fatalf("the question does not offer the 2 filtered rows:\n%s", h.screen())
	}
	cmd := h.key("a")
	if cmd == nil {
		t.Fatal("a returned no Cmd")
	}
	deliver(t, h, cmd)
	if !strings.Contains(h.screen(), "killed 2 sockets") {
		t.Errorf("no result in the flash line:\n%s", h.screen())
	}
	for _, conn := range []*net.TCPConn{c, s} {
		if err := readErrConn(conn); err == nil {
			t.Errorf("%s is still alive", conn.LocalAddr())
		}
	}
}

// TestKillNo: any key but y and a is no; nothing is killed.
func TestKillNo(t *testing.T) {
	c, s, _, snap := livePair(t)
	h := newHarness(t, Config{}, snap)
	h.send(tea.WindowSizeMsg{Width: 160, Height: 40})
	h.feed(snap)
	for _, k := range []string{"n", "esc", "a", "j"} {
		h.key("K")
		if cmd := h.key(k); cmd != nil {
			t.Errorf("%s after K returned a Cmd", k)
		}
		if !strings.Contains(h.screen(), "not killed") {
			t.Errorf("%s after K: no \"not killed\":\n%s", k, h.screen())
		}
	}
	aliveConn(t, c, s)
	aliveConn(t, s, c)
}

// TestKillFailureExplained: a row whose socket has gone since the
// snapshot: the kernel finds nothing, and the flash line says so.
func TestKillFailureExplained(t *testing.T) {
	c, s, _, snap := livePair(t)
	h := newHarness(t, Config{}, snap)
	h.send(tea.WindowSizeMsg{Width: 200, Height: 40})
	h.feed(snap)
	selectLocal(t, h, c.LocalAddr().String())
	c.SetLinger(0) // an RST, no TIME_WAIT left on the 4-tuple
	c.Close()
	if err := readErrConn(s); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the peer did not see the close: %v", err)
	}
	h.key("K")
	deliver(t, h, h.key("y"))
	if screen := h.screen(); !strings.Contains(screen, "killed 0 of 1 socket") || !strings.Contains(screen, "already gone") {
		t.Errorf("the failure is not explained:\n%s", screen)
	}
}

// TestKillOnlyTCPAndUDP: K on a Unix socket's row says why not, and asks
// nothing.
func TestKillOnlyTCPAndUDP(t *testing.T) {
	snap := fixture()
	snap.Sockets = append(snap.Sockets[:0], collect.Socket{Proto: collect.Unix, Type: collect.SockStream,
		State: collect.StateEstablished, Path: "/run/test.sock", Inode: 7})
	h := newHarness(t, Config{}, snap)
	h.send(tea.WindowSizeMsg{Width: 120, Height: 30})
	h.feed(snap)
	h.key("K")
	if h.m.kill.asking || !strings.Contains(h.screen(), "only TCP and UDP") {
		t.Errorf("K on a Unix row:\n%s", h.screen())
	}
}
