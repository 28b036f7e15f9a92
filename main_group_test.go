//go:build unix

package main

import (
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// groupTable makes, on this test binary's own address, a listener with
// five connections, two of which the server closed first (TIME_WAIT on
// the listener's port). It returns the listener's port.
func groupTable(t *testing.T) int {
	t.Helper()
	ln, port := listen(t, "tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()}}
	for i := range 5 {
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		if i < 2 {
			s.Close()
			io.Copy(io.Discard, c)
			c.Close()
		}
	}
	return port
}

// `--json --group-by port` groups this test's sockets on their port: the
// listener, three established connections and two TIME_WAITs, owned by
// this process; the filter keeps other programs' sockets out.
func TestJSONGroupByPort(t *testing.T) {
	port := groupTable(t)
	type jg struct {
		Key    string         `json:"key"`
		Port   *int           `json:"port"`
		Count  int            `json:"count"`
		States map[string]int `json:"states"`
		Owners []struct {
			PID int `json:"pid"`
		} `json:"owners"`
		Rates  *struct{} `json:"rates"`
		Filter string    `json:"filter"`
	}
	var groups []jg
	var out string
	expr := "src " + kerneltest.Addr4.String()
	waitfor.UntilShow(t, 10*time.Second, "the listener's port grouped", func() bool {
		var code int
		var errs string
		code, out, errs = runCLI("--json", "--group-by", "port", expr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		groups = nil
		if err := json.Unmarshal([]byte(out), &groups); err != nil {
			t.Fatalf("not a JSON array of groups: %v\n%s", err, out)
		}
		for _, g := range groups {
			if g.Port != nil && *g.Port == port {
				return g.Count == 6 && g.States["TIME_WAIT"] == 2
			}
		}
		return false
	}, func() string { return out })
	for _, g := range groups {
		if g.Port == nil || *g.Port != port {
			continue
		}
		want := map[string]int{"LISTEN": 1, "ESTABLISHED": 3, "TIME_WAIT": 2}
		if len(g.States) != len(want) || g.Key != ":"+strconv.Itoa(port) || g.Filter != "sport = :"+strconv.Itoa(port) {
			t.Errorf("group %+v, want key :%d, states %v, filter sport = :%d", g, port, want, port)
		}
		for st, n := range want {
			if g.States[st] != n {
				t.Errorf("%s: %d, want %d", st, g.States[st], n)
			}
		}
		if len(g.Owners) != 1 || g.Rates != nil {
			t.Errorf("owners %v rates %v: want this process alone and no rates (unknown)", g.Owners, g.Rates)
		}
	}
	// Each client's own port is a group of one established socket.
	clients := 0
	for _, g := range groups {
		if g.Port != nil && *g.Port != port && g.Count == 1 && g.States["ESTABLISHED"] == 1 {
			clients++
		}
	}
	if clients != 3 {
		t.Errorf("%d client port groups, want 3:\n%s", clients, out)
	}
}

// The --once form prints the same group as a table row.
func TestOnceGroupByState(t *testing.T) {
	port := groupTable(t)
	expr := "sport = :" + strconv.Itoa(port) + " and src " + kerneltest.Addr4.String()
	var out string
	waitfor.UntilShow(t, 10*time.Second, "two TIME_WAITs", func() bool {
		_, out, _ = runCLI("--once", "--group-by", "state", expr)
		return strings.Contains(out, "\nTIME_WAIT ")
	}, func() string { return out })
	lines := strings.Split(strings.TrimSpace(out), "\n")
	head := strings.Fields(lines[0])
	if head[0] != "State" || head[1] != "Count" || head[len(head)-1] != "Owners" {
		t.Fatalf("header %q", lines[0])
	}
	counts := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		counts[f[0]] = f[1]
	}
	want := map[string]string{"LISTEN": "1", "ESTABLISHED": "3", "TIME_WAIT": "2"}
	for st, n := range want {
		if counts[st] != n {
			t.Errorf("%s: %q, want %s:\n%s", st, counts[st], n, out)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("groups %v, want %v", counts, want)
	}
}

// A bad key, or --group-by with -s, is bad input: exit 2 and the usage.
func TestGroupByBadValue(t *testing.T) {
	for _, args := range [][]string{
		{"--once", "--group-by", "host"},
		{"--json", "--group-by", ""},
		{"-s", "--group-by", "port"},
	} {
		code, out, errs := runCLI(args...)
		if code != 2 || out != "" || !strings.Contains(errs, "group") || !strings.Contains(errs, "\nUsage:\n") {
			t.Errorf("%q: exit %d, stdout %.200q, stderr %.300q; want 2, the complaint and the usage", args, code, out, errs)
		}
	}
}
