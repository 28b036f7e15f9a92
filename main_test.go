package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/probe"
)

func TestMain(m *testing.M) {
	probe.RunChildIfRequested()
	os.Exit(m.Run())
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args   []string
		check  func(config) bool
		filter string
	}{
		{[]string{"--once", "8080"}, func(c config) bool { return c.once }, "8080"},
		{[]string{"8080", "--once"}, func(c config) bool { return c.once }, "8080"},
		{[]string{"-tl", "--json"}, func(c config) bool { return c.tcp && c.listening && c.json && !c.udp }, ""},
		{[]string{"-tun4"}, func(c config) bool { return c.tcp && c.udp && c.v4 && !c.v6 }, ""},
		{[]string{"-xl"}, func(c config) bool { return c.unix && c.listening && !c.tcp && !c.udp }, ""},
		{[]string{"--once", "state", "time-wait", "and", "dport", "=", ":443"}, func(c config) bool { return c.once }, "state time-wait and dport = :443"},
		{[]string{"--no-owners", "--source", "gopsutil", "--interval", "250ms"}, func(c config) bool {
			return c.noOwners && c.source == "gopsutil" && c.interval == 250*time.Millisecond
		}, ""},
	}
	for _, c := range cases {
		cfg, err := parseArgs(c.args)
		if err != nil {
			t.Errorf("parseArgs(%q): %v", c.args, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("parseArgs(%q) = %+v: flags not as expected", c.args, cfg)
		}
		if cfg.filter != c.filter {
			t.Errorf("parseArgs(%q) filter = %q, want %q", c.args, cfg.filter, c.filter)
		}
	}
}

func TestBadInputExitsTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "Usage:"},
		{[]string{"-tz"}, "Usage:"},
		{[]string{"--once", "sport", "=", ":x"}, "column"},
		{[]string{"--once", "(", "tcp"}, "column"},
		{[]string{"--interval", "5ms"}, "outside"},
		{[]string{"--once", "--source", "nope"}, "nope"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", c.args, code, errb.String())
		}
		if !strings.Contains(errb.String(), c.want) {
			t.Errorf("run(%q) stderr = %q, want it to mention %q", c.args, errb.String(), c.want)
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) wrote to stdout: %q", c.args, out.String())
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("--help: code %d, stdout %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "socktop ") {
		t.Errorf("--version: code %d, stdout %q", code, out.String())
	}
}

// listen opens a TCP listener on a free loopback port for the test.
func listen(t *testing.T, network, addr string) (*net.TCPListener, int) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener), ln.Addr().(*net.TCPAddr).Port
}

// TestOnceTableShowsFilteredSockets filters the table to the port of a
// listener this test opened. Another program may hold sockets with the
// same port number (a UDP port, or a TCP port on another address, is
// allocated apart from this listener's), so the test asks for its own row
// exactly once and for every other row to match the filter, not for a
// table of one row.
func TestOnceTableShowsFilteredSockets(t *testing.T) {
	_, p1 := listen(t, "tcp4", "127.0.0.1:0")
	_, p2 := listen(t, "tcp6", "[::1]:0")
	var out, errb bytes.Buffer
	if code := run([]string{"--once", strconv.Itoa(p1)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, h := range []string{"Proto", "Recv-Q", "Send-Q", "State", "Timer"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header %q lacks %q", lines[0], h)
		}
	}
	port := ":" + strconv.Itoa(p1)
	ours := 0
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Errorf("row %q has %d fields, want at least 6", l, len(f))
			continue
		}
		if !strings.HasSuffix(f[3], port) && !strings.HasSuffix(f[4], port) {
			t.Errorf("row %q does not have port %d at either end", l, p1)
		}
		if f[0] != "tcp" || f[3] != "127.0.0.1"+port || f[5] != "LISTEN" {
			continue
		}
		ours++
		if f[1] != "0" || f[4] != "0.0.0.0:*" {
			t.Errorf("our listener's row %q: want Recv-Q 0 and foreign 0.0.0.0:*", l)
		}
		if len(f) < 7 || !strings.HasSuffix(f[6], "/"+strconv.Itoa(os.Getpid())) {
			t.Errorf("row %q does not name this process (name/%d) as owner", l, os.Getpid())
		}
	}
	if ours != 1 {
		t.Fatalf("want this test's listener on port %d once, got %d rows of it:\n%s", p1, ours, out.String())
	}

	out.Reset()
	if code := run([]string{"--once", "--no-owners", "-6", "sport = :" + strconv.Itoa(p2)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "tcp6") || !strings.Contains(out.String(), "[::1]:"+strconv.Itoa(p2)) {
		t.Errorf("IPv6 listener missing:\n%s", out.String())
	}
	if strings.Contains(out.String(), "/"+strconv.Itoa(os.Getpid())) {
		t.Errorf("--no-owners still printed owners:\n%s", out.String())
	}
}

// TestJSONFollowsContract checks the JSON document on a connection this
// test made: its three sockets (listener, client end, and the server's
// not-yet-accepted child) are found by their exact 4-tuples, each once, and
// every socket printed matches the filter and has every field of the
// contract. Other programs' sockets with the same port number may be
// printed too: they are not counted.
func TestJSONFollowsContract(t *testing.T) {
	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	server := ln.Addr().(*net.TCPAddr).AddrPort()
	client := c.LocalAddr().(*net.TCPAddr).AddrPort()
	unspec := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	want := map[[2]netip.AddrPort]string{
		{server, unspec}: "LISTEN",
		{client, server}: "ESTABLISHED",
		{server, client}: "ESTABLISHED",
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--json", "-t", "sport = :" + strconv.Itoa(port) + " or dport = :" + strconv.Itoa(port)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc struct {
		Taken   string `json:"taken"`
		Source  string `json:"source"`
		Partial *bool  `json:"partial"`
		Sockets []map[string]json.RawMessage
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if _, err := time.Parse(time.RFC3339, doc.Taken); err != nil {
		t.Errorf("taken %q is not RFC 3339: %v", doc.Taken, err)
	}
	if doc.Source == "" || doc.Partial == nil {
		t.Errorf("source/partial missing: %s", out.String())
	}
	keys := []string{"proto", "family", "state", "local", "remote", "recv_q", "send_q", "uid", "inode", "owners", "timer", "timer_ms", "retrans"}
	found := map[[2]netip.AddrPort]int{}
	for _, s := range doc.Sockets {
		for _, k := range keys {
			if _, ok := s[k]; !ok {
				t.Errorf("socket lacks %q: %v", k, s)
			}
		}
		if string(s["owners"]) == "null" {
			t.Errorf("owners is null, want []: %v", s)
		}
		var st, proto string
		json.Unmarshal(s["state"], &st)
		json.Unmarshal(s["proto"], &proto)
		local, remote := jsonAddr(t, s["local"]), jsonAddr(t, s["remote"])
		if proto != "tcp" || local.Port() != uint16(port) && remote.Port() != uint16(port) {
			t.Errorf("socket %s %s > %s does not match the filter", proto, local, remote)
		}
		tuple := [2]netip.AddrPort{local, remote}
		if w, ok := want[tuple]; ok {
			found[tuple]++
			if st != w {
				t.Errorf("socket %s > %s is %s, want %s", local, remote, st, w)
			}
		}
	}
	for tuple := range want {
		if found[tuple] != 1 {
			t.Errorf("socket %s > %s printed %d times, want once:\n%s", tuple[0], tuple[1], found[tuple], out.String())
		}
	}
}

// jsonAddr decodes an address object of the JSON contract.
func jsonAddr(t *testing.T, raw json.RawMessage) netip.AddrPort {
	t.Helper()
	var a struct {
		Addr string `json:"addr"`
		Port uint16 `json:"port"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Errorf("address %s: %v", raw, err)
		return netip.AddrPort{}
	}
	addr, err := netip.ParseAddr(a.Addr)
	if err != nil {
		t.Errorf("address %s: %v", raw, err)
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(addr, a.Port)
}

// BenchmarkOnce measures the whole headless path in-process (source,
// dump, filter, table) on whatever table the machine holds; bench/run.sh
// runs it under a socket farm of a given size.
func BenchmarkOnce(b *testing.B) {
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"no-owners", []string{"--once", "--no-owners"}},
		{"owners", []string{"--once"}},
		{"json", []string{"--json", "--no-owners"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if code := run(bc.args, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
