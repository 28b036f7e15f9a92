//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// fullListener is a listener of backlog 1 that never accepts, with two
// connections queued: its accept queue is over its backlog.
func fullListener(t *testing.T) (fd, port int) {
	t.Helper()
	sock := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	addr := kerneltest.Addr4.As4()
	fd = sock()
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port = sa.(*unix.SockaddrInet4).Port
	for range 2 {
		if err := unix.Connect(sock(), &unix.SockaddrInet4{Addr: addr, Port: port}); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			t.Fatal(err)
		}
	}
	return fd, port
}

type listenerRow struct {
	Inode       uint32  `json:"inode"`
	State       string  `json:"state"`
	AcceptQueue *uint32 `json:"accept_queue"`
	Backlog     *uint32 `json:"backlog"`
	Full        *bool   `json:"full"`
	SynQueue    *int    `json:"syn_queue"`
}

func TestOnceListenersJSON(t *testing.T) {
	l, port := fullListener(t)
	in := fdInode(t, l)
	var row *listenerRow
	var doc struct {
		Counters  map[string]any `json:"counters"`
		Listeners []listenerRow  `json:"listeners"`
	}
	waitfor.Until(t, 10*time.Second, "the listener's accept queue to fill", func() bool {
		var out, errb bytes.Buffer
		// The filter keeps our port; the row is ours by inode.
		if code := run([]string{"--once", "--listeners", "--json", "sport", "=", ":" + strconv.Itoa(port)}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out.String())
		}
		row = nil
		for i := range doc.Listeners {
			if doc.Listeners[i].Inode == in {
				row = &doc.Listeners[i]
			}
		}
		return row != nil && row.AcceptQueue != nil && *row.AcceptQueue == 2
	})
	if row.State != "LISTEN" || row.Backlog == nil || *row.Backlog != 1 || row.Full == nil || !*row.Full || row.SynQueue == nil {
		t.Errorf("listener %+v: want LISTEN, backlog 1, full, a syn_queue", row)
	}
	for _, k := range []string{"listen_overflows", "listen_drops"} {
		if _, num := doc.Counters[k].(float64); !num {
			t.Errorf("counters lack %s: %v", k, doc.Counters)
		}
	}

	var out, errb bytes.Buffer
	if code := run([]string{"--once", "--listeners", "sport", "=", ":" + strconv.Itoa(port)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	found := false
	for _, ln := range lines {
		if strings.Contains(ln, kerneltest.Addr4.String()+":"+strconv.Itoa(port)) {
			found = true
			if !strings.HasPrefix(ln, "! ") || !strings.Contains(ln, " 2/1 ") {
				t.Errorf("the full listener's line %q does not start with ! and show 2/1", ln)
			}
		}
	}
	if !found || !strings.HasPrefix(lines[len(lines)-1], "ListenOverflows ") {
		t.Errorf("table:\n%s", out.String())
	}
	if code := run([]string{"--listeners", "-s"}, &out, &errb); code != 2 {
		t.Errorf("--listeners -s: exit %d, want 2", code)
	}
}
