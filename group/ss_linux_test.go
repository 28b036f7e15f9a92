//go:build linux

package group

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// ssRow is what the oracle needs of one line of `ss -tanueH`.
type ssRow struct {
	proto       collect.Proto
	state       collect.State
	local, peer string // as printed
	port        uint16
	peerAddr    netip.Addr // invalid for a peer of "*"
	ino         uint32
}

var ssStateOf = map[string]collect.State{
	"ESTAB": collect.StateEstablished, "SYN-SENT": collect.StateSynSent, "SYN-RECV": collect.StateSynRecv,
	"FIN-WAIT-1": collect.StateFinWait1, "FIN-WAIT-2": collect.StateFinWait2, "TIME-WAIT": collect.StateTimeWait,
	"CLOSE-WAIT": collect.StateCloseWait, "LAST-ACK": collect.StateLastAck, "LISTEN": collect.StateListen,
	"CLOSING": collect.StateClosing, "UNKNOWN": collect.StateUnknown,
}

var ssIno = regexp.MustCompile(`(?:^| )ino:(\d+)`)

// splitHostPort reads ss's address column: "127.0.0.1:80", "*:80",
// "[::]:80", "[::ffff:127.0.0.1]:80", "127.0.0.53%lo:53",
// "[fe80::1]%eth0:546", "0.0.0.0:*". The zone ss prints after a device
// bound socket is dropped; "*" is the unspecified address.
func splitHostPort(s string) (netip.Addr, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.Addr{}, "", fmt.Errorf("address %q has no port", s)
	}
	host, port := s[:i], s[i+1:]
	if j := strings.LastIndexByte(host, '%'); j >= 0 && j > strings.LastIndexByte(host, ']') {
		host = host[:j]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "*" {
		return netip.Addr{}, port, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("address %q: %w", s, err)
	}
	return a.WithZone(""), port, nil
}

func parseSSRow(line string) (ssRow, error) {
	f := strings.Fields(line)
	if len(f) < 6 {
		return ssRow{}, fmt.Errorf("ss line %q: %d fields", line, len(f))
	}
	var r ssRow
	switch f[0] {
	case "tcp":
		r.proto = collect.TCP
	case "udp":
		r.proto = collect.UDP
	default:
		return ssRow{}, fmt.Errorf("ss line %q: netid %q", line, f[0])
	}
	st, ok := ssStateOf[f[1]]
	switch {
	case ok:
	case f[1] == "UNCONN" && r.proto == collect.UDP:
		st = collect.StateUnconn
	case f[1] == "UNCONN":
		st = collect.StateClosed
	default:
		return ssRow{}, fmt.Errorf("ss line %q: state %q", line, f[1])
	}
	r.state, r.local, r.peer = st, f[4], f[5]
	_, lport, err := splitHostPort(f[4])
	if err != nil {
		return ssRow{}, err
	}
	p, err := strconv.ParseUint(lport, 10, 16)
	if err != nil {
		return ssRow{}, fmt.Errorf("ss line %q: local port: %w", line, err)
	}
	r.port = uint16(p)
	if r.peerAddr, _, err = splitHostPort(f[5]); err != nil {
		return ssRow{}, err
	}
	if r.peerAddr.IsUnspecified() {
		r.peerAddr = netip.Addr{}
	}
	if m := ssIno.FindStringSubmatch(strings.Join(f[6:], " ")); m != nil {
		ino, _ := strconv.ParseUint(m[1], 10, 32)
		r.ino = uint32(ino)
	}
	return r, nil
}

func runSS(t *testing.T) []ssRow {
	t.Helper()
	out, err := exec.Command("ss", "-tanueH").Output()
	if err != nil {
		t.Fatalf("ss -tanueH: %v", err)
	}
	var rows []ssRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		r, err := parseSSRow(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

// ssKeys is the key a row of ss counts under, in the words of
// Key.String. By process only this process's group is counted: a row is
// its socket when the inode is one of its descriptors'. ss -p would name
// every owner, but it reads every process's descriptors and takes
// minutes on a host of 200k sockets.
func ssKeys(r *ssRow, by By) []string {
	switch by {
	case ByPort:
		return []string{":" + strconv.Itoa(int(r.port))}
	case ByRemote:
		if !r.peerAddr.IsValid() {
			return []string{"*"}
		}
		return []string{r.peerAddr.String()}
	case ByState:
		return []string{r.state.String()}
	case ByProcess:
		if r.ino != 0 && selfInodes()[r.ino] {
			return []string{"pid " + strconv.Itoa(os.Getpid())}
		}
	}
	return nil
}

// selfInodes are the socket inodes of this process's descriptors, read
// from /proc/self/fd.
func selfInodes() map[uint32]bool {
	m := map[uint32]bool{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 32); err == nil {
			m[uint32(v)] = true
		}
	}
	return m
}

func ssCounts(rows []ssRow, by By) map[string]int {
	m := map[string]int{}
	for i := range rows {
		for _, k := range ssKeys(&rows[i], by) {
			m[k]++
		}
	}
	return m
}

// oursCounts is Group's answer in the oracle's words: by process, this
// process's group alone, by pid.
func oursCounts(socks []collect.Socket, by By) map[string]int {
	m := map[string]int{}
	for _, g := range Count(socks, by) {
		k := g.Key.String()
		if by == ByProcess {
			if g.Key.Special != Keyed || g.Key.Owner.PID != os.Getpid() {
				continue
			}
			k = "pid " + strconv.Itoa(g.Key.Owner.PID)
		}
		m[k] += g.Count
	}
	return m
}

// ownTable makes this test's sockets on kerneltest.Addr4: a listener
// with 30 established connections and 10 that the server closed first
// (TIME_WAIT on the listener's port), and a UDP socket with a connected
// UDP client. It returns the listener's port.
func ownTable(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: kerneltest.Addr4.AsSlice()}}
	var clients, servers []net.Conn
	for range 40 {
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		clients, servers = append(clients, c), append(servers, s)
	}
	for i := range 10 {
		servers[i].Close()
		// The client reads the FIN, then closes: the server's end,
		// which closed first, goes to TIME_WAIT.
		io.Copy(io.Discard, clients[i])
		clients[i].Close()
	}
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: kerneltest.Addr4.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	uc, err := net.DialUDP("udp", &net.UDPAddr{IP: kerneltest.Addr4.AsSlice()}, u.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return port
}

// Group counts agree with counting `ss -tanueH` output by the same key:
// exactly for the groups of this test's own sockets, and for the whole
// table within the churn two ss runs, one before and one after the
// snapshot, measure.
func TestGroupsAgreeWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss")
	}
	port := ownTable(t)
	src := collect.NewNetlink(collect.Options{Owners: true})
	// Each snapshot gets its own deadline: with the race detector on a
	// host of 100k sockets one owner scan takes tens of seconds.
	snapshot := func(src *collect.Netlink) []collect.Socket {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		snap, err := src.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return snap.Sockets
	}
	// The accepted connections' TIME_WAITs are the last to settle; the
	// kernel is asked for TIME_WAITs alone while waiting, which is cheap.
	tw := collect.NewNetlink(collect.Options{TCP: true, States: 1 << collect.StateTimeWait})
	waitfor.Until(t, 10*time.Second, "10 TIME_WAITs on the test's listener", func() bool {
		n := 0
		for _, s := range snapshot(tw) {
			if s.State == collect.StateTimeWait && s.Local == netip.AddrPortFrom(kerneltest.Addr4, port) {
				n++
			}
		}
		return n == 10
	})

	// The counts the test made, and (for the keys that count them) the
	// same without the 10 TIME_WAITs, which expire 60 seconds after the
	// close: on a slow run they may go before the last round.
	own := map[By]map[string][2]int{
		// The listener, 30 accepted connections and 10 TIME_WAITs.
		ByPort: {":" + strconv.Itoa(int(port)): {41, 31}},
		// 30 clients, 30 accepted, 10 TIME_WAITs, the connected UDP.
		ByRemote: {kerneltest.Addr4.String(): {71, 61}},
		// The listener, 30 clients, 30 accepted, two UDP sockets.
		ByProcess: {"pid " + strconv.Itoa(os.Getpid()): {63, 63}},
	}
	// A busy host may churn past one round's measure: the whole-table
	// comparison gets a few rounds, each with its own measure.
	var lastErr string
	for round := 0; round < 5; round++ {
		before := runSS(t)
		socks := snapshot(src)
		after := runSS(t)
		lastErr = ""
		for _, by := range []By{ByPort, ByRemote, ByProcess, ByState} {
			ours, b, a := oursCounts(socks, by), ssCounts(before, by), ssCounts(after, by)
			for k, want := range own[by] {
				switch {
				case b[k] != a[k]:
					// The TIME_WAITs expired during the round.
					lastErr += fmt.Sprintf("by %v, group %s: ss %d before and %d after\n", by, k, b[k], a[k])
				case b[k] != want[0] && b[k] != want[1]:
					t.Fatalf("by %v, group %s: ss counts %d, the test made %d (%d without its TIME_WAITs)", by, k, b[k], want[0], want[1])
				case ours[k] != b[k]:
					t.Fatalf("by %v, group %s: socktop %d, ss %d before and after", by, k, ours[k], b[k])
				}
			}
			// The churn is what changed between the two ss runs, over
			// every group: a socket socktop saw may have come and gone
			// in between, so that much either way is allowed per group.
			churn := 0
			for k := range union(a, b) {
				churn += abs(a[k] - b[k])
			}
			for k := range union(ours, a, b) {
				lo, hi := min(a[k], b[k])-churn, max(a[k], b[k])+churn
				if ours[k] < lo || ours[k] > hi {
					lastErr += fmt.Sprintf("by %v, group %s: socktop %d, ss %d before and %d after (churn %d)\n", by, k, ours[k], b[k], a[k], churn)
				}
			}
		}
		if lastErr == "" {
			return
		}
		t.Logf("round %d:\n%s", round, lastErr)
	}
	t.Fatalf("socktop's groups disagree with ss beyond the churn:\n%s", lastErr)
}

func union(ms ...map[string]int) map[string]bool {
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

// The oracle's parser reads every address form ss prints.
func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string][2]string{
		"127.0.0.1:80":            {"127.0.0.1", "80"},
		"*:80":                    {"invalid IP", "80"},
		"[::]:80":                 {"::", "80"},
		"[::ffff:127.0.0.1]:8080": {"::ffff:127.0.0.1", "8080"},
		"127.0.0.53%lo:53":        {"127.0.0.53", "53"},
		"[fe80::1]%eth0:546":      {"fe80::1", "546"},
		"0.0.0.0:*":               {"0.0.0.0", "*"},
		"[fe80::1%eth0]:546":      {"fe80::1", "546"},
	} {
		a, p, err := splitHostPort(in)
		if err != nil || a.String() != want[0] || p != want[1] {
			t.Errorf("splitHostPort(%q) = %v, %q, %v; want %v", in, a, p, err, want)
		}
	}
}
