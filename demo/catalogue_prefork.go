package demo

import (
	"fmt"
	"os"
	"time"

	"socktop/collect"
	"socktop/probe"
)

// ownerPIDs counts the distinct processes holding s, and says whether
// this process is one of them.
func ownerPIDs(s *collect.Socket) (n int, self bool) {
	seen := map[int]bool{}
	for _, o := range s.Owners {
		seen[o.PID] = true
	}
	return len(seen), seen[os.Getpid()]
}

// heldByParentAndChildren accepts a socket held by this process and n
// others: the parent and its children, after fork.
func heldByParentAndChildren(n int) func(*collect.Socket) bool {
	return func(s *collect.Socket) bool {
		pids, self := ownerPIDs(s)
		return self && pids == n+1
	}
}

// heldByChildrenOnly accepts a socket held by n processes, none of them
// this one.
func heldByChildrenOnly(n int) func(*collect.Socket) bool {
	return func(s *collect.Socket) bool {
		pids, self := ownerPIDs(s)
		return !self && pids == n
	}
}

// ownerWait bounds how long a picture about owners is held for its
// promise: the collector learns that a fork shared an existing socket
// only at its next full owner scan (collect's ownerRefresh, 10 s), since
// a fork makes no new inode.
const ownerWait = 15 * time.Second

// holdForOwners holds the picture like hold, and then until the promise
// whose Detail is detail has been kept, or ownerWait has passed (the
// promise is then reported missed).
func (e *env) holdForOwners(detail string) {
	e.hold()
	deadline := time.Now().Add(ownerWait)
	for {
		for _, st := range e.run.Status() {
			if st.Detail == detail && st.Seen {
				return
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		_, wake := e.run.observedSince(time.Now())
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
			panic(stepFailure{e.ctx.Err()})
		case <-e.p.Stopping():
			t.Stop()
			panic(stepFailure{probe.ErrStopped})
		}
		t.Stop()
	}
}

// The details of the promises about owners, which the steps hold their
// pictures for.
var (
	detailParentAndChildren = fmt.Sprintf("owners: the parent and its %d children", preforkChildren)
	detailChildrenOnly      = fmt.Sprintf("owners: %d children, not the parent", preforkChildren)
	detailOneChild          = "held by one child"
)

func preforkServer() *Scenario {
	return &Scenario{
		Name:    "prefork-server",
		Key:     "k",
		Title:   "Preforked server: children share one listening socket",
		Section: SectionServers,
		promisesFor: func(Config) []Promise {
			ps := []Promise{
				{Role: Server, State: collect.StateListen, Match: heldByParentAndChildren(preforkChildren),
					Detail: detailParentAndChildren,
					Why:    "fork leaves every child a descriptor on the parent's listening socket"},
				{Role: Server, State: collect.StateListen, Match: heldByChildrenOnly(preforkChildren),
					Detail: detailChildrenOnly,
					Why:    "the parent closed its copy; the socket lives while any process holds it"},
				{Role: Server, State: collect.StateEstablished, Match: heldByChildrenOnly(1),
					Detail: detailOneChild,
					Why:    "the child that accepted a connection is its only owner"},
			}
			for k := range preforkChildren {
				ps = append(ps, Promise{Endpoint: fmt.Sprintf("server %d", k+1), Role: Server, Call: "send(", Result: fmt.Sprint(replyBytes),
					Why: fmt.Sprintf("child %d accepted a connection of its own and answered it: a busy child does not accept", k+1)})
			}
			return append(ps,
				path(Server, "a child answers and closes first", synRecv, established, finWait1, finWait2, timeWait),
				path(Client, "the client reads to the end of file and closes", synSent, established, closeWait, lastAck, closed),
				segs("the request, the reply, and the child's FIN",
					then(handshake, []Seg{withData(fromC(fACK))}, []Seg{withData(fromS(fACK))}, []Seg{fromS(fFINACK)})...),
				Promise{Endpoint: "measure", Call: "table " + concurrentTableName,
					Why: "the tester compares a fork per connection with preforked children"},
			)
		},
		notes: func(Host, Config) []string {
			if os.Geteuid() != 0 {
				return []string{"the concurrent-servers table is measured on loopback only: its 10 Mbit/s setting needs root (a network namespace, a veth pair, tc tbf)"}
			}
			return nil
		},
		steps: func(e *env) {
			ln := e.listener("server", true, 16, nil)
			kids := make([]*probe.Child, preforkChildren)
			for k := range kids {
				name := fmt.Sprintf("server %d", k+1)
				c, err := e.p.StartProgram(name, programPreforkWorker, workerArgs{Name: name}, ln)
				e.ok(err)
				kids[k] = c
			}
			for _, c := range kids {
				_, err := c.WaitFor(readyCall, waitLimit)
				e.ok(err)
			}
			e.holdForOwners(detailParentAndChildren)
			e.ok(ln.Close())
			e.holdForOwners(detailChildrenOnly)
			clients := make([]*probe.Endpoint, preforkChildren)
			for k := range clients {
				clients[k] = e.client(fmt.Sprintf("client %d", k+1), nil)
			}
			// Each child takes one connection and waits for its request,
			// so every connection goes to another child.
			for _, c := range kids {
				_, err := c.WaitFor("accept(", waitLimit)
				e.ok(err)
			}
			e.holdForOwners(detailOneChild)
			for _, c := range clients {
				e.send(c, request)
			}
			for _, c := range clients {
				n, err := c.Drain(waitLimit)
				e.ok(err)
				if n != replyBytes {
					e.ok(fmt.Errorf("%s read %d bytes, want %d", c.Name(), n, replyBytes))
				}
			}
			e.hold()
			for _, c := range clients {
				e.ok(c.Close())
			}
			e.hold()
			rows := e.measureConcurrent([]loadSetting{loopbackSetting})
			e.table(concurrentTable(rows))
			e.hold()
		},
	}
}
