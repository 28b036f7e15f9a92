package probe

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// udpPair is a bound UDP socket and a UDP socket connected to it.
func udpPair(t *testing.T, p *Probe) (srv, cli *Endpoint) {
	t.Helper()
	srv, err := p.UDP("server")
	must(t, err)
	must(t, srv.Bind(0))
	cli, err = p.UDP("client")
	must(t, err)
	must(t, cli.Connect(srv.Local().Port(), callWait))
	return srv, cli
}

func hasLine(rec *recorder, line string) bool { return slices.Contains(rec.lines(), line) }

// A datagram read with a small buffer is cut, the kernel says so in
// msg_flags, and the rest is gone: FIONREAD then reports no datagram and
// the next read gets the next datagram. With MSG_TRUNC the call returns
// the real length.
func TestRecvMsgTruncates(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	srv, cli := udpPair(t, p)
	from := cli.Local().String()
	_, err := cli.Send(bytes.Repeat([]byte("a"), 100))
	must(t, err)
	if n, err := srv.WaitPending(100, callWait); err != nil || n != 100 {
		t.Fatalf("FIONREAD before the read: %d, %v; want the datagram's 100 bytes", n, err)
	}
	res, err := srv.RecvMsg(10, false, callWait)
	must(t, err)
	if res != (RecvMsgResult{N: 10, Copied: 10, Truncated: true}) {
		t.Errorf("recvmsg(10) of a 100-byte datagram: %+v, want 10 copied and MSG_TRUNC", res)
	}
	if n, err := srv.Pending(); err != nil || n != 0 {
		t.Errorf("FIONREAD after the cut read: %d, %v; want 0 (the rest is gone)", n, err)
	}
	if _, err := srv.RecvMsg(10, false, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("a second read with nothing sent: %v, want a timeout", err)
	}
	_, err = cli.Send(bytes.Repeat([]byte("b"), 100))
	must(t, err)
	res, err = srv.RecvMsg(10, true, callWait)
	must(t, err)
	if res != (RecvMsgResult{N: 100, Copied: 10, Truncated: true}) {
		t.Errorf("recvmsg(10, MSG_TRUNC) of a 100-byte datagram: %+v, want N 100, 10 copied, MSG_TRUNC", res)
	}
	_, err = cli.Send([]byte("next"))
	must(t, err)
	res, err = srv.RecvMsg(10, false, callWait)
	must(t, err)
	if res != (RecvMsgResult{N: 4, Copied: 4}) {
		t.Errorf("the next datagram: %+v, want its 4 bytes whole", res)
	}
	for _, want := range []string{
		"server: recvmsg(10-byte buffer) = 10 bytes, msg_flags MSG_TRUNC from " + from,
		"server: recvmsg(10-byte buffer, MSG_TRUNC) = 100 (10 copied), msg_flags MSG_TRUNC from " + from,
		"server: recvmsg(10-byte buffer) = 4 bytes from " + from,
		"server: recvmsg(10-byte buffer) = timed out",
		"server: ioctl(FIONREAD) = 0 bytes",
	} {
		if !hasLine(rec, want) {
			t.Errorf("no event %q in\n%s", want, strings.Join(rec.lines(), "\n"))
		}
	}
}

// A connected UDP socket learns of the ICMP port unreachable its datagram
// provoked: the next recv fails with ECONNREFUSED, and the error is
// reported once. An unconnected socket is not told, unless IP_RECVERR.
func TestUDPRefused(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	port := freePort(t)
	c, err := p.UDP("client")
	must(t, err)
	must(t, c.Connect(port, callWait))
	_, err = c.Send([]byte("ping"))
	must(t, err)
	if _, err := c.Recv(64, callWait); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("recv after a send to a port nobody has: %v, want ECONNREFUSED", err)
	}
	if _, err := c.Recv(64, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("a second recv: %v, want a timeout (the error is reported once)", err)
	}
	if !hasLine(rec, "client: recv() = ECONNREFUSED") {
		t.Errorf("no ECONNREFUSED event in\n%s", strings.Join(rec.lines(), "\n"))
	}

	u, err := p.UDP("other")
	must(t, err)
	if n, err := u.SendTo([]byte("ping"), port); err != nil || n != 4 {
		t.Fatalf("sendto: %d, %v", n, err)
	}
	if !u.Local().IsValid() || u.Local().Port() == 0 {
		t.Errorf("after sendto, Local is %v: want the port the kernel bound", u.Local())
	}
	if _, err := u.Recv(64, 200*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("recv on an unconnected socket after sendto: %v, want a timeout", err)
	}

	v, err := p.UDP("recverr")
	must(t, err)
	must(t, v.SetRecvErr(true))
	_, err = v.SendTo([]byte("ping"), port)
	must(t, err)
	if _, err := v.Recv(64, callWait); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("recv on an unconnected IP_RECVERR socket: %v, want ECONNREFUSED", err)
	}
}

// tcpPair is a connected TCP pair on a free port; before runs on the
// listener before listen.
func tcpPair(t *testing.T, p *Probe, before func(*Endpoint)) (c, a *Endpoint) {
	t.Helper()
	port := freePort(t)
	ln, err := p.TCP("server")
	must(t, err)
	if before != nil {
		before(ln)
	}
	must(t, ln.Bind(port))
	must(t, ln.Listen(4))
	c, err = p.TCP("client")
	must(t, err)
	must(t, c.Connect(port, callWait))
	a, err = ln.Accept("server (conn)", callWait)
	must(t, err)
	return c, a
}

// Three sends on a stream arrive as one read; a read with a small buffer
// leaves the rest for the next; a write larger than the receiver's buffer
// takes several reads, as readn counts them.
func TestStreamReads(t *testing.T) {
	t.Parallel()
	p, rec := newProbe(t)
	c, a := tcpPair(t, p, func(ln *Endpoint) { must(t, ln.SetRcvBuf(32<<10)) })
	for _, m := range []string{"one", "two", "three"} {
		_, err := c.Send([]byte(m))
		must(t, err)
	}
	if _, err := a.WaitPending(11, callWait); err != nil {
		t.Fatal(err)
	}
	if n, err := a.RecvBuffer(4096, callWait); err != nil || n != 11 {
		t.Errorf("one read after three sends: %d, %v; want all 11 bytes", n, err)
	}
	_, err := c.Send(bytes.Repeat([]byte("x"), 100))
	must(t, err)
	if _, err := a.WaitPending(100, callWait); err != nil {
		t.Fatal(err)
	}
	if n, err := a.RecvBuffer(10, callWait); err != nil || n != 10 {
		t.Errorf("recv(10) of 100 queued bytes: %d, %v", n, err)
	}
	if n, err := a.Pending(); err != nil || n != 90 {
		t.Errorf("FIONREAD after reading 10 of 100: %d, %v; want 90 (a stream keeps the rest)", n, err)
	}
	if reads, err := a.ReadN(90, 10, callWait); err != nil || len(reads) != 9 {
		t.Errorf("readn(90) with a 10-byte buffer: %v, %v; want 9 reads", reads, err)
	}

	const big = 256 << 10
	must(t, c.SetSndBuf(1<<20))
	done := make(chan error, 1)
	go func() {
		_, err := c.WriteN(bytes.Repeat([]byte("y"), big), callWait)
		done <- err
	}()
	reads, err := a.ReadN(big, big, callWait)
	must(t, err)
	must(t, <-done)
	t.Logf("one %d-byte write took reads of %v", big, reads)
	sum := 0
	for _, k := range reads {
		sum += k
	}
	if sum != big || len(reads) < 2 {
		t.Errorf("readn(%d) of one write into a 32 KiB receive buffer: reads %v (sum %d); want several", big, reads, sum)
	}
	for _, want := range []string{"server (conn): recv(4096-byte buffer) = 11 bytes", "server (conn): ioctl(FIONREAD) = 90 bytes",
		"server (conn): readn(90 bytes, 10-byte buffer) = 90 bytes in 9 reads"} {
		if !hasLine(rec, want) {
			t.Errorf("no event %q in\n%s", want, strings.Join(rec.lines(), "\n"))
		}
	}
	if !slices.ContainsFunc(rec.lines(), func(l string) bool {
		return strings.HasPrefix(l, "client: writen(262144 bytes) = 262144 bytes in ")
	}) {
		t.Errorf("no writen event in\n%s", strings.Join(rec.lines(), "\n"))
	}
	// The end of the stream before n bytes is an error, not a short count.
	must(t, c.Close())
	if _, err := a.ReadN(10, 10, callWait); err == nil {
		t.Error("readn past the end of the stream succeeded")
	}
}
