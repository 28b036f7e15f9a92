package demo

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/probe"
)

// writeTwice sends msg twice on ep, expecting both writes to fail with
// the errnos given: the first reports what the RST left, the second what
// a socket that is shut down says forever after.
func (e *env) writeTwice(ep *probe.Endpoint, msg string, first, then syscall.Errno) {
	for _, want := range []syscall.Errno{first, then} {
		if _, err := ep.Send([]byte(msg)); !errors.Is(err, want) {
			e.ok(fmt.Errorf("%s: write after the RST: %v, expected %s", ep.Name(), err, want))
		}
	}
}

// awaitRST waits until ep's connection has been reset: poll(2) with no
// events returns only on an error or a hang-up, which the RST brings.
func (e *env) awaitRST(ep *probe.Endpoint) {
	rev, err := ep.Poll(0, waitLimit)
	e.ok(err)
	if rev == 0 {
		e.ok(fmt.Errorf("%s: no RST arrived within %v", ep.Name(), waitLimit))
	}
}

func closeWaitWrite() *Scenario {
	return &Scenario{
		Name:    "closewait-write",
		Key:     "f",
		Section: SectionCrashes,
		Title:   "Writing to a peer that closed: one write goes, a RST answers, then EPIPE",
		Sysctls: []string{"tcp_fin_timeout"},
		Promises: []Promise{
			{Role: Server, State: collect.StateCloseWait, Why: "the client closed; the server has not read it yet"},
			{Role: Client, State: collect.StateFinWait2, Detail: "orphan, no descriptor", Match: noInode,
				Why: "the client closed fully: nothing is left to read what the server sends"},
			{Role: Server, Endpoint: "server", Call: "send(", Result: "6",
				Why: "the first write succeeds: the kernel queues it, the peer has not refused anything yet"},
			{Role: Server, Endpoint: "server", Call: "poll(", Result: "POLLERR|POLLHUP",
				Why: "the closed client answers the data with a RST"},
			{Role: Server, Endpoint: "server", Call: "recv(", Result: "0",
				Why: "the FIN came before the RST, so read returns end of file, not ECONNRESET"},
			{Role: Server, Endpoint: "server", Call: "send(", Result: "EPIPE",
				Why: "a RST in CLOSE_WAIT leaves EPIPE, not ECONNRESET; SIGPIPE is raised and ignored"},
			{Role: Server, Endpoint: "server 2", Call: "send(", Result: "ECONNRESET",
				Why: "a RST in ESTABLISHED leaves ECONNRESET for the next write: the material's order"},
			{Role: Server, Endpoint: "server 2", Call: "send(", Result: "EPIPE",
				Why: "after that, every write says EPIPE"},
			path(Client, "the client closes fully and its FIN is acknowledged",
				synSent, established, finWait1, finWait2),
			path(Server, "the RST ends CLOSE_WAIT at once: no FIN, no LAST_ACK",
				synRecv, established, closeWait, closed),
			segs("the server's data reaches a closed client, which answers with a bare RST",
				then(handshake, []Seg{fromC(fFINACK), fromS(fACK)}, []Seg{withData(fromS(fACK)), fromC(fRST)})...),
			segs("the second client aborts an open connection", then(handshake, []Seg{fromC(fRSTACK)})...),
			noSegs(Server, segments.FIN, "the server never closes: both its connections end by a RST"),
		},
		notes: func(h Host, cfg Config) []string {
			return []string{h.describe("tcp_fin_timeout") + ": how long the client's orphan FIN_WAIT_2 would wait; " +
				"a write after it is gone meets no socket and is refused by a RST all the same"}
		},
		steps: func(e *env) {
			ln := e.listener("server", true, 4, nil)
			c := e.client("client", nil)
			a := e.accept(ln, "server")
			e.hold()
			e.ok(c.Close())
			e.hold()
			e.send(a, "hello?")
			e.awaitRST(a)
			e.hold()
			if n := e.recv(a); n != 0 {
				e.ok(fmt.Errorf("server read %d bytes after the RST, expected EOF", n))
			}
			e.writeTwice(a, "again", syscall.EPIPE, syscall.EPIPE)
			e.say("server", "SIGPIPE", "raised by both writes, ignored by the Go runtime (the socket is not fd 1 or 2)")
			e.hold()

			c2 := e.client("client 2", nil)
			a2 := e.accept(ln, "server 2")
			e.hold()
			e.ok(c2.SetLinger(true, 0))
			e.ok(c2.Close())
			e.awaitRST(a2)
			e.writeTwice(a2, "hello?", syscall.ECONNRESET, syscall.EPIPE)
			e.hold()
		},
	}
}

func acceptAbort() *Scenario {
	return &Scenario{
		Name:    "accept-abort",
		Key:     "g",
		Section: SectionClose,
		Title:   "Releasing a thread blocked in accept(): shutdown() on the listener",
		Promises: []Promise{
			{Role: Server, State: collect.StateListen, Why: "the server listens"},
			{Role: Server, Call: "accept() [blocking", Result: "asleep in accept4",
				Why: "a thread sleeps in the kernel, in accept()"},
			{Role: Server, Call: "shutdown(SHUT_RDWR)", Result: "0", Why: "another thread shuts the listener down"},
			{Role: Server, Call: "accept() [blocking", Result: "EINVAL",
				Why: "the sleeping accept() wakes up and fails: the socket no longer listens"},
			{Role: Server, State: collect.StateClosed, Detail: "bound, descriptor open", Blocked: blockedBeforeBoundInactive,
				Match: func(s *collect.Socket) bool { return s.Inode != 0 },
				Why:   "the listener is CLOSED but keeps its port, until close()"},
			{Role: Client, Call: "connect(", Result: "ECONNREFUSED", Why: "nobody listens on the port any more"},
			path(Server, "shutdown() on a listener closes it: the queued and future connections are refused",
				collect.StateListen, closed),
			path(Client, "the refused connect goes back to CLOSED", synSent, closed),
			segs("a late client's SYN is refused with a RST", fromC(fSYN), fromS(fRSTACK)),
		},
		steps: func(e *env) {
			ln := e.listener("server", true, 4, nil)
			b, err := ln.AcceptBlocking("server (accepted)")
			e.ok(err)
			e.ok(b.WaitInKernel(waitLimit))
			e.hold()
			e.ok(ln.Shutdown(probe.ShutRDWR))
			if _, err := b.Wait(waitLimit); !errors.Is(err, syscall.EINVAL) {
				e.ok(fmt.Errorf("the blocked accept after shutdown: %v, expected EINVAL", err))
			}
			e.hold()
			c := e.tcp("client")
			if err := c.Connect(e.port, waitLimit); !errors.Is(err, syscall.ECONNREFUSED) {
				e.ok(fmt.Errorf("connect to the shut-down listener: %v, expected ECONNREFUSED", err))
			}
			e.hold()
			e.each(ln.Close)
		},
	}
}

// nbBacklog is the listen backlog of the non-blocking connect demo: the
// kernel queues backlog+1 connections, and drops SYNs while they wait.
const nbBacklog = 1

// nbConnectWait bounds the wait for the connect to end once there is
// room: the next SYN retransmission, up to a few seconds after the
// accept whatever tcp_syn_linear_timeouts is.
const nbConnectWait = 30 * time.Second

func nonBlockingConnect() *Scenario {
	return &Scenario{
		Name:    "nonblocking-connect",
		Key:     "h",
		Section: SectionNonBlocking,
		Title:   "Non-blocking connect: EINPROGRESS, poll for writable, SO_ERROR",
		Sysctls: []string{"tcp_syn_retries", "tcp_syn_linear_timeouts"},
		Promises: []Promise{
			{Role: Server, State: collect.StateListen, Detail: fmt.Sprintf("Recv-Q %d = backlog+1", nbBacklog+1),
				Match: recvQIs(nbBacklog + 1), Why: "two clients fill the accept queue"},
			{Role: Client, Endpoint: "client 3", Call: "connect(", Result: "EINPROGRESS",
				Why: "a non-blocking connect returns at once: the handshake goes on without the caller"},
			{Role: Client, State: collect.StateSynSent, Why: "the listener drops the SYN while its queue is full"},
			{Role: Client, Endpoint: "client 3", Call: "poll(POLLOUT, 0 ms)", Result: "0",
				Why: "not writable yet: the connection is not there"},
			{Role: Server, Call: "accept(", Result: "fd", Why: "the server makes room in its queue"},
			{Role: Client, Endpoint: "client 3", Call: "poll(POLLOUT", Result: "POLLOUT",
				Why: "the retransmitted SYN is answered: writable means the connect has ended"},
			{Role: Client, Endpoint: "client 3", Call: "getsockopt(SO_ERROR)", Result: "0",
				Why: "SO_ERROR says how it ended: 0 is connected (ECONNREFUSED, ETIMEDOUT otherwise)"},
			{Role: Client, State: collect.StateEstablished, Why: "every client ends up connected"},
			{Role: Server, Endpoint: "server 3", Call: "recv(", Result: "5 bytes",
				Why: "the third connection carries data like any other once accepted"},
			path(Client, "the first clients' handshakes complete at once", synSent, established),
			path(Server, "the kernel completes each handshake into the accept queue", synRecv, established),
			segs("the first SYN is dropped and sent again until one finds room",
				fromC(fSYN), fromC(fSYN), anySegs, fromS(fSYNACK), fromC(fACK)),
		},
		notes: func(h Host, cfg Config) []string {
			n, _ := h.get("tcp_syn_retries")
			lin, _ := h.get("tcp_syn_linear_timeouts")
			return []string{fmt.Sprintf("%s, %s: the SYN is sent again after 1 s, and the connect would fail with ETIMEDOUT after about %d s if no room came",
				h.describe("tcp_syn_retries"), h.describe("tcp_syn_linear_timeouts"), synRetrySeconds(n, lin))}
		},
		steps: func(e *env) {
			ln := e.listener("server", true, nbBacklog, nil)
			e.client("client 1", nil)
			e.client("client 2", nil)
			c := e.tcp("client 3")
			e.ok(c.ConnectNonBlocking(e.port))
			_, err := c.Poll(probe.PollOut, 0)
			e.ok(err)
			e.hold()
			e.accept(ln, "server")
			rev, err := c.Poll(probe.PollOut, nbConnectWait)
			e.ok(err)
			if rev&probe.PollOut == 0 {
				e.ok(fmt.Errorf("client 3 not writable %v after the accept made room", nbConnectWait))
			}
			soErr, err := c.SockError()
			e.ok(err)
			if soErr != 0 {
				e.ok(fmt.Errorf("client 3: the connect ended with %v", soErr))
			}
			e.hold()
			e.send(c, "hello")
			e.accept(ln, "server 2")
			e.recv(e.accept(ln, "server 3"))
			e.hold()
		},
	}
}
