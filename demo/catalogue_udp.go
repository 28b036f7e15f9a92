package demo

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"time"

	"socktop/collect"
	"socktop/probe"
)

// The sizes of the truncation demo: a datagram, the buffer that reads it,
// and the write a stream delivers over several reads. streamRcvBuf is the
// receiver's SO_RCVBUF: its queue never holds the whole write, so no
// single read can return it.
const (
	datagramSize = 100
	smallBuffer  = 10
	bigWrite     = 256 << 10
	streamRcvBuf = 32 << 10
	bigSndBuf    = 1 << 20
)

// The endpoint names of the truncation demo: each call promise names its
// endpoint, since both halves have a client and a server.
const (
	udpServer = "server (UDP)"
	udpClient = "client (UDP)"
	tcpServer = "server (TCP, accepted)"
	tcpClient = "client (TCP)"
)

// quietWait is how long a read waits to show that nothing is coming: on
// loopback a datagram (or the ICMP error it provokes) is queued before
// the send returns, so this only has to make the wait visible.
func quietWait(cfg Config) time.Duration {
	if cfg.Fast {
		return 300 * time.Millisecond
	}
	return 2 * time.Second
}

// expectTimeout ends the steps unless err is the timeout they expect.
func (e *env) expectTimeout(err error, what string) {
	if !errors.Is(err, probe.ErrTimeout) {
		e.ok(fmt.Errorf("%s: %v, expected nothing to arrive", what, err))
	}
}

func udpTruncate() *Scenario {
	return &Scenario{
		Name:    "udp-truncate",
		Key:     "i",
		Title:   "Datagrams are read whole or cut; a stream keeps no write boundaries",
		Section: SectionKinds,
		Ports:   2,
		Promises: []Promise{
			{Role: Server, State: collect.StateUnconn, Detail: "Recv-Q > 0", Match: recvQueued,
				Why: "a datagram waits in the bound socket's queue"},
			{Role: Server, Endpoint: udpServer, Call: fmt.Sprintf("recvmsg(%d-byte buffer)", smallBuffer),
				Result: fmt.Sprintf("%d bytes, msg_flags MSG_TRUNC", smallBuffer),
				Why:    "the datagram is cut to the buffer, and the kernel says so in msg_flags"},
			{Role: Server, Endpoint: udpServer, Call: "ioctl(FIONREAD)", Result: "0 bytes",
				Why: "the rest of the datagram is gone: nothing is left to read"},
			{Role: Server, Endpoint: udpServer, Call: fmt.Sprintf("recvmsg(%d-byte buffer)", smallBuffer), Result: "timed out",
				Why: "the next read waits for a new datagram"},
			{Role: Server, Endpoint: udpServer, Call: fmt.Sprintf("recvmsg(%d-byte buffer, MSG_TRUNC", smallBuffer),
				Result: fmt.Sprintf("%d (%d copied), msg_flags MSG_TRUNC", datagramSize, smallBuffer),
				Why:    "with MSG_TRUNC the call returns the datagram's real length"},
			{Role: Server, Endpoint: udpServer, Call: fmt.Sprintf("recvmsg(%d-byte buffer)", smallBuffer), Result: "4 bytes",
				Why: "the read after a cut one gets the next datagram, not the rest"},
			{Role: Server, State: collect.StateEstablished, Detail: "Recv-Q 11 after three sends", Match: recvQIs(11),
				Why: "three writes are one queue of bytes"},
			{Role: Server, Endpoint: tcpServer, Call: "recv(4096-byte buffer", Result: "11 bytes",
				Why: "one read takes what three writes sent"},
			{Role: Server, Endpoint: tcpServer, Call: "ioctl(FIONREAD)", Result: fmt.Sprintf("%d bytes", datagramSize-smallBuffer),
				Why: "a short read of a stream leaves the rest for the next read"},
			{Role: Server, Endpoint: tcpServer, Call: fmt.Sprintf("reads(one %d-byte send", bigWrite), Result: "more than one",
				Why: "one large write arrives over several reads: what readn is for"},
			path(Client, "the stream's client connects", synSent, established),
			path(Server, "the stream's server end is born from the handshake", synRecv, established),
			segs("a stream needs a handshake before the first byte; the datagrams needed none",
				then(handshake, []Seg{withData(fromC(fACK))})...),
		},
		notes: func(h Host, cfg Config) []string {
			return []string{fmt.Sprintf("the stream's receiver sets SO_RCVBUF=%d, so no one read can return the %d-byte write", streamRcvBuf, bigWrite)}
		},
		steps: func(e *env) {
			e.datagramHalf()
			e.streamHalf()
			e.hold()
		},
	}
}

// datagramHalf shows a datagram cut by a small buffer, on the run's
// second port.
func (e *env) datagramHalf() {
	port := e.ports[1]
	s, err := e.p.UDP(udpServer)
	e.ok(err)
	e.ok(s.Bind(port))
	c, err := e.p.UDP(udpClient)
	e.ok(err)
	e.ok(c.Connect(port, waitLimit))
	e.send(c, string(bytes.Repeat([]byte("a"), datagramSize)))
	// On a UDP socket FIONREAD gives the size of the next datagram.
	_, err = s.WaitPending(datagramSize, waitLimit)
	e.ok(err)
	e.hold()
	_, err = s.RecvMsg(smallBuffer, false, waitLimit)
	e.ok(err)
	_, err = s.Pending()
	e.ok(err)
	_, err = s.RecvMsg(smallBuffer, false, quietWait(e.cfg))
	e.expectTimeout(err, "a read after the cut one")
	e.send(c, string(bytes.Repeat([]byte("b"), datagramSize)))
	e.send(c, "next")
	_, err = s.RecvMsg(smallBuffer, true, waitLimit)
	e.ok(err)
	_, err = s.RecvMsg(smallBuffer, false, waitLimit)
	e.ok(err)
	e.hold()
}

// streamHalf shows TCP's byte stream against it, on the server port:
// writes merged into one read, a short read that leaves the rest, and
// one large write over several reads.
func (e *env) streamHalf() {
	ln := e.listener("server (TCP)", true, 4, func(ln *probe.Endpoint) { e.ok(ln.SetRcvBuf(streamRcvBuf)) })
	c := e.client(tcpClient, nil)
	a := e.accept(ln, tcpServer)
	for _, m := range []string{"one", "two", "three"} {
		e.send(c, m)
	}
	// Reading only once all eleven bytes are queued makes the merge the
	// kernel's doing, not the scheduler's.
	_, err := a.WaitPending(11, waitLimit)
	e.ok(err)
	e.hold()
	_, err = a.RecvBuffer(4096, waitLimit)
	e.ok(err)

	e.send(c, string(bytes.Repeat([]byte("a"), datagramSize)))
	_, err = a.WaitPending(datagramSize, waitLimit)
	e.ok(err)
	_, err = a.RecvBuffer(smallBuffer, waitLimit)
	e.ok(err)
	_, err = a.Pending()
	e.ok(err)
	_, err = a.ReadN(datagramSize-smallBuffer, smallBuffer, waitLimit)
	e.ok(err)

	// The writer has room for the whole write; the reader's small buffer
	// makes the kernel deliver it in pieces. writen runs beside readn, as
	// in two processes, so neither waits on the other.
	e.ok(c.SetSndBuf(bigSndBuf))
	done := make(chan error, 1)
	go func() {
		_, err := c.WriteN(bytes.Repeat([]byte("x"), bigWrite), waitLimit)
		done <- err
	}()
	reads, err := a.ReadN(bigWrite, bigWrite, waitLimit)
	e.ok(errors.Join(err, <-done))
	verdict := fmt.Sprintf("more than one: %d", len(reads))
	if len(reads) == 1 {
		verdict = "one"
	}
	e.say(tcpServer, fmt.Sprintf("reads(one %d-byte send)", bigWrite), verdict)
}

func udpRefused() *Scenario {
	const (
		connected   = "client (connected)"
		unconnected = "client (unconnected)"
		recvErr     = "client (IP_RECVERR)"
	)
	return &Scenario{
		Name:    "udp-refused",
		Key:     "j",
		Title:   "UDP to a closed port: ECONNREFUSED on the next call, if connected",
		Section: SectionKinds,
		Promises: []Promise{
			{Role: Client, Endpoint: connected, Call: "connect(", Result: "0",
				Why: "connect() on UDP sends nothing: it fixes the peer"},
			{Role: Client, Endpoint: connected, Call: "send(", Result: "4",
				Why: "the datagram leaves: UDP cannot know nobody listens"},
			{Role: Client, Endpoint: connected, Call: "recv(", Result: "ECONNREFUSED",
				Why: "the ICMP port unreachable comes back as an error on the socket, reported by the next call"},
			{Role: Client, Endpoint: connected, Call: "recv(", Result: "timed out",
				Why: "the error is reported once; then the socket waits for datagrams again"},
			{Role: Client, Endpoint: unconnected, Call: "sendto(", Result: "4", Why: "sendto() on an unconnected socket"},
			{Role: Client, Endpoint: unconnected, Call: "recv(", Result: "timed out",
				Why: "an unconnected socket is not told of the ICMP error: its recv just waits"},
			{Role: Client, Endpoint: recvErr, Call: "recv(", Result: "ECONNREFUSED",
				Why: "IP_RECVERR asks for the error on an unconnected socket too"},
			{Role: Client, State: collect.StateEstablished, Why: "a connected UDP socket shows ESTABLISHED: it only has a peer"},
			{Role: Client, State: collect.StateUnconn, Why: "sendto() bound the unconnected socket to an ephemeral port"},
		},
		steps: func(e *env) {
			// FreePort chose a port no UDP socket has; say so again now,
			// since the point is that nobody is there.
			busy, err := probe.PortInUse(e.port)
			e.ok(err)
			if busy {
				e.ok(fmt.Errorf("%w: UDP port %d was taken after it was chosen", ErrPortBusy, e.port))
			}
			e.say("demo", fmt.Sprintf("bind test on 127.0.0.1:%d and [::1]:%d", e.port, e.port), "free: nobody listens")
			c, err := e.p.UDP(connected)
			e.ok(err)
			e.ok(c.Connect(e.port, waitLimit))
			e.send(c, "ping")
			_, err = c.Recv(64, waitLimit)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				e.ok(fmt.Errorf("recv on a connected UDP socket after a send to a closed port: %v, expected ECONNREFUSED", err))
			}
			_, err = c.Recv(64, quietWait(e.cfg))
			e.expectTimeout(err, "a second recv")
			e.hold()

			u, err := e.p.UDP(unconnected)
			e.ok(err)
			_, err = u.SendTo([]byte("ping"), e.port)
			e.ok(err)
			_, err = u.Recv(64, quietWait(e.cfg))
			e.expectTimeout(err, "recv on an unconnected socket")

			v, err := e.p.UDP(recvErr)
			e.ok(err)
			e.ok(v.SetRecvErr(true))
			_, err = v.SendTo([]byte("ping"), e.port)
			e.ok(err)
			_, err = v.Recv(64, waitLimit)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				e.ok(fmt.Errorf("recv on an IP_RECVERR socket after a send to a closed port: %v, expected ECONNREFUSED", err))
			}
			e.hold()
			e.hold()
		},
	}
}
