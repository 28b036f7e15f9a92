package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"socktop/probe"
)

// The servers of the concurrent-servers table and of prefork-server, as
// probe programs: each runs in a child process (a re-exec of this
// binary, which is how a Go program forks) on the listening socket its
// parent passed.
const (
	// programPreforkWorker accepts on the inherited listener, one
	// connection at a time, for as long as it lives: one of the children
	// an Apache-style server forks in advance.
	programPreforkWorker = "demo/prefork-worker"
	// programForkServer accepts on the inherited listener and forks a
	// child (programForkChild) for every connection, closing its own copy
	// of the connected socket at once.
	programForkServer = "demo/fork-server"
	// programForkChild answers the one connection it inherited and exits.
	programForkChild = "demo/fork-child"
)

func init() {
	probe.RegisterProgram(programPreforkWorker, preforkWorker)
	probe.RegisterProgram(programForkServer, forkPerConnection)
	probe.RegisterProgram(programForkChild, forkChild)
}

// workerArgs are the arguments of the server programs.
type workerArgs struct {
	// Name is the endpoint name of the connections this process accepts
	// ("server 2"), so the narration says which child took which.
	Name string `json:"name"`
}

func parseWorkerArgs(pc *probe.ProgramContext, want int) (workerArgs, error) {
	var a workerArgs
	if len(pc.Args) > 0 {
		if err := json.Unmarshal(pc.Args, &a); err != nil {
			return a, fmt.Errorf("%w: %w", probe.ErrBadArgument, err)
		}
	}
	if len(pc.Inherited) != want {
		return a, fmt.Errorf("%w: %d inherited sockets, want %d", probe.ErrBadArgument, len(pc.Inherited), want)
	}
	if a.Name == "" {
		a.Name = "server"
	}
	return a, nil
}

// preforkWorker is the body of one preforked child: accept, answer,
// close, and accept again. A child busy with a connection does not
// accept, so the next connection goes to another child.
func preforkWorker(pc *probe.ProgramContext) error {
	a, err := parseWorkerArgs(pc, 1)
	if err != nil {
		return err
	}
	ln := pc.Inherited[0]
	ready(pc, a.Name)
	for {
		c, err := ln.Accept(a.Name, 0)
		if err != nil {
			return ignoreStopped(err)
		}
		if err := answer(c); err != nil {
			return ignoreStopped(err)
		}
	}
}

// forkPerConnection is the body of a fork-per-connection server: accept, fork
// a child for the connection, close the parent's copy.
func forkPerConnection(pc *probe.ProgramContext) error {
	a, err := parseWorkerArgs(pc, 1)
	if err != nil {
		return err
	}
	ln := pc.Inherited[0]
	ready(pc, a.Name)
	for {
		c, err := ln.Accept(a.Name, 0)
		if err != nil {
			return ignoreStopped(err)
		}
		_, err = pc.Probe.StartProgram(a.Name+" child", programForkChild, workerArgs{Name: a.Name + " child"}, c)
		// The parent's copy goes whether or not the fork worked: a server
		// that kept it would leave the client without an end of file.
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return ignoreStopped(err)
		}
	}
}

// forkChild answers its one connection and exits, as the child of a
// forking server does; the process ends at once rather than waiting for
// its parent, so a busy server does not pile up finished children.
func forkChild(pc *probe.ProgramContext) error {
	if _, err := parseWorkerArgs(pc, 1); err != nil {
		return err
	}
	if err := answer(pc.Inherited[0]); err != nil {
		return ignoreStopped(err)
	}
	pc.Probe.Emit("server child", "exit(0)", "the kernel reaps it; the parent's reader sees end of file", nil)
	os.Exit(0)
	return nil
}

// readyCall is the narration line a server child reports before its
// first accept, so that the parent can wait for every child to be in
// place before the clients come.
const readyCall = "ready"

func ready(pc *probe.ProgramContext, name string) {
	pc.Probe.Emit(name, readyCall, fmt.Sprintf("pid %d waits in accept()", os.Getpid()), nil)
}

// reply is the page every request fetches.
var reply = []byte(strings.Repeat("x", replyBytes))

// answer reads the request, sends the reply and closes: the server
// closes first, so TIME_WAIT lands on the server's side.
func answer(c *probe.Endpoint) error {
	got := 0
	for got < len(request) {
		n, err := c.Recv(len(request)-got, 0)
		if err != nil {
			return err
		}
		if n == 0 {
			return c.Close() // the client gave up before asking
		}
		got += n
	}
	n, err := c.Send(reply)
	if err != nil {
		return err
	}
	if n != len(reply) {
		return fmt.Errorf("short send: %d of %d bytes", n, len(reply))
	}
	return c.Close()
}

// ignoreStopped turns the error of a wait that Stop ended into nil: a
// server child is ended that way when its parent is done with it.
func ignoreStopped(err error) error {
	if errors.Is(err, probe.ErrStopped) {
		return nil
	}
	return err
}
