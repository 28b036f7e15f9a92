package probe

import (
	"encoding/json"
	"sync"
)

// Program is the body of a child process started with StartProgram: the
// code a forked child would run, in a re-exec of the current binary. It
// makes its calls on pc.Probe (they reach the parent's sink as the
// child's events) and on pc.Inherited, the endpoints the parent passed
// (the same open sockets, as after fork), reads the parent's commands
// from pc.Commands, and returns when it is done; the child then holds its
// descriptors until the parent closes its end or goes away.
type Program func(pc *ProgramContext) error

// ProgramContext is what a Program works with.
type ProgramContext struct {
	// Probe reports the child's calls to the parent.
	Probe *Probe
	// Inherited are the parent's endpoints passed to StartProgram, in
	// order, under the same names, open on the same sockets.
	Inherited []*Endpoint
	// Args is the JSON the parent gave StartProgram.
	Args json.RawMessage
	// Commands delivers the lines the parent sends with Child.Command; it
	// is closed when the parent closes the pipe.
	Commands <-chan string
}

var (
	programsMu sync.Mutex
	programs   = map[string]Program{}
)

// RegisterProgram makes prog startable by name. Call it from an init
// function, so that the re-executed child, which runs
// RunChildIfRequested first thing in main, finds it; a second
// registration of a name panics.
func RegisterProgram(name string, prog Program) {
	programsMu.Lock()
	defer programsMu.Unlock()
	if _, dup := programs[name]; dup {
		panic("probe: program " + name + " registered twice")
	}
	programs[name] = prog
}

func lookupProgram(name string) (Program, bool) {
	programsMu.Lock()
	defer programsMu.Unlock()
	prog, ok := programs[name]
	return prog, ok
}
