package ui

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"strconv"
)

// tcpInfoRecorder is the real netlink source, recording every call of
// SetTCPInfo, so the test sees what the view asked of it and when.
type tcpInfoRecorder struct {
	*collect.Netlink
	mu    sync.Mutex
	calls []bool
}

func (r *tcpInfoRecorder) SetTCPInfo(on bool) {
	r.mu.Lock()
	r.calls = append(r.calls, on)
	r.mu.Unlock()
	r.Netlink.SetTCPInfo(on)
}

// takeCalls returns the calls since the last takeCalls.
func (r *tcpInfoRecorder) takeCalls() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// collectOnce runs one collection as the loop does: the Cmd off Update,
// its message through Update.
func (h *harness) collectOnce() {
	h.t.Helper()
	for _, msg := range run(h.m.collectCmd()) {
		h.send(msg)
	}
}

// TestRatesKeyTogglesColumnsAndTCPInfo presses t on a live view of a real
// loopback connection: the columns appear, the next collection turns
// tcp_info on in the source, the first snapshot's rates are unknown and
// the second's known; t again hides the columns and the next collection
// turns tcp_info off.
func TestRatesKeyTogglesColumnsAndTCPInfo(t *testing.T) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()}}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln.Close()
	// The view's rows are the connection's two ends: this test binary's
	// own address, the listener's port, and not an earlier run's
	// TIME_WAIT.
	port := ln.Addr().(*net.TCPAddr).Port
	src := &tcpInfoRecorder{Netlink: collect.NewNetlink(collect.Options{TCP: true})}
	defer src.Close()
	h := newHarness(t, Config{Source: src, Filter: fmt.Sprintf("src %s and (sport = :%d or dport = :%d) and state established",
		kerneltest.Addr4, port, port)})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 20})

	h.collectOnce()
	if calls := src.takeCalls(); len(calls) != 1 || calls[0] {
		t.Fatalf("SetTCPInfo calls before t: %v; want [false]", calls)
	}
	if len(h.m.rows) != 2 {
		t.Fatalf("%d rows; want the connection's two ends:\n%s", len(h.m.rows), h.screen())
	}
	for _, r := range h.m.rows {
		if r.s.Info != nil {
			t.Fatalf("tcp_info fetched before the rate columns were shown")
		}
	}
	if strings.Contains(h.screen(), "Send/s") {
		t.Fatalf("rate columns shown before t:\n%s", h.screen())
	}

	h.key("t")
	if scr := h.screen(); !strings.Contains(scr, "Send/s") || !strings.Contains(scr, "Recv/s") {
		t.Fatalf("t did not show the rate columns:\n%s", scr)
	}
	h.collectOnce()
	if calls := src.takeCalls(); len(calls) != 1 || !calls[0] {
		t.Fatalf("SetTCPInfo calls after t: %v; want [true]", calls)
	}
	for _, r := range h.m.rows {
		if r.s.Info == nil {
			t.Fatalf("no tcp_info on %v after t", r.s.Key())
		}
		if r.s.Rate != nil {
			t.Errorf("%v: a rate from the first snapshot with tcp_info; want unknown", r.s.Key())
		}
	}
	if n := rateCells(h, "?"); n != 2 {
		t.Errorf("%d rows show ? for both rates; want 2 (unknown, never 0):\n%s", n, h.screen())
	}

	payload := make([]byte, 100_000)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if _, err := readFull(s, len(payload)); err != nil {
		t.Fatal(err)
	}
	// Snapshots stamped apart, however fast this host runs the test.
	time.Sleep(20 * time.Millisecond)
	h.collectOnce()
	src.takeCalls()
	sent := false
	for _, r := range h.m.rows {
		if r.s.Rate == nil {
			t.Fatalf("%v: no rate from the second snapshot with tcp_info", r.s.Key())
		}
		sent = sent || r.s.Rate.Send > 0
	}
	if !sent {
		t.Errorf("no row shows the 100 kB sent between the snapshots: %+v", h.m.rows)
	}
	if n := rateCells(h, "?"); n != 0 {
		t.Errorf("%d rows still show ? once the rates are known:\n%s", n, h.screen())
	}

	h.key("t")
	if strings.Contains(h.screen(), "Send/s") {
		t.Fatalf("t again did not hide the rate columns:\n%s", h.screen())
	}
	h.collectOnce()
	if calls := src.takeCalls(); len(calls) != 1 || calls[0] {
		t.Fatalf("SetTCPInfo calls after the second t: %v; want [false]", calls)
	}
	for _, r := range h.m.rows {
		if r.s.Info != nil || r.s.Rate != nil {
			t.Errorf("%v: tcp_info or a rate after the columns were hidden", r.s.Key())
		}
	}
}

// rateCells counts the table rows whose last two cells before Process
// are both cell, by the title row's columns.
func rateCells(h *harness, cell string) int {
	lines := strings.Split(h.screen(), "\n")
	n := 0
	for _, l := range lines {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == cell && f[i+1] == cell {
				n++
				break
			}
		}
	}
	return n
}

// readFull reads n bytes from c.
func readFull(c net.Conn, n int) (int, error) {
	buf := make([]byte, 64<<10)
	got := 0
	for got < n {
		k, err := c.Read(buf)
		got += k
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// ratesFixture is the golden fixture with rates on its ESTABLISHED
// connections: known on most, unknown (tcp_info, one snapshot) on one;
// the TIME_WAIT, LISTEN and UDP rows have no tcp_info.
func ratesFixture() collect.Snapshot {
	s := fixtureNext()
	rates := []collect.Rate{{Send: 2_000_000, Recv: 1_250}, {Send: 0, Recv: 999_600}, {Send: 12_345_678, Recv: 512}, {Send: 1.5e9, Recv: 75_000}}
	k := 0
	for i := range s.Sockets {
		so := &s.Sockets[i]
		if so.Proto != collect.TCP || so.State != collect.StateEstablished {
			continue
		}
		so.Info = &collect.TCPInfo{}
		if k%5 != 4 {
			r := rates[k%len(rates)]
			so.Rate = &r
		}
		k++
	}
	return s
}

// TestGoldenRates is the table with the rate columns, sorted by Send/s
// descending, wide and at 80 columns.
func TestGoldenRates(t *testing.T) {
	for _, sz := range [][2]int{{120, 30}, {80, 24}} {
		name := "rates_" + strconv.Itoa(sz[0]) + "x" + strconv.Itoa(sz[1])
		checkGoldens(t, name, sz[0], sz[1], func(t *testing.T, noColor bool) *harness {
			h := newHarness(t, Config{NoColor: noColor, Rates: true})
			h.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			h.feed(fixture())
			h.feed(ratesFixture())
			h.m.table.sortCol, h.m.table.sortDesc = colSendRate, true
			h.m.rebuildRows()
			h.m.render()
			return h
		})
	}
}
