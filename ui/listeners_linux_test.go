//go:build linux

package ui

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// tcpFD makes a TCP socket closed at the test's end.
func tcpFD(t *testing.T, flags int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestFullListenerLive fills a backlog-1 listener that never accepts and
// checks the live view, on the kernel's snapshots and counters: the
// listener's row is marked and styled full, its detail view shows the
// queues, and the header shows the overflow rate once a late client's SYN
// is dropped.
func TestFullListenerLive(t *testing.T) {
	addr := kerneltest.Addr4.As4()
	l := tcpFD(t, 0)
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: addr}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(l)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	var st unix.Stat_t
	if err := unix.Fstat(l, &st); err != nil {
		t.Fatal(err)
	}
	inode := uint32(st.Ino)
	for range 2 {
		c := tcpFD(t, 0)
		if err := unix.Connect(c, &unix.SockaddrInet4{Addr: addr, Port: port}); err != nil {
			t.Fatal(err)
		}
	}

	src, err := collect.NewSource("netlink", collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.(interface{ Close() error }).Close() })
	var h *harness
	reads := 0
	read := func() (collect.ListenCounters, error) {
		if h.updating.Load() {
			t.Error("the listen counters were read within Update")
		}
		reads++
		return collect.ReadListenCounters("")
	}
	h = newHarness(t, Config{Source: src, NoColor: true, ListenCounters: read,
		Filter: "sport = :" + strconv.Itoa(port)})
	h.send(windowSize(120, 30))
	refresh := func() {
		for _, msg := range run(h.m.collectCmd()) {
			h.send(msg)
		}
	}
	// The filter narrows the table; the row is the listener's by inode.
	listenerRow := func() *row {
		for i := range h.m.rows {
			if h.m.rows[i].s.Inode == inode && h.m.rows[i].s.State == collect.StateListen {
				return &h.m.rows[i]
			}
		}
		return nil
	}
	waitfor.Until(t, 10*time.Second, "the listener's accept queue to fill", func() bool {
		refresh()
		r := listenerRow()
		return r != nil && r.s.RecvQ == 2
	})
	r := listenerRow()
	if !r.full {
		t.Fatalf("Recv-Q 2 over backlog %d: the row is not marked full", r.s.SendQ)
	}
	line := ""
	for _, ln := range strings.Split(h.screen(), "\n") {
		if strings.Contains(ln, ":"+strconv.Itoa(port)) && strings.Contains(ln, "LISTEN") {
			line = ln
		}
	}
	if !strings.HasPrefix(line, string(fullChar)) {
		t.Errorf("the full listener's line does not start with %q:\n%s", fullChar, h.screen())
	}
	if !strings.Contains(h.screen(), "accept queue") {
		t.Errorf("the header does not say an accept queue is full:\n%s", h.screen())
	}

	for i := range h.m.rows {
		if &h.m.rows[i] == r {
			h.m.selected, h.m.selKey = i, r.s.Key()
		}
	}
	h.key("enter")
	scr := h.screen()
	if !strings.Contains(scr, "Accept queue  2/1 FULL") || !strings.Contains(scr, "SYN queue") {
		t.Errorf("the detail view does not show the queues:\n%s", scr)
	}
	h.key("esc")

	// A SYN that finds the queue full is dropped and counted.
	late := tcpFD(t, unix.SOCK_NONBLOCK)
	if err := unix.SetsockoptInt(late, unix.IPPROTO_TCP, unix.TCP_SYNCNT, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(late, &unix.SockaddrInet4{Addr: addr, Port: port}); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		t.Fatal(err)
	}
	waitfor.Until(t, 10*time.Second, "the header to show the overflow rate", func() bool {
		refresh()
		return strings.Contains(h.screen(), "overflows ")
	})
	if reads < 2 {
		t.Errorf("%d readings of the counters, and yet a rate", reads)
	}
}
