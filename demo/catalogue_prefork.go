package demo

import (
	"fmt"
	"os"
	"strings"

	"socktop/probe"
)

// fdInode returns the inode of the socket pid's descriptor fd refers to.
func fdInode(pid, fd int) (uint64, error) {
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil {
		return 0, err
	}
	var inode uint64
	if _, err := fmt.Sscanf(target, "socket:[%d]", &inode); err != nil {
		return 0, fmt.Errorf("pid %d fd %d is %s, not a socket: %w", pid, fd, target, err)
	}
	return inode, nil
}

// fdSockets returns the inodes of the sockets pid holds descriptors to.
func fdSockets(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, ent := range ents {
		target, err := os.Readlink(dir + "/" + ent.Name())
		var inode uint64
		if err == nil && strings.HasPrefix(target, "socket:[") {
			if _, err := fmt.Sscanf(target, "socket:[%d]", &inode); err == nil {
				out[inode] = true
			}
		}
	}
	return out, nil
}

// process is one of the run's processes, by pid and by the name the
// narration gives it.
type process struct {
	pid  int
	name string
}

// holders returns the processes among procs that hold a descriptor to
// the socket inode, read from their descriptor tables as the owners
// column reads them.
func holders(inode uint64, procs []process) ([]process, error) {
	var out []process
	for _, pr := range procs {
		socks, err := fdSockets(pr.pid)
		if err != nil {
			return nil, err
		}
		if socks[inode] {
			out = append(out, pr)
		}
	}
	return out, nil
}

// ownersText says who holds a socket: "4 processes: pid 10 (parent),
// pid 11 (server 1), ..." or, for one holder, "held by server 1 alone
// (pid 11)".
func ownersText(hs []process) string {
	if len(hs) == 1 {
		return fmt.Sprintf("held by %s alone (pid %d)", hs[0].name, hs[0].pid)
	}
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = fmt.Sprintf("pid %d (%s)", h.pid, h.name)
	}
	return fmt.Sprintf("%d processes: %s", len(hs), strings.Join(names, ", "))
}

// reportOwners narrates who holds the socket inode: an "owners(what)"
// line that the promises about sharing are checked against.
func (e *env) reportOwners(what string, inode uint64, procs []process) {
	hs, err := holders(inode, procs)
	e.ok(err)
	e.say("server", "owners("+what+")", ownersText(hs))
}

func preforkServer() *Scenario {
	return &Scenario{
		Name:    "prefork-server",
		Key:     "k",
		Title:   "Preforked server: children share one listening socket",
		Section: SectionServers,
		promisesFor: func(Config) []Promise {
			ps := []Promise{
				{Endpoint: "server", Call: "owners(listener)", Result: fmt.Sprintf("%d processes:", preforkChildren+1),
					Why: "fork leaves every child a descriptor on the parent's listening socket"},
				{Endpoint: "server", Call: "owners(listener)", Result: fmt.Sprintf("%d processes:", preforkChildren),
					Why: "the parent closed its copy; the socket lives while any process holds it"},
			}
			for k := range preforkChildren {
				name := fmt.Sprintf("server %d", k+1)
				ps = append(ps, Promise{Endpoint: "server", Call: "owners(" + name + "'s connection)", Result: "held by " + name + " alone",
					Why: fmt.Sprintf("child %d accepted a connection of its own: a busy child does not accept", k+1)})
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
			if why := labAllowed(); why != "" {
				return []string{"the concurrent-servers table is measured on loopback only: its 10 Mbit/s lan setting needs root for a network namespace, a veth pair and tc tbf (" + why + ")"}
			}
			return []string{"the concurrent-servers table is measured on loopback and across a veth pair into a network namespace, limited to 10 Mbit/s with tc tbf"}
		},
		steps: func(e *env) {
			ln := e.listener("server", true, 16, nil)
			lnInode, err := fdInode(os.Getpid(), ln.FD())
			e.ok(err)
			procs := []process{{os.Getpid(), "parent"}}
			kids := make([]*probe.Child, preforkChildren)
			for k := range kids {
				name := fmt.Sprintf("server %d", k+1)
				c, err := e.p.StartProgram(name, programPreforkWorker, workerArgs{Name: name}, ln)
				e.ok(err)
				kids[k] = c
				procs = append(procs, process{c.PID(), name})
			}
			for _, c := range kids {
				_, err := c.WaitFor(readyCall, waitLimit)
				e.ok(err)
			}
			e.reportOwners("listener", lnInode, procs)
			e.hold()
			e.ok(ln.Close())
			e.reportOwners("listener", lnInode, procs)
			e.hold()
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
			for k, c := range kids {
				socks, err := fdSockets(c.PID())
				e.ok(err)
				delete(socks, lnInode)
				if len(socks) != 1 {
					e.ok(fmt.Errorf("%s holds %d connections, want 1", procs[k+1].name, len(socks)))
				}
				for inode := range socks {
					e.reportOwners(procs[k+1].name+"'s connection", inode, procs)
				}
			}
			e.hold()
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
			settings, notes := e.concurrentSettings()
			e.table(concurrentTable(e.measureConcurrent(settings), notes...))
			e.hold()
		},
	}
}
