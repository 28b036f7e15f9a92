//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

// busyConn is a loopback connection of this process whose client has
// sent n bytes that the server read; the filter selects its two ends by
// this process's pid and the listener's port.
func busyConn(t *testing.T, n int) (client net.Conn, filter string) {
	t.Helper()
	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln.Close()
	go c.Write(make([]byte, n))
	if _, err := io.ReadFull(s, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	return c, fmt.Sprintf("pid %d and (sport = :%d or dport = :%d) and state established", os.Getpid(), port, port)
}

// -i prints ss's internals line under each TCP connection: rtt, cwnd,
// retransmits and the byte counters, which match what was sent.
func TestInfoFlagPrintsInternals(t *testing.T) {
	_, flt := busyConn(t, 12345)
	code, out, errs := runCLI("--once", "-i", flt)
	if code != 0 {
		t.Fatalf("--once -i: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	// The header, then each end and its internals line.
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "Proto") {
		t.Fatalf("want a header and two sockets with a line each:\n%s", out)
	}
	acked, received := false, false
	for _, l := range []string{lines[2], lines[4]} {
		if !strings.HasPrefix(l, "\trtt:") || !strings.Contains(l, " cwnd:") || !strings.Contains(l, " retrans:") {
			t.Errorf("not an internals line: %q", l)
		}
		if strings.Contains(l, "rate") {
			t.Errorf("one snapshot, yet a rate: %q", l)
		}
		acked = acked || strings.Contains(l, " bytes_acked:12346 ") // the SYN counts one
		received = received || strings.HasSuffix(l, " bytes_received:12345")
	}
	if !acked || !received {
		t.Errorf("want bytes_acked 12346 on the client and bytes_received 12345 on the server:\n%s", out)
	}
	if strings.Contains(lines[0], "Send/s") {
		t.Errorf("-i alone adds rate columns:\n%s", out)
	}
}

// --rates takes two snapshots --interval apart: the table has Send/s and
// Recv/s, and the JSON a "rate" object on each connection, known since
// the connection was in both snapshots; -i --rates adds the rates to the
// internals line. Without --rates the JSON has no "rate".
func TestRatesFlag(t *testing.T) {
	_, flt := busyConn(t, 1000)
	code, out, errs := runCLI("--once", "--rates", "--interval", "100ms", "-i", flt)
	if code != 0 {
		t.Fatalf("--once --rates: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "Send/s") || !strings.Contains(lines[0], "Recv/s") {
		t.Fatalf("want the rate columns and our two sockets:\n%s", out)
	}
	for _, l := range []string{lines[1], lines[3]} {
		// Idle between the snapshots: a known 0, not "?".
		if f := strings.Fields(l); len(f) < 8 || f[6] != "0B" || f[7] != "0B" {
			t.Errorf("want known rates 0B 0B after State: %q", l)
		}
	}
	for _, l := range []string{lines[2], lines[4]} {
		if !strings.HasSuffix(l, " send_rate:0B/s recv_rate:0B/s") {
			t.Errorf("internals line without its rates: %q", l)
		}
	}

	for _, rates := range []bool{true, false} {
		args := []string{"--json", "-i", "--interval", "100ms", flt}
		if rates {
			args = append(args, "--rates")
		}
		code, out, errs := runCLI(args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errs)
		}
		var doc struct {
			Sockets []struct {
				Info *struct {
					BytesAcked uint64 `json:"bytes_acked"`
				} `json:"tcp_info"`
				Rate *struct {
					Send *float64 `json:"send_bytes_per_s"`
					Recv *float64 `json:"recv_bytes_per_s"`
				} `json:"rate"`
			} `json:"sockets"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
		if len(doc.Sockets) != 2 {
			t.Fatalf("%q: %d sockets; want our two:\n%s", args, len(doc.Sockets), out)
		}
		for _, s := range doc.Sockets {
			if s.Info == nil {
				t.Errorf("%q: no tcp_info: %s", args, out)
			}
			if rates && (s.Rate == nil || s.Rate.Send == nil || s.Rate.Recv == nil || *s.Rate.Send != 0 || *s.Rate.Recv != 0) {
				t.Errorf("%q: want a known rate of 0 both ways on an idle connection: %s", args, out)
			}
			if !rates && s.Rate != nil {
				t.Errorf("%q: a rate from one snapshot: %s", args, out)
			}
		}
	}
}

// -s counts sockets: -i and --rates do not combine with it.
func TestRatesFlagRefusedWithSummary(t *testing.T) {
	for _, f := range []string{"-i", "--rates"} {
		code, out, errs := runCLI("-s", f)
		if code != 2 || out != "" || !strings.Contains(errs, "does not combine") {
			t.Errorf("-s %s: exit %d, stdout %q, stderr %q; want 2 and why", f, code, out, errs)
		}
	}
}
