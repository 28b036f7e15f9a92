package demo

import (
	"fmt"
	"net/netip"
	"time"

	"socktop/collect"
	"socktop/probe"
)

// busyConns is how many short connections each half of the busy-server
// demo makes: enough rows to look like the material's netstat listing.
func busyConns(cfg Config) int {
	if cfg.Fast {
		return 6
	}
	return 20
}

// The busy server's exchange: one request, one reply, as an HTTP/1.0
// server on the material's port 80 would.
const (
	busyRequest = "GET / HTTP/1.0\r\n\r\n"
	busyReply   = "HTTP/1.0 200 OK\r\n\r\nhello\n"
)

// The two halves of the demo, as the count lines name them.
const (
	serverFirst  = "server closed first"
	clientsFirst = "clients closed first"
)

// countCall is the narration call of a count of the run's connections of
// one half in state, seen from one side: "count(TIME_WAIT, clients closed
// first)". A promise names it without the closing parenthesis, as it
// names a socket call by its start.
func countCall(state collect.State, half string) string {
	return fmt.Sprintf("count(%s, %s", state, half)
}

// countResult is what a count line says: "6 of 6".
func countResult(n, of int) string { return fmt.Sprintf("%d of %d", n, of) }

func busyServer() *Scenario {
	return &Scenario{
		Name:    "busy-server",
		Key:     "n",
		Title:   "Busy server: TIME_WAIT piles up on whichever side closes first",
		Section: SectionStates,
		Sysctls: []string{"tcp_max_tw_buckets", "tcp_fin_timeout", "tcp_tw_reuse"},
		promisesFor: func(cfg Config) []Promise {
			n := busyConns(cfg)
			all, none := countResult(n, n), countResult(0, n)
			return []Promise{
				{Role: Server, State: collect.StateListen, Why: "one listening port takes every connection"},
				{Role: Server, State: collect.StateFinWait2, Detail: "orphan, no descriptor", Match: noInode,
					Why: "the server closed; the client has not yet: the material's FIN_WAIT_2 rows"},
				{Role: Client, State: collect.StateCloseWait, Why: "the client read EOF and has not closed"},
				{Role: Server, State: collect.StateTimeWait, Detail: "on the server port", Match: timerIs(collect.TimerTimeWait),
					Why: "the server closed first: its port holds the TIME_WAITs"},
				{Role: Client, State: collect.StateTimeWait, Detail: "on a client's port", Match: timerIs(collect.TimerTimeWait),
					Why: "the clients closed first: their ephemeral ports hold the TIME_WAITs"},
				{Role: Server, Call: countCall(collect.StateFinWait2, serverFirst), Result: all,
					Why: "every connection the server closed waits for its client's FIN"},
				{Role: Server, Call: countCall(collect.StateTimeWait, serverFirst), Result: all,
					Why: "the side that closed first keeps each connection for 60 s"},
				{Role: Client, Call: countCall(collect.StateTimeWait, serverFirst), Result: none,
					Why: "the side that closed second keeps nothing"},
				{Role: Client, Call: countCall(collect.StateTimeWait, clientsFirst), Result: all,
					Why: "flipping who closes first moves the TIME_WAITs to the clients"},
				{Role: Server, Call: countCall(collect.StateTimeWait, clientsFirst), Result: none,
					Why: "the server closed second this time"},
				path(Server, "the server's end of a connection it closes first",
					synRecv, established, finWait1, finWait2, timeWait),
				path(Client, "a client that closes second", synSent, established, closeWait, lastAck, closed),
				path(Client, "a client that closes first", synSent, established, finWait1, finWait2, timeWait),
				path(Server, "the server's end when the client closes first", synRecv, established, closeWait, lastAck, closed),
				segs("the server's FIN goes first", then(handshake, []Seg{fromS(fFINACK)}, []Seg{fromC(fFINACK), fromS(fACK)})...),
				segs("the client's FIN goes first", then(handshake, []Seg{fromC(fFINACK)}, []Seg{fromS(fFINACK), fromC(fACK)})...),
			}
		},
		notes: func(h Host, cfg Config) []string {
			return []string{
				fmt.Sprintf("%d connections each way; the counts read the kernel's table for this run's own connections, by their addresses", busyConns(cfg)),
				h.describe("tcp_max_tw_buckets") + ": past that many TIME_WAITs the kernel destroys a closing socket at once instead (\"time wait bucket table overflow\")",
				h.describe("tcp_tw_reuse") + ": lets a new outgoing connection take a client-side TIME_WAIT's port; a server-side TIME_WAIT costs only memory",
			}
		},
		steps: func(e *env) {
			src := collect.NewNetlink(collect.Options{TCP: true, IPv4: true,
				States: 1<<collect.StateTimeWait | 1<<collect.StateFinWait2 | 1<<collect.StateCloseWait})
			defer src.Close()
			ln := e.listener("server", true, 16, nil)
			n := busyConns(e.cfg)

			// The server closes first, as an HTTP/1.0 server does.
			first := make([]*probe.Endpoint, 0, n)
			for i := range n {
				c, a := e.exchange(ln, i+1)
				e.ok(a.Close())
				_, err := c.RecvBuffer(4096, waitLimit) // the FIN: EOF
				e.ok(err)
				first = append(first, c)
			}
			e.count(src, first, collect.StateFinWait2, serverFirst)
			e.hold()
			for _, c := range first {
				e.ok(c.Close())
			}
			e.count(src, first, collect.StateTimeWait, serverFirst)
			e.hold()

			// The clients close first.
			second := make([]*probe.Endpoint, 0, n)
			for i := range n {
				c, a := e.exchange(ln, n+i+1)
				e.ok(c.Close())
				_, err := a.RecvBuffer(4096, waitLimit) // the FIN: EOF
				e.ok(err)
				e.ok(a.Close())
				second = append(second, c)
			}
			e.count(src, second, collect.StateTimeWait, clientsFirst)
			e.hold()
			e.hold()
		},
	}
}

// exchange connects client i, accepts it as server i, and makes one
// request and its reply, read by the client.
func (e *env) exchange(ln *probe.Endpoint, i int) (c, a *probe.Endpoint) {
	c = e.client(fmt.Sprintf("client %d", i), nil)
	a = e.accept(ln, fmt.Sprintf("server %d", i))
	e.send(c, busyRequest)
	_, err := a.WaitPending(len(busyRequest), waitLimit)
	e.ok(err)
	_, err = a.RecvBuffer(4096, waitLimit)
	e.ok(err)
	e.send(a, busyReply)
	_, err = c.WaitPending(len(busyReply), waitLimit)
	e.ok(err)
	_, err = c.RecvBuffer(4096, waitLimit)
	e.ok(err)
	return c, a
}

// count reads the kernel's table until every connection of clients has
// its closing side in state (or waitLimit passes, and the count says how
// many did), and narrates, from that one dump, how many of the
// connections are in state on the server's end and on the clients' ends.
// A connection is found by its two addresses, which the run's own
// endpoints know: other programs' sockets on the same port numbers are
// not counted.
func (e *env) count(src *collect.Netlink, clients []*probe.Endpoint, state collect.State, half string) {
	ends := make(map[netip.AddrPort]netip.AddrPort, len(clients)) // client end -> server end
	for _, c := range clients {
		ends[c.Local()] = c.Remote()
	}
	closer := Server
	if half == clientsFirst {
		closer = Client
	}
	deadline := time.Now().Add(waitLimit)
	for {
		snap, err := src.Snapshot(e.ctx)
		e.ok(err)
		server, client := 0, 0
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			if s.State.Canonical() != state {
				continue
			}
			if srv, ok := ends[s.Local]; ok && s.Remote == srv {
				client++
			}
			if srv, ok := ends[s.Remote]; ok && s.Local == srv {
				server++
			}
		}
		done := server == len(clients)
		if closer == Client {
			done = client == len(clients)
		}
		if done || time.Now().After(deadline) {
			e.say(string(Server), countCall(state, half)+")", countResult(server, len(clients))+" on "+probe.Loopback.String()+fmt.Sprintf(":%d", e.port))
			e.say(string(Client), countCall(state, half)+")", countResult(client, len(clients))+" on the clients' ports")
			return
		}
		e.pause(20 * time.Millisecond)
	}
}
