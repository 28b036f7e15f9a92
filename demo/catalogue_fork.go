package demo

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"socktop/collect"
	"socktop/probe"
)

// The programs the forked children of these scenarios run; registered at
// init so that the re-executed child finds them.
const (
	// sharedCloseProgram does what the parent's commands say on the
	// connection it inherited: "send", "shutdown", "close".
	sharedCloseProgram = "demo.shared-close"
	// forkServeProgram is a fork-per-connection server's child: it reads
	// the request, sends the reply and closes its descriptor.
	forkServeProgram = "demo.fork-server"
)

// childGreeting is what the shared-close child sends after the parent's
// close: 14 bytes, which its promise names.
const childGreeting = "from the child"

// forkReply is the fork-server child's answer to a request.
const forkReply = "HTTP/1.0 200 OK\r\n\r\nserved by a forked child\n"

func init() {
	probe.RegisterProgram(sharedCloseProgram, func(pc *probe.ProgramContext) error {
		ep := pc.Inherited[0]
		for cmd := range pc.Commands {
			var err error
			switch cmd {
			case "send":
				_, err = ep.Send([]byte(childGreeting))
			case "shutdown":
				err = ep.Shutdown(probe.ShutWR)
			case "close":
				err = ep.Close()
			default:
				err = fmt.Errorf("%w: unknown command %q", probe.ErrBadArgument, cmd)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	probe.RegisterProgram(forkServeProgram, func(pc *probe.ProgramContext) error {
		ep := pc.Inherited[0]
		if _, err := ep.Recv(4096, 0); err != nil {
			return err
		}
		if _, err := ep.Send([]byte(forkReply)); err != nil {
			return err
		}
		return ep.Close()
	})
}

// holders narrates which of the run's processes (this one, the parent,
// and its children kids) hold a descriptor on the socket inode
// ("socket:[12345]"), read from /proc/PID/fd as the owners column is. The steps read it
// themselves because a collector's owner cache shows a fork or a close
// only at its next rescan, which a busy host spaces by many seconds:
// neither makes a new socket that would call for one.
func (e *env) holders(name, inode string, kids ...*probe.Child) {
	pids := []int{os.Getpid()}
	for _, k := range kids {
		pids = append(pids, k.PID())
	}
	var parts []string
	parent, child := false, false
	for i, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		e.ok(err)
		for _, ent := range ents {
			if link, _ := os.Readlink(dir + "/" + ent.Name()); link == inode {
				parts = append(parts, fmt.Sprintf("pid %d fd %s", pid, ent.Name()))
				parent, child = parent || i == 0, child || i > 0
			}
		}
	}
	who := "nobody"
	switch {
	case parent && child:
		who = "parent and child"
	case parent:
		who = "the parent alone"
	case child:
		who = "the child alone"
	}
	if len(parts) > 0 {
		who += ": " + strings.Join(parts, ", ")
	}
	e.say(name, "holders("+inode+")", who)
}

// hasInode accepts a socket some descriptor still refers to.
func hasInode(s *collect.Socket) bool { return s.Inode != 0 }

// inodeOf returns the socket:[N] name of ep's open descriptor.
func (e *env) inodeOf(ep *probe.Endpoint) string {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", ep.FD()))
	e.ok(err)
	return link
}

// quietFor is how long a peer waits to show that nothing arrives.
func quietFor(cfg Config) time.Duration {
	if cfg.Fast {
		return 500 * time.Millisecond
	}
	return 3 * time.Second
}

// expectNothing reads on ep and ends the steps unless the read times out
// with nothing to read: no data and no FIN arrived.
func (e *env) expectNothing(ep *probe.Endpoint) {
	n, err := ep.Recv(4096, quietFor(e.cfg))
	if errors.Is(err, probe.ErrTimeout) {
		return
	}
	e.ok(err)
	e.ok(fmt.Errorf("%s read %d bytes, expected nothing", ep.Name(), n))
}

// expectEOF reads on ep and ends the steps unless it reads end of stream.
func (e *env) expectEOF(ep *probe.Endpoint, why string) {
	if n := e.recv(ep); n != 0 {
		e.ok(fmt.Errorf("%s read %d bytes, expected %s", ep.Name(), n, why))
	}
}

// command sends a line to a child and waits for the call it leads to.
func (e *env) command(c *probe.Child, line, call string) {
	e.ok(c.Command(line))
	_, err := c.WaitFor(call, waitLimit)
	e.ok(err)
}

func sharedClose() *Scenario {
	return &Scenario{
		Name:    "shared-close",
		Key:     "e",
		Section: SectionClose,
		Title:   "Shared close: after fork, close() sends nothing, shutdown() sends the FIN",
		Promises: []Promise{
			{Role: Server, Call: "holders(", Result: "parent and child",
				Why: "after fork both processes hold the connection: one socket, two descriptors"},
			{Role: Client, Call: "recv(", Result: "timed out",
				Why: "the parent's close() only dropped its descriptor: nothing was sent, the peer reads nothing"},
			{Role: Server, Call: "holders(", Result: "the child alone",
				Why: "after the parent's close() the child alone holds the connection"},
			{Role: Server, Call: "send(", Result: fmt.Sprint(len(childGreeting)),
				Why: "the child still sends on it: no FIN has gone, or the kernel would refuse"},
			{Role: Client, Call: "recv(", Result: "0 (EOF",
				Why: "the child's shutdown(SHUT_WR) sends the FIN, however many processes hold the socket"},
			{Role: Client, State: collect.StateCloseWait, Why: "the peer got the FIN and has not closed yet"},
			{Role: Server, State: collect.StateFinWait2, Detail: "no timer: the child still holds it", Match: timerIs(collect.TimerOff),
				Why: "the FIN went although a descriptor still holds the socket: half-closed, so FIN_WAIT_2 has no timer"},
			path(Server, "the parent's close() is no step at all; the child's shutdown() is the active close",
				synRecv, established, finWait1, finWait2),
			path(Client, "the client got the FIN",
				synSent, established, closeWait),
			segs("the server's only data is the child's, sent after the parent's close(); its FIN comes after it",
				then(handshake, []Seg{withData(fromS(fACK))}, []Seg{fromS(fFINACK), fromC(fACK)})...),
		},
		steps: func(e *env) {
			_, c, a := e.connected()
			inode := e.inodeOf(a)
			child, err := e.p.StartProgram("server (child)", sharedCloseProgram, nil, a)
			e.ok(err)
			e.holders("server", inode, child)
			e.hold()
			e.ok(a.Close())
			e.holders("server", inode, child)
			e.expectNothing(c)
			e.hold()
			e.command(child, "send", "send(")
			e.recv(c)
			e.hold()
			e.command(child, "shutdown", "shutdown(")
			e.expectEOF(c, "the FIN of the child's shutdown")
			// The picture stays until the run stops: the child holds its
			// half-closed end, the client sits in CLOSE_WAIT.
			e.hold()
		},
	}
}

func forkServer() *Scenario {
	return &Scenario{
		Name:    "fork-server",
		Key:     "l",
		Section: SectionServers,
		Title:   "Fork per connection: the parent must close its copy",
		Promises: []Promise{
			{Endpoint: "client 1", Call: "recv(", Result: "0 (EOF",
				Why: "connection 1: the parent closed its copy, so the child's close() was the last and sent the FIN"},
			{Role: Server, State: collect.StateTimeWait, Detail: "connection 1, on the server port",
				Why: "the child's close() was the active close"},
			{Endpoint: "server 2", Call: "holders(", Result: "parent and child",
				Why: "connection 2: the parent forgot to close its copy, so both processes hold it"},
			{Endpoint: "server 2", Call: "holders(", Result: "the parent alone",
				Why: "connection 2: after the child's close() the parent's forgotten copy is the last"},
			{Endpoint: "client 2", Call: "recv(", Result: "timed out",
				Why: "connection 2: the child closed, but the parent's copy keeps the connection open: no FIN, no EOF"},
			{Role: Server, State: collect.StateCloseWait, Detail: "a descriptor holds it: the parent's", Match: hasInode,
				Why: "client 2 gave up; the server end waits for a close() the parent will never make"},
			{Role: Client, State: collect.StateFinWait2, Detail: "orphan, no descriptor", Match: noInode,
				Why: "client 2 closed and waits for a FIN that never comes, for tcp_fin_timeout"},
			path(Server, "connection 1: the child's close() was the last reference, so it sent the FIN",
				synRecv, established, finWait1, finWait2, timeWait),
			path(Client, "connection 1: the client read the reply and end of stream, then closed",
				synSent, established, closeWait, lastAck, closed),
			path(Server, "connection 2: the child's close() is no step at all; the client's FIN finds the parent's copy",
				synRecv, established, closeWait),
			path(Client, "connection 2: the client gives up first and never hears back",
				synSent, established, finWait1, finWait2),
			segs("connection 1: request, reply, the child's FIN, then the client's",
				then(handshake, []Seg{withData(fromC(fACK))}, []Seg{withData(fromS(fACK))},
					[]Seg{fromS(fFINACK), fromC(fACK)}, []Seg{fromC(fFINACK), fromS(fACK)})...),
		},
		Sysctls: []string{"tcp_fin_timeout"},
		notes: func(h Host, cfg Config) []string {
			return []string{h.describe("tcp_fin_timeout") + ": client 2's orphan FIN_WAIT_2 lives that many seconds; the server's CLOSE_WAIT lives as long as the parent"}
		},
		steps: func(e *env) {
			const request = "GET / HTTP/1.0\r\n\r\n"
			ln := e.listener("server", true, 8, nil)

			// Connection 1: the parent does it right.
			c1 := e.client("client 1", nil)
			a1 := e.accept(ln, "server 1")
			k1, err := e.p.StartProgram("server 1 (child)", forkServeProgram, nil, a1)
			e.ok(err)
			e.ok(a1.Close())
			e.send(c1, request)
			e.recv(c1)
			_, err = k1.WaitFor("close(", waitLimit)
			e.ok(err)
			e.expectEOF(c1, "the FIN of the child's close()")
			e.hold()
			e.each(c1.Close)

			// Connection 2: the parent forgets its copy.
			c2 := e.client("client 2", nil)
			a2 := e.accept(ln, "server 2")
			k2, err := e.p.StartProgram("server 2 (child)", forkServeProgram, nil, a2)
			e.ok(err)
			e.say("server 2", "(the parent never calls close())", "its copy stays open")
			inode := e.inodeOf(a2)
			e.holders("server 2", inode, k2)
			e.hold()
			e.send(c2, request)
			e.recv(c2)
			_, err = k2.WaitFor("close(", waitLimit)
			e.ok(err)
			e.holders("server 2", inode, k2)
			e.expectNothing(c2)
			e.hold()
			e.each(c2.Close)
		},
	}
}
