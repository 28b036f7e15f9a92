//go:build linux

package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// ssStateName is the summary's name for a state ss prints.
var ssStateName = map[string]string{
	"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT_1",
	"FIN-WAIT-2": "FIN_WAIT_2", "TIME-WAIT": "TIME_WAIT", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
	"LISTEN": "LISTEN", "CLOSING": "CLOSING", "UNKNOWN": "UNKNOWN",
}

// ssTally counts `ss -tanuH` by the summary's rows: "TCP 4", "UDP 6",
// "state TIME_WAIT TCP", and the ss -s figures "estab" (ESTABLISHED and
// CLOSE_WAIT) and "timewait".
func ssTally(t *testing.T) map[string]int {
	t.Helper()
	out, err := exec.Command("ss", "-tanuH").Output()
	if err != nil {
		t.Fatalf("ss -tanuH: %v", err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		proto := strings.ToUpper(f[0])
		// An IPv6 socket's address is bracketed; "*" is a dual-stack
		// socket on [::].
		fam := "4"
		if strings.HasPrefix(f[4], "[") || strings.HasPrefix(f[4], "*") {
			fam = "6"
		}
		st, ok := ssStateName[f[1]]
		switch {
		case ok:
		case f[1] == "UNCONN" && proto == "UDP":
			st = "UNCONN"
		case f[1] == "UNCONN":
			st = "CLOSED"
		default:
			t.Fatalf("ss line %q: state %q", line, f[1])
		}
		m[proto+" "+fam]++
		m["state "+st+" "+proto]++
		if proto == "TCP" && (st == "ESTABLISHED" || st == "CLOSE_WAIT") {
			m["estab"]++
		}
		if proto == "TCP" && st == "TIME_WAIT" {
			m["timewait"]++
		}
	}
	return m
}

var (
	summaryTCPLine = regexp.MustCompile(`(?m)^TCP:\s+(\d+) \(estab (\d+), orphaned (\d+|\?), timewait (\d+)\)$`)
)

// summaryTally reads WriteSummary's text into ssTally's keys.
func summaryTally(t *testing.T, text string) map[string]int {
	t.Helper()
	m := map[string]int{}
	tl := summaryTCPLine.FindStringSubmatch(text)
	if tl == nil {
		t.Fatalf("no ss -s style TCP line in:\n%s", text)
	}
	m["estab"], _ = strconv.Atoi(tl[2])
	m["timewait"], _ = strconv.Atoi(tl[4])
	states := false
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "State":
			states = true
		case states && len(f) == 3:
			tcp, _ := strconv.Atoi(f[1])
			udp, _ := strconv.Atoi(f[2])
			m["state "+f[0]+" TCP"], m["state "+f[0]+" UDP"] = tcp, udp
		case !states && len(f) == 4 && (f[0] == "TCP" || f[0] == "UDP"):
			v4, _ := strconv.Atoi(f[2])
			v6, _ := strconv.Atoi(f[3])
			m[f[0]+" 4"], m[f[0]+" 6"] = v4, v6
		}
	}
	return m
}

// ssS reads `ss -s`'s estab, the MIB's CurrEstab of this namespace. Its
// timewait (sockstat's tw) is not compared: on a host whose other
// namespaces churn it runs thousands apart from the TIME_WAIT rows ss
// itself lists.
func ssS(t *testing.T) (estab int) {
	t.Helper()
	out, err := exec.Command("ss", "-s").Output()
	if err != nil {
		t.Fatalf("ss -s: %v", err)
	}
	m := regexp.MustCompile(`(?m)^TCP:\s+\d+ \(estab (\d+), closed \d+, orphaned \d+, timewait (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("ss -s has no TCP line:\n%s", out)
	}
	estab, _ = strconv.Atoi(string(m[1]))
	return estab
}

// `socktop -s` of the whole table agrees with counting `ss -tanuH` by
// protocol, family and state, and its estab with ss -s's counter, within the churn that two runs of ss around the snapshot
// measure. The test's own connections make sure the figures are not all
// zero.
func TestSummaryAgreesWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss")
	}
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i := range 20 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defer s.Close()
		if i < 5 {
			s.Close()
			io.Copy(io.Discard, c)
			c.Close()
		}
	}
	src := collect.NewNetlink(collect.Options{})
	var problems string
	for round := 0; round < 5; round++ {
		before := ssTally(t)
		estabB := ssS(t)
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteSummary(&buf, &snap); err != nil {
			t.Fatal(err)
		}
		after := ssTally(t)
		estabA := ssS(t)
		ours := summaryTally(t, buf.String())
		churn := 0
		for k := range keysOf(before, after) {
			if strings.HasPrefix(k, "state ") {
				churn += abs(before[k] - after[k])
			}
		}
		problems = ""
		check := func(what string, got, b, a int) {
			if got < min(a, b)-churn || got > max(a, b)+churn {
				problems += fmt.Sprintf("%s: socktop %d, ss %d before and %d after (churn %d)\n", what, got, b, a, churn)
			}
		}
		for k := range keysOf(before, after, ours) {
			check(k, ours[k], before[k], after[k])
		}
		check("ss -s estab", ours["estab"], estabB, estabA)
		if ours["estab"] < 30 || ours["timewait"] < 5 {
			problems += fmt.Sprintf("estab %d timewait %d: the test's 30 established sockets and 5 TIME_WAITs are missing\n", ours["estab"], ours["timewait"])
		}
		if problems == "" {
			return
		}
		t.Logf("round %d:\n%s", round, problems)
	}
	t.Fatalf("socktop -s disagrees with ss beyond the churn:\n%s", problems)
}

func keysOf(ms ...map[string]int) map[string]bool {
	u := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			u[k] = true
		}
	}
	return u
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
