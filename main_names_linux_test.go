package main

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"socktop/collect"
	"socktop/internal/kerneltest"
	"socktop/names"
)

// ownConn is a listener on the test's own address at port (0: any), a
// client with keepalive on, and the accepted end; their inodes.
func ownConn(t *testing.T, port uint16) (*net.TCPListener, []uint64) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)), KeepAlive: -1}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.(*net.TCPConn).SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ln, []uint64{uint64(connInode(t, ln)), uint64(connInode(t, c.(*net.TCPConn))), uint64(connInode(t, s))}
}

var (
	inoField = regexp.MustCompile(`\bino:(\d+)\b`)
	skField  = regexp.MustCompile(`\bsk:([0-9a-f]+)\b`)
	uidField = regexp.MustCompile(`\buid:(\d+)\b`)
	tmrField = regexp.MustCompile(`\btimer:\((\w+),`)
)

// rowsByInode maps each line of a table with an ino:N field to its
// fields, for the inodes wanted.
func rowsByInode(out string, want []uint64) map[uint64][]string {
	rows := map[uint64][]string{}
	for _, line := range strings.Split(out, "\n") {
		m := inoField.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ino, _ := strconv.ParseUint(m[1], 10, 64)
		for _, w := range want {
			if w == ino {
				rows[ino] = append([]string{line}, strings.Fields(line)...)
			}
		}
	}
	return rows
}

// -o and -e print what ss -o -e prints for the same sockets: the inode,
// the cookie (sk, in hex), the uid (which ss leaves out when 0) and the
// timer's kind.
func TestOnceExtendedAgreesWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	_, inodes := ownConn(t, 0)
	expr := "src " + kerneltest.Addr4.String()
	code, out, errs := runCLI("--once", "-t", "-o", "-e", expr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ssOut, err := exec.Command("ss", "-tanHoe", expr).Output()
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := rowsByInode(out, inodes), rowsByInode(string(ssOut), inodes)
	if len(theirs) != 3 {
		t.Fatalf("ss lists %d of the test's 3 sockets:\n%s", len(theirs), ssOut)
	}
	for ino, ss := range theirs {
		row, ok := mine[ino]
		if !ok {
			t.Errorf("inode %d: ss lists it, socktop does not:\n%s", ino, out)
			continue
		}
		line, ssLine := row[0], ss[0]
		if a, b := skField.FindStringSubmatch(line), skField.FindStringSubmatch(ssLine); a == nil || b == nil || a[1] != b[1] {
			t.Errorf("inode %d: sk %v, ss %v", ino, a, b)
		}
		wantUID := "0"
		if m := uidField.FindStringSubmatch(ssLine); m != nil {
			wantUID = m[1]
		}
		if m := uidField.FindStringSubmatch(line); m == nil || m[1] != wantUID {
			t.Errorf("inode %d: uid %v, ss %s", ino, m, wantUID)
		}
		a, b := tmrField.FindStringSubmatch(line), tmrField.FindStringSubmatch(ssLine)
		if (a == nil) != (b == nil) || a != nil && a[1] != b[1] {
			t.Errorf("inode %d: timer %v, ss %v\n%s\n%s", ino, a, b, line, ssLine)
		}
	}
	// The client has keepalive on: one row at least has a timer to show.
	if !strings.Contains(out, "timer:(keepalive,") {
		t.Errorf("no keepalive timer in -o's rows:\n%s", out)
	}
}

// namedPort is a TCP port of this host's services table that the test
// can bind on its own address: 80 as root, else one above 1023 and below
// the ephemeral range.
func namedPort(t *testing.T) (uint16, string) {
	t.Helper()
	svc := names.SystemServices()
	try := func(p uint16) bool {
		if _, ok := svc.Name(collect.TCP, p); !ok {
			return false
		}
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, p)))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	if os.Geteuid() == 0 && try(80) {
		n, _ := svc.Name(collect.TCP, 80)
		return 80, n
	}
	for p := uint16(1024); p < 32768; p++ {
		if try(p) {
			n, _ := svc.Name(collect.TCP, p)
			return p, n
		}
	}
	t.Skip("no free TCP port with a name in the services file")
	return 0, ""
}

// --services names the ports that ss names, per socket: ss's Local and
// Peer columns (ss names services by default) are socktop's Local and
// Foreign, the client's ephemeral port numeric in both.
func TestOnceServicesAgreeWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed")
	}
	port, name := namedPort(t)
	_, inodes := ownConn(t, port)
	expr := "src " + kerneltest.Addr4.String()
	code, out, errs := runCLI("--once", "-t", "-e", "--services", expr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ssOut, err := exec.Command("ss", "-taHe", expr).Output()
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := rowsByInode(out, inodes), rowsByInode(string(ssOut), inodes)
	if len(theirs) != 3 {
		t.Fatalf("ss lists %d of the test's 3 sockets:\n%s", len(theirs), ssOut)
	}
	named := 0
	for ino, ss := range theirs {
		row := mine[ino]
		if row == nil {
			t.Errorf("inode %d missing:\n%s", ino, out)
			continue
		}
		// ss: State Recv-Q Send-Q Local Peer ...; socktop: Proto Recv-Q
		// Send-Q Local Foreign ...
		if row[4] != ss[4] || row[5] != ss[5] {
			t.Errorf("inode %d: socktop %s %s, ss %s %s", ino, row[4], row[5], ss[4], ss[5])
		}
		if strings.HasSuffix(row[4], ":"+name) {
			named++
		}
	}
	if named != 2 {
		t.Errorf("want the listener and the accepted end named :%s, got %d:\n%s", name, named, out)
	}
}

// -r in the headless forms: the table shows the names an (injected)
// lookup gives, the ports named too unless -n; the JSON keeps the
// numbers and adds "host" and "service".
func TestResolveHeadless(t *testing.T) {
	port, svc := namedPort(t)
	_, inodes := ownConn(t, port)
	old := lookupAddr
	t.Cleanup(func() { lookupAddr = old })
	lookupAddr = func(_ context.Context, addr string) ([]string, error) {
		if addr == kerneltest.Addr4.String() {
			return []string{"own.socktop.test."}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
	}
	expr := "src " + kerneltest.Addr4.String()
	code, out, errs := runCLI("--once", "-t", "-r", "-e", expr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	rows := rowsByInode(out, inodes)
	if l := rows[inodes[0]]; l == nil || l[4] != "own.socktop.test:"+svc {
		t.Errorf("-r: the listener's Local is %v, want own.socktop.test:%s\n%s", l, svc, out)
	}
	_, out, _ = runCLI("--once", "-t", "-rn", "-e", expr)
	if l := rowsByInode(out, inodes)[inodes[0]]; l == nil || l[4] != "own.socktop.test:"+strconv.Itoa(int(port)) {
		t.Errorf("-rn: the listener's Local is %v, want own.socktop.test:%d\n%s", l, port, out)
	}
	code, js, errs := runCLI("--json", "-t", "-r", expr)
	if code != 0 {
		t.Fatalf("--json -r: exit %d: %s", code, errs)
	}
	s := socketWithInode(parseDoc(t, []byte(js)), inodes[0])
	if s == nil {
		t.Fatalf("the listener is missing:\n%s", js)
	}
	var local map[string]any
	json.Unmarshal(s["local"], &local)
	if local["addr"] != kerneltest.Addr4.String() || local["port"] != float64(port) || local["host"] != "own.socktop.test" || local["service"] != svc {
		t.Errorf("--json -r: local %v", local)
	}
}
