package probe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// programEnv turns the binary into a program child (StartProgram); its
// value is the JSON programSpec. It is separate from ChildEnv, whose
// value is documented as a ServerSpec.
const programEnv = "SOCKTOP_PROBE_PROGRAM"

// programSpec tells a program child what to run and which of its
// descriptors are the parent's endpoints.
type programSpec struct {
	Name    string          `json:"name"`
	Program string          `json:"program"`
	Args    json.RawMessage `json:"args"`
	Inherit []inheritSpec   `json:"inherit"`
}

// inheritSpec is one passed endpoint: its name and the descriptor number
// in the child, the parent's own as after fork (but for 0 to 2, see
// StartProgram).
type inheritSpec struct {
	Name string `json:"name"`
	FD   int    `json:"fd"`
}

// StartProgram starts a child process named name running the registered
// program with args (marshalled to JSON), passing it the open sockets of
// pass, as fork would: afterwards both processes hold them, under the
// same descriptor numbers, and the owner column lists both pids. The
// child's events reach the probe's sink with the child's pid after the
// endpoint's name ("server (pid 4242)"), since the parent's endpoints
// have the same names; it dies with its parent (Pdeathsig), and Stop
// ends it.
func (p *Probe) StartProgram(name, program string, args any, pass ...*Endpoint) (*Child, error) {
	const call = "fork()"
	if _, ok := lookupProgram(program); !ok {
		return nil, p.fail(name, call, fmt.Errorf("%w: no program %q registered", ErrBadArgument, program))
	}
	argsJSON, err := json.Marshal(args)
	if err != nil {
		return nil, p.fail(name, call, fmt.Errorf("%w: %w", ErrBadArgument, err))
	}
	spec := programSpec{Name: name, Program: program, Args: argsJSON}
	// The child gets duplicates, so each process holds its own descriptor
	// on one open socket, exactly as fork leaves them; ExtraFiles entry i
	// becomes descriptor 3+i, so placing each duplicate at its parent's
	// number keeps the numbers too.
	var extra []*os.File
	defer func() {
		for _, f := range extra {
			if f != nil {
				f.Close()
			}
		}
	}()
	fds := make([]string, 0, len(pass))
	// A descriptor below 3 (this process was started with a standard
	// stream closed, so a socket took its number) cannot keep its number
	// in the child, whose 0 to 2 are the pipes to this process: it goes
	// to the first free number after the others are placed.
	type passed struct {
		ep  *Endpoint
		dup *os.File
		fd  int
	}
	var low []passed
	place := func(ep *Endpoint, dup *os.File, fd int) error {
		for len(extra) <= fd-3 {
			extra = append(extra, nil)
		}
		if extra[fd-3] != nil {
			dup.Close()
			return fmt.Errorf("%w: %s passed twice", ErrBadArgument, ep.name)
		}
		extra[fd-3] = dup
		spec.Inherit = append(spec.Inherit, inheritSpec{Name: ep.name, FD: fd})
		fds = append(fds, fmt.Sprintf("fd %d", fd))
		return nil
	}
	for _, ep := range pass {
		dup, fd, err := ep.dupForChild()
		if err != nil {
			return nil, p.fail(name, call, fmt.Errorf("passing %s: %w", ep.name, err))
		}
		if fd < 3 {
			if slices.ContainsFunc(low, func(l passed) bool { return l.ep == ep }) {
				dup.Close()
				return nil, p.fail(name, call, fmt.Errorf("%w: %s passed twice", ErrBadArgument, ep.name))
			}
			low = append(low, passed{ep, dup, fd})
			continue
		}
		if err := place(ep, dup, fd); err != nil {
			return nil, p.fail(name, call, err)
		}
	}
	for _, l := range low {
		free := slices.Index(extra, nil)
		if free < 0 {
			free = len(extra)
		}
		if err := place(l.ep, l.dup, free+3); err != nil {
			return nil, p.fail(name, call, err)
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, p.fail(name, call, fmt.Errorf("%w: %w", ErrBadArgument, err))
	}
	c, err := p.startChild(name, call, programEnv+"="+string(specJSON), extra)
	if err != nil {
		return nil, err
	}
	res := fmt.Sprintf("pid %d", c.pid)
	if len(fds) > 0 {
		res += " (inherits " + strings.Join(fds, ", ") + ")"
	}
	p.Emit(name, call, res, nil)
	return c, nil
}

// dupForChild returns a close-on-exec duplicate of the endpoint's
// descriptor (so no other child started meanwhile inherits it) and the
// descriptor's number.
func (e *Endpoint) dupForChild() (*os.File, int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, 0, e.closedErr()
	}
	dup, err := unix.FcntlInt(uintptr(e.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("dup: %w", err)
	}
	// os.NewFile keeps a non-blocking descriptor non-blocking, also when
	// exec asks for its number, so the parent's endpoint, which shares
	// the file status flags, keeps polling as before.
	return os.NewFile(uintptr(dup), e.name), e.fd, nil
}

// Command sends one line to the child's program (ProgramContext.Commands).
// The line must not contain a newline.
func (c *Child) Command(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("%w: command %q has a line break", ErrBadArgument, line)
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return fmt.Errorf("%w: command %q to pid %d: %w", ErrChild, line, c.pid, err)
	}
	return nil
}

// Adopt makes an endpoint called name of a socket descriptor the process
// already holds, such as one inherited from its parent; the probe owns it
// from then on and Stop closes it. It learns the transport (SO_TYPE) and
// the local and remote addresses from the kernel, and makes the
// descriptor non-blocking and close-on-exec like the probe's own
// sockets. It reports only a failure: coming to hold a socket is no call
// of this process (the parent's fork() event tells it).
func (p *Probe) Adopt(name string, fd int) (*Endpoint, error) {
	call := fmt.Sprintf("inherit(fd %d)", fd)
	if p.isStopped() {
		return nil, p.fail(name, call, ErrStopped)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, p.fail(name, call, err)
	}
	ep := &Endpoint{p: p, name: name, fd: fd}
	switch typ {
	case unix.SOCK_STREAM:
		ep.proto = TCP
	case unix.SOCK_DGRAM:
		ep.proto = UDP
	default:
		return nil, p.fail(name, call, fmt.Errorf("%w: socket type %d is neither TCP nor UDP", ErrBadArgument, typ))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, p.fail(name, call, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, p.fail(name, call, err)
	}
	ep.learnLocal(fd)
	if sa, err := unix.Getpeername(fd); err == nil {
		ep.remote = addrOf(sa)
	}
	if !p.add(ep) {
		return nil, p.fail(name, call, ErrStopped)
	}
	return ep, nil
}

// runProgram is a program child's life: it adopts the inherited
// descriptors, runs the program, and holds its descriptors until in
// reaches end of file (the parent closed the pipe or died).
func runProgram(specJSON string, in io.Reader, out io.Writer) int {
	var spec programSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "socktop probe program: bad spec: %v\n", err)
		return 2
	}
	prog, ok := lookupProgram(spec.Program)
	if !ok {
		fmt.Fprintf(os.Stderr, "socktop probe program: no program %q registered\n", spec.Program)
		return 2
	}
	// Both processes hold endpoints of the same names: the pid says whose
	// call an event is, as it would in strace -f.
	sink, tag := wireSink(out), fmt.Sprintf(" (pid %d)", os.Getpid())
	p := New(func(ev Event) {
		ev.Endpoint += tag
		sink(ev)
	})
	pc := &ProgramContext{Probe: p, Args: spec.Args}
	for _, in := range spec.Inherit {
		ep, err := p.Adopt(in.Name, in.FD)
		if err != nil {
			fmt.Fprintf(os.Stderr, "socktop probe program: %v\n", err)
			return 2
		}
		pc.Inherited = append(pc.Inherited, ep)
	}
	done := make(chan struct{})
	eof := make(chan struct{})
	cmds := make(chan string, 16)
	pc.Commands = cmds
	go func() {
		defer close(eof)
		defer close(cmds)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case cmds <- sc.Text():
			case <-done: // nobody reads commands any more
			}
		}
	}()
	go func() {
		defer close(done)
		if err := prog(pc); err != nil {
			var already *callError
			if !errors.As(err, &already) {
				p.Emit(spec.Name, spec.Program+"()", err.Error(), err)
			}
		}
	}()
	// The program may still be running at end of file: Stop ends its
	// waits, and the process exits with it.
	<-eof
	p.Stop()
	return 0
}
