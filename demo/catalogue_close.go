package demo

import (
	"errors"
	"fmt"
	"syscall"

	"socktop/collect"
	"socktop/collect/segments"
	"socktop/probe"
)

func politeClose() *Scenario {
	return &Scenario{
		Name:    "polite-close",
		Key:     "1",
		Title:   "Polite close: whoever closes first pays TIME_WAIT",
		Section: SectionCalls,
		Promises: []Promise{
			{Role: Server, State: collect.StateListen, Why: "the server listens"},
			{Role: Client, State: collect.StateEstablished, Why: "the handshake completed"},
			{Role: Client, State: collect.StateFinWait2, Why: "the client's FIN was acknowledged; it waits for the server's"},
			{Role: Server, State: collect.StateCloseWait, Why: "the server got the FIN and has not closed yet"},
			{Role: Client, State: collect.StateTimeWait, Detail: "timewait timer", Match: timerIs(collect.TimerTimeWait),
				Why: "the side that closed first keeps the 4-tuple for 60 s"},
			path(Client, "the active close: FIN sent, FIN acknowledged, the peer's FIN answered",
				synSent, established, finWait1, finWait2, timeWait),
			path(Server, "the passive close: FIN received, own FIN sent, its ACK ends the connection",
				synRecv, established, closeWait, lastAck, closed),
			segs("three segments open, four close: each side's FIN is acknowledged on its own",
				then(handshake, []Seg{fromC(fFINACK), fromS(fACK), fromS(fFINACK), fromC(fACK)})...),
		},
		steps: func(e *env) {
			_, c, a := e.connected()
			e.hold()
			e.each(c.Close, a.Close)
		},
	}
}

func serverRestart() *Scenario {
	return &Scenario{
		Name:          "server-restart",
		Key:           "2",
		Title:         "Server restart with or without SO_REUSEADDR",
		Section:       SectionReuseAddr,
		UsesReuseAddr: true,
		promisesFor: func(cfg Config) []Promise {
			ps := []Promise{
				{Role: Server, State: collect.StateListen, Why: "the first generation listens"},
				{Role: Server, State: collect.StateTimeWait, Detail: "on the server port", Match: timerIs(collect.TimerTimeWait),
					Why: "the server closed first, so the TIME_WAIT holds the server's port"},
				path(Server, "the server's end makes the active close",
					synRecv, established, finWait1, finWait2, timeWait),
				path(Client, "the client's end makes the passive close",
					synSent, established, closeWait, lastAck, closed),
				segs("the server's FIN goes first; the client's FIN carries the ACK of it",
					then(handshake, []Seg{fromS(fFINACK)}, []Seg{fromC(fFINACK), fromS(fACK)})...),
			}
			if cfg.ReuseAddr {
				return append(ps,
					Promise{Role: Server, Endpoint: "server (new)", Call: "bind(", Result: "0",
						Why: "both generations set SO_REUSEADDR, so the TIME_WAIT does not block the new bind"},
					Promise{Role: Server, Endpoint: "server (new)", Call: "listen(", Result: "0",
						Why: "the new server is up at once"})
			}
			return append(ps, Promise{Role: Server, Endpoint: "server (new)", Call: "bind(", Result: "EADDRINUSE",
				Why: "without SO_REUSEADDR the TIME_WAIT keeps the port for 60 s"})
		},
		steps: func(e *env) {
			ln := e.listener("server", e.cfg.ReuseAddr, 4, nil)
			c := e.client("client", nil)
			a := e.accept(ln, "server")
			e.hold()
			e.ok(a.Close())
			n := e.recv(c)
			if n != 0 {
				e.ok(fmt.Errorf("client read %d bytes, expected the server's FIN", n))
			}
			e.ok(c.Close())
			e.ok(ln.Close())
			e.say("server", "restart", "the old listener is gone, its TIME_WAIT stays")
			e.hold()
			next := e.tcp("server (new)")
			e.ok(next.SetReuseAddr(e.cfg.ReuseAddr))
			err := next.Bind(e.port)
			switch {
			case err == nil:
				e.ok(next.Listen(4))
			case errors.Is(err, syscall.EADDRINUSE):
				e.ok(next.Close())
			default:
				e.ok(err)
			}
			e.hold()
		},
	}
}

func serverCrash() *Scenario {
	return &Scenario{
		Name:    "server-crash",
		Key:     "3",
		Title:   "Server crash: the kernel closes for the dead process",
		Section: SectionCrashes,
		Sysctls: []string{"tcp_fin_timeout"},
		Promises: []Promise{
			{Role: Server, State: collect.StateListen, Why: "the child process listens"},
			{Role: Server, State: collect.StateEstablished, Why: "the child accepted the connection"},
			{Role: Client, State: collect.StateCloseWait, Why: "the kernel sent a FIN for the dead server"},
			{Role: Server, State: collect.StateFinWait2, Detail: "orphan, no descriptor", Match: noInode,
				Why: "the dead server's socket waits for the client's FIN"},
			{Role: Server, State: collect.StateTimeWait, Detail: "on the server port",
				Why: "the crashed side closed first, so TIME_WAIT sits on the server's port"},
			path(Server, "the kernel makes the active close for the dead process",
				synRecv, established, finWait1, finWait2, timeWait),
			path(Client, "the client makes the passive close",
				synSent, established, closeWait, lastAck, closed),
			segs("the kernel sends the dead server's FIN; the client answers, later closes too",
				then(handshake, []Seg{fromS(fFINACK), fromC(fACK)}, []Seg{fromC(fFINACK), fromS(fACK)})...),
		},
		notes: func(h Host, cfg Config) []string {
			return []string{h.describe("tcp_fin_timeout") + ": the crashed server's orphan FIN_WAIT_2 would last that many seconds if the client never closed"}
		},
		steps: func(e *env) {
			child, err := e.p.StartServer(probe.ServerSpec{Name: "server", AcceptName: "server", Port: e.port, ReuseAddr: true, Backlog: 4, Accept: 1})
			e.ok(err)
			_, err = child.WaitFor("listen(", waitLimit)
			e.ok(err)
			c := e.client("client", nil)
			_, err = child.WaitFor("accept(", waitLimit)
			e.ok(err)
			e.hold()
			e.ok(child.Kill())
			if n := e.recv(c); n != 0 {
				e.ok(fmt.Errorf("client read %d bytes, expected the FIN of the dead server", n))
			}
			e.hold()
			e.each(c.Close)
		},
	}
}

func leakyServer() *Scenario {
	return &Scenario{
		Name:    "leaky-server",
		Key:     "4",
		Title:   "Leaky server: CLOSE_WAIT means someone forgot close()",
		Section: SectionStates,
		Sysctls: []string{"tcp_fin_timeout"},
		Promises: []Promise{
			{Role: Server, State: collect.StateCloseWait, Why: "the server never closes its end"},
			{Role: Client, State: collect.StateFinWait2, Detail: "orphan with a timer", Match: func(s *collect.Socket) bool {
				return s.Inode == 0 && s.Timer != collect.TimerOff
			}, Why: "the client closed and waits for a FIN that never comes, for tcp_fin_timeout"},
			path(Client, "the client's FIN was acknowledged; no FIN comes back",
				synSent, established, finWait1, finWait2),
			path(Server, "the server got the FIN and stays",
				synRecv, established, closeWait),
			segs("the client's FIN is acknowledged", then(handshake, []Seg{fromC(fFINACK), fromS(fACK)})...),
			noSegs(Server, segments.FIN, "the server never closes, so it never sends a FIN"),
		},
		notes: func(h Host, cfg Config) []string { return []string{finTimeoutNote(h, cfg, fastLinger2)} },
		steps: func(e *env) {
			ln := e.listener("server", true, 4, nil)
			c := e.client("client", func(c *probe.Endpoint) {
				if e.cfg.Fast {
					e.ok(c.SetLinger2(fastLinger2))
				}
			})
			e.accept(ln, "server")
			e.hold()
			e.ok(c.Close())
			e.say("server", "(never calls close())", "CLOSE_WAIT forever")
			e.hold()
		},
	}
}

func halfClose() *Scenario {
	return &Scenario{
		Name:    "half-close",
		Key:     "5",
		Title:   "Half-close: shutdown(SHUT_WR) and FIN_WAIT_2 without a timer",
		Section: SectionClose,
		Promises: []Promise{
			{Role: Client, State: collect.StateFinWait2, Detail: "no timer", Match: timerIs(collect.TimerOff),
				Why: "a half-closed socket with a descriptor has no FIN_WAIT_2 timer"},
			{Role: Server, State: collect.StateCloseWait, Why: "the server read the client's FIN"},
			{Role: Client, Call: "recv(", Result: "13 bytes", Why: "the half-closed side still receives"},
			{Role: Client, State: collect.StateTimeWait, Why: "the client sent the first FIN"},
			path(Client, "shutdown(SHUT_WR) makes an active close that keeps its descriptor",
				synSent, established, finWait1, finWait2, timeWait),
			path(Server, "the server answers, then closes",
				synRecv, established, closeWait, lastAck, closed),
			segs("data flows to the half-closed side after its FIN",
				then(handshake, []Seg{fromC(fFINACK)}, []Seg{withData(fromS(fACK))}, []Seg{fromS(fFINACK), fromC(fACK)})...),
		},
		Sysctls: []string{"tcp_fin_timeout"},
		notes: func(h Host, cfg Config) []string {
			return []string{h.describe("tcp_fin_timeout") + " applies to orphans only: this FIN_WAIT_2 keeps its descriptor and has no timer"}
		},
		steps: func(e *env) {
			_, c, a := e.connected()
			e.hold()
			e.ok(c.Shutdown(probe.ShutWR))
			if n := e.recv(a); n != 0 {
				e.ok(fmt.Errorf("server read %d bytes, expected the client's FIN", n))
			}
			e.send(a, "still talking")
			e.recv(c)
			e.hold()
			e.hold()
			e.each(a.Close, c.Close)
		},
	}
}

func abortiveClose() *Scenario {
	return &Scenario{
		Name:    "abortive-close",
		Key:     "b",
		Title:   "Abortive close: SO_LINGER 0 sends RST and skips TIME_WAIT",
		Section: SectionLinger,
		Promises: []Promise{
			{Role: Client, State: collect.StateEstablished, Why: "a normal connection first"},
			{Role: Server, State: collect.StateEstablished, Why: "a normal connection first"},
			{Role: Server, Call: "recv(", Result: "ECONNRESET", Why: "the RST reaches the server as an error"},
			{Role: Client, State: collect.StateTimeWait, Absent: true, Why: "a RST ends the connection without TIME_WAIT"},
			path(Client, "close() with SO_LINGER 0 goes straight to CLOSED",
				synSent, established, closed),
			path(Server, "the RST closes the server's end too",
				synRecv, established, closed),
			segs("one RST instead of the FIN exchange", then(handshake, []Seg{fromC(fRSTACK)})...),
			noSegs("", segments.FIN, "no FIN from either side"),
		},
		steps: func(e *env) {
			_, c, a := e.connected()
			e.hold()
			e.ok(c.SetLinger(true, 0))
			e.ok(c.Close())
			_, err := a.Recv(4096, waitLimit)
			if !errors.Is(err, syscall.ECONNRESET) {
				e.ok(fmt.Errorf("server recv after RST: %v, expected ECONNRESET", err))
			}
			e.ok(a.Close())
			e.hold()
		},
	}
}
