package demo

import (
	"errors"
	"fmt"
	"syscall"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/probe"
)

// overflowBacklog is the listen backlog of the overflow demo; the kernel
// queues backlog+1 connections.
const overflowBacklog = 1

func listenOverflow() *Scenario {
	return &Scenario{
		Name:    "listen-overflow",
		Key:     "6",
		Title:   "Listen overflow: an app that does not accept",
		Section: SectionCalls,
		Sysctls: []string{"tcp_syn_retries", "tcp_syn_linear_timeouts", "tcp_abort_on_overflow"},
		Promises: []Promise{
			{Role: Server, State: collect.StateListen, Detail: fmt.Sprintf("Recv-Q %d = backlog+1", overflowBacklog+1),
				Match: recvQIs(overflowBacklog + 1), Why: "the accept queue is full"},
			{Role: Server, State: collect.StateEstablished, Detail: "not accepted, no descriptor", Match: noInode,
				Why: "the kernel finished the handshake; the application never took it"},
			{Role: Client, State: collect.StateSynSent, Why: "the SYN is dropped, the client retries"},
			path(Client, "the first clients' handshakes complete", synSent, established),
			path(Server, "the kernel completes the handshake into the accept queue", synRecv, established),
			segs("a late client's SYN gets no answer and is sent again after the retransmission timeout",
				fromC(fSYN), fromC(fSYN)),
		},
		notes: func(h Host, cfg Config) []string {
			n, _ := h.get("tcp_syn_retries")
			lin, _ := h.get("tcp_syn_linear_timeouts")
			out := []string{fmt.Sprintf("%s, %s: SYN_SENT lasts about %d s before ETIMEDOUT",
				h.describe("tcp_syn_retries"), h.describe("tcp_syn_linear_timeouts"), synRetrySeconds(n, lin))}
			if cfg.Fast {
				out = append(out, fmt.Sprintf("this run sets TCP_SYNCNT=%d on clients 3 and 4: about %d s", fastSynCnt, synRetrySeconds(fastSynCnt, 0)))
			}
			if v, ok := h.get("tcp_abort_on_overflow"); ok && v == 1 {
				out = append(out, "tcp_abort_on_overflow=1: a final ACK that finds the queue full is answered with RST")
			}
			return out
		},
		steps: func(e *env) {
			e.listener("server", true, overflowBacklog, nil)
			e.client("client 1", nil)
			e.client("client 2", nil)
			e.hold()
			late := make([]*probe.Endpoint, 0, 2)
			for _, name := range []string{"client 3", "client 4"} {
				c := e.tcp(name)
				if e.cfg.Fast {
					e.ok(c.SetSynCnt(fastSynCnt))
				}
				e.ok(c.ConnectNonBlocking(e.port))
				late = append(late, c)
			}
			e.hold()
			for _, c := range late {
				err := c.WaitConnected(0)
				if err != nil && !errors.Is(err, syscall.ETIMEDOUT) {
					e.ok(err)
				}
			}
			e.hold()
		},
	}
}

// deferSeconds is the TCP_DEFER_ACCEPT of the half-open demo.
const deferSeconds = 5

func halfOpen() *Scenario {
	return &Scenario{
		Name:    "half-open",
		Key:     "7",
		Title:   "Half-open handshake: SYN_RECV while the client is ESTABLISHED",
		Section: SectionStates,
		Sysctls: []string{"tcp_syncookies", "tcp_synack_retries"},
		Promises: []Promise{
			{Role: Server, State: collect.StateSynRecv, Detail: "no descriptor", Match: noInode, Blocked: blockedBySyncookies2,
				Why: "the server waits for data before completing the connection"},
			{Role: Client, State: collect.StateEstablished, Why: "the client already believes it is connected"},
			{Role: Server, Call: "accept(", Result: "fd", Why: "data arrives, the connection is born"},
			path(Client, "the client is connected as soon as the SYN-ACK arrives", synSent, established),
			path(Server, "the server's connection is born only when data arrives", synRecv, established),
			segs("the client's ACK completes the handshake on its side; the server waits for the data",
				then(handshake, []Seg{withData(fromC(fACK))})...),
		},
		notes: func(h Host, cfg Config) []string {
			return []string{fmt.Sprintf("%s: TCP_DEFER_ACCEPT=%d keeps SYN_RECV about 7 s unless data arrives first; %s",
				h.describe("tcp_synack_retries"), deferSeconds, h.describe("tcp_syncookies"))}
		},
		steps: func(e *env) {
			ln := e.listener("server", true, 4, func(ln *probe.Endpoint) { e.ok(ln.SetDeferAccept(deferSeconds)) })
			c := e.client("client", nil)
			e.hold()
			e.send(c, "GET / HTTP/1.0\r\n\r\n")
			a := e.accept(ln, "server")
			e.recv(a)
			e.hold()
		},
	}
}

// zeroWindow builds the zero-window pair: the receiver has a 4 KB
// buffer and never reads, the sender fills its own 4 KB buffer until
// EAGAIN. serverSends picks the direction; bounded sets TCP_USER_TIMEOUT
// on the sender in Fast runs, for scenarios that leave the FIN stuck.
func (e *env) zeroWindow(serverSends, bounded bool) (c, a *probe.Endpoint) {
	ln := e.listener("server", true, 4, func(ln *probe.Endpoint) {
		if !serverSends {
			e.ok(ln.SetRcvBuf(4096))
		}
	})
	c = e.client("client", func(c *probe.Endpoint) {
		if serverSends {
			e.ok(c.SetRcvBuf(4096))
		} else {
			e.ok(c.SetSndBuf(4096))
			if e.cfg.Fast && bounded {
				e.ok(c.SetUserTimeout(fastUserTimeout))
			}
		}
	})
	a = e.accept(ln, "server")
	sender := c
	if serverSends {
		e.ok(a.SetSndBuf(4096))
		if e.cfg.Fast && bounded {
			e.ok(a.SetUserTimeout(fastUserTimeout))
		}
		sender = a
	}
	_, err := sender.SendUntilEAGAIN()
	e.ok(err)
	return c, a
}

func slowReader() *Scenario {
	return &Scenario{
		Name:    "slow-reader",
		Key:     "8",
		Title:   "Slow reader: close() does not mean the FIN has left",
		Section: SectionLinger,
		Promises: []Promise{
			{Role: Server, State: collect.StateEstablished, Detail: "Recv-Q full", Match: recvQueued, Why: "the server does not read"},
			{Role: Client, State: collect.StateFinWait1, Detail: "Send-Q > 0, persist timer", Match: sendQueued,
				Why: "the FIN waits behind data the peer has no room for"},
			path(Client, "close() moves the client to FIN_WAIT_1, and there it stays", synSent, established, finWait1),
			path(Server, "the server neither reads nor closes", synRecv, established),
			segs("the server's window closes", then(handshake, []Seg{{From: Server, Flags: fACK, ZeroWindow: true}})...),
			noSegs(Client, segments.FIN, "close() returned, yet the FIN has not left"),
		},
		notes: fastOr(fmt.Sprintf("this run sets TCP_USER_TIMEOUT=%v on the client: FIN_WAIT_1 ends after it", fastUserTimeout),
			"FIN_WAIT_1 lasts while the server neither reads nor closes: stopping the demo closes it (RST)"),
		steps: func(e *env) {
			c, _ := e.zeroWindow(false, true)
			e.hold()
			e.each(c.Close)
			e.hold()
		},
	}
}

func lateClose() *Scenario {
	return &Scenario{
		Name:    "late-close",
		Key:     "9",
		Title:   "Late close: LAST_ACK waits for the peer's window",
		Section: SectionStates,
		Promises: []Promise{
			{Role: Server, State: collect.StateCloseWait, Why: "the client's FIN arrived"},
			{Role: Client, State: collect.StateFinWait2, Why: "the client's FIN was acknowledged"},
			{Role: Server, State: collect.StateLastAck, Detail: "Send-Q > 0, persist timer", Match: sendQueued,
				Why: "the server's FIN is stuck behind data the client does not read"},
			path(Client, "the client's FIN was acknowledged", synSent, established, finWait1, finWait2),
			path(Server, "the server closes late and waits in LAST_ACK", synRecv, established, closeWait, lastAck),
			segs("the client's FIN is acknowledged", then(handshake, []Seg{fromC(fFINACK), fromS(fACK)})...),
			noSegs(Server, segments.FIN, "the server's FIN cannot leave"),
		},
		notes: fastOr(fmt.Sprintf("this run sets TCP_USER_TIMEOUT=%v on the server: LAST_ACK ends after it", fastUserTimeout),
			"LAST_ACK lasts while the client does not read: stopping the demo closes it"),
		steps: func(e *env) {
			c, a := e.zeroWindow(true, true)
			e.hold()
			e.each(shutWR(c), a.Close)
			e.hold()
		},
	}
}

func simultaneousClose() *Scenario {
	return &Scenario{
		Name:    "simultaneous-close",
		Key:     "a",
		Title:   "Simultaneous close: CLOSING, then TIME_WAIT on both sides",
		Section: SectionStates,
		Promises: []Promise{
			{Role: Client, State: collect.StateFinWait1, Detail: "FIN stuck", Match: sendQueued, Why: "the client's FIN cannot leave"},
			{Role: Client, State: collect.StateClosing, Why: "the server's FIN arrived before the client's was acknowledged"},
			{Role: Server, State: collect.StateFinWait2, Why: "the server's FIN was acknowledged"},
			{Role: Client, State: collect.StateTimeWait, Why: "both sides closed first"},
			{Role: Server, State: collect.StateTimeWait, Why: "both sides closed first"},
			path(Client, "the peer's FIN arrived while the client's own was unsent",
				synSent, established, finWait1, closing, timeWait),
			path(Server, "the server's FIN was acknowledged, then the client's arrived",
				synRecv, established, finWait1, finWait2, timeWait),
			segs("the server's FIN goes first; the client's leaves on its last data",
				then(handshake, []Seg{fromS(fFINACK)}, []Seg{withData(fromC(fFINACK)), fromS(fACK)})...),
		},
		steps: func(e *env) {
			c, a := e.zeroWindow(false, false)
			e.hold()
			e.each(shutWR(c), shutWR(a))
			e.hold()
			_, err := a.Drain(waitLimit)
			e.ok(err)
			e.hold()
			e.ok(c.Close())
			e.ok(a.Close())
			e.hold()
		},
	}
}

func udpScenario() *Scenario {
	return &Scenario{
		Name:    "udp",
		Key:     "c",
		Title:   "UDP: no handshake, no states",
		Section: SectionKinds,
		Promises: []Promise{
			{Role: Server, State: collect.StateUnconn, Why: "a bound UDP socket without a peer"},
			{Role: Client, State: collect.StateEstablished, Why: "connect() on UDP only fixes the peer"},
			{Role: Server, Call: "recv(", Result: "4 bytes", Why: "the datagram arrives"},
		},
		steps: func(e *env) {
			s, err := e.p.UDP("server")
			e.ok(err)
			e.ok(s.Bind(e.port))
			c, err := e.p.UDP("client")
			e.ok(err)
			e.ok(c.Connect(e.port, waitLimit))
			e.send(c, "ping")
			e.recv(s)
			e.hold()
			e.hold()
		},
	}
}

func closedScenario() *Scenario {
	return &Scenario{
		Name:    "closed",
		Key:     "d",
		Title:   "CLOSED: bound but inactive sockets",
		Section: SectionCalls,
		Ports:   2,
		Promises: []Promise{
			{Role: Server, State: collect.StateClosed, Blocked: blockedBeforeBoundInactive, Why: "bound, never listening"},
			{Role: Client, Call: "connect(", Result: "ECONNREFUSED", Why: "nobody listens on the port"},
			{Role: Client, State: collect.StateClosed, Blocked: blockedBeforeBoundInactive, Why: "still bound after the refused connect"},
			path(Client, "the refused connect goes back to CLOSED", closed, synSent, closed),
			segs("the SYN is answered with a RST", fromC(fSYN), fromS(fRSTACK)),
		},
		steps: func(e *env) {
			s := e.tcp("server")
			e.ok(s.SetReuseAddr(false))
			e.ok(s.Bind(e.port))
			c := e.tcp("client")
			e.ok(c.Bind(e.ports[1]))
			err := c.Connect(e.port, waitLimit)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				e.ok(fmt.Errorf("connect to a bound, non-listening port: %v, expected ECONNREFUSED", err))
			}
			e.hold()
			e.hold()
		},
	}
}
