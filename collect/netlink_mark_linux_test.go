//go:build linux

package collect_test

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/internal/kerneltest"
)

// TestRequestSocketHasNoCgroup holds a request socket (a listener with
// TCP_DEFER_ACCEPT keeps the handshake's SYN_RECV until data comes) and
// checks it the way ss sees it: SYN_RECV, no cgroup (the kernel reports
// none, and its filter compares it as 0), while its full neighbours have
// theirs. A request socket says SYN_RECV as a full one does, so only its
// message tells it apart.
func TestRequestSocketHasNoCgroup(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30) })
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0))}
	c, err := d.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local, remote := netip.MustParseAddrPort(l.Addr().String()), netip.MustParseAddrPort(c.LocalAddr().String())
	src := collect.NewNetlink(collect.Options{TCP: true, IPv4: true})
	defer src.Close()
	var req, ln *collect.Socket
	for deadline := time.Now().Add(10 * time.Second); req == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		snap, err := src.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			switch {
			case s.Local == local && s.Remote == remote:
				req = s
			case s.Local == local && s.State == collect.StateListen:
				ln = s
			}
		}
	}
	if req == nil || ln == nil {
		t.Fatalf("no request socket %s <- %s, or no listener, within 10 s", local, remote)
	}
	if req.State != collect.StateSynRecv || req.Inode != 0 {
		t.Fatalf("the request socket is %s with inode %d, want SYN_RECV without one", req.State, req.Inode)
	}
	if !req.Known(collect.FieldCgroup) || req.CgroupID != 0 {
		t.Errorf("the request socket's cgroup: id %d, known %v; want none", req.CgroupID, req.Known(collect.FieldCgroup))
	}
	if !ln.Known(collect.FieldCgroup) || ln.CgroupID == 0 {
		t.Errorf("the listener's cgroup: id %d, known %v; want its own", ln.CgroupID, ln.Known(collect.FieldCgroup))
	}
	if _, err := exec.LookPath("ss"); err != nil {
		return
	}
	out, err := exec.Command("ss", "-tanHe", "sport = :"+strconv.Itoa(int(local.Port()))).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, remote.String()) && strings.Contains(line, "cgroup:") {
			t.Errorf("ss gives the request socket a cgroup: %q", line)
		}
		if strings.HasPrefix(line, "LISTEN") && !strings.Contains(line, "cgroup:") {
			t.Errorf("ss gives the listener no cgroup: %q", line)
		}
	}
}
