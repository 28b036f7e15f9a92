package probe

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// RunChildIfRequested runs the hidden child mode and exits when the
// process was started as a probe child (ChildEnv is set); otherwise it
// returns at once. Call it first thing in main() and in TestMain of every
// test package that starts children.
func RunChildIfRequested() {
	if spec, ok := os.LookupEnv(programEnv); ok {
		os.Unsetenv(programEnv)
		os.Exit(runProgram(spec, os.Stdin, os.Stdout))
	}
	spec, ok := os.LookupEnv(ChildEnv)
	if !ok {
		return
	}
	os.Unsetenv(ChildEnv)
	os.Exit(runChild(spec, os.Stdin, os.Stdout))
}

// runChild is the child's life: it builds the server described by spec,
// writes its events as JSON lines to out and returns when in reaches end
// of file (the parent closed the pipe or died).
func runChild(specJSON string, in io.Reader, out io.Writer) int {
	var spec ServerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "socktop probe child: bad spec: %v\n", err)
		return 2
	}
	p := New(wireSink(out))
	go func() {
		// The steps fail only through events, which the parent reads.
		ln, err := p.TCP(spec.Name)
		if err != nil {
			return
		}
		if ln.SetReuseAddr(spec.ReuseAddr) != nil || ln.Bind(spec.Port) != nil || ln.Listen(spec.Backlog) != nil {
			return
		}
		for i := 0; i < spec.Accept; i++ {
			if _, err := ln.Accept(spec.AcceptName, 0); err != nil {
				return
			}
		}
	}()
	// The child holds its sockets until the parent closes stdin or is gone;
	// Pdeathsig covers a parent that dies without closing it.
	io.Copy(io.Discard, in)
	p.Stop()
	return 0
}

// StartServer starts a child process running spec and reports its
// events to the probe's sink. The child dies with SIGKILL if the parent
// goes away (Pdeathsig), and Stop kills it.
func (p *Probe) StartServer(spec ServerSpec) (*Child, error) {
	call := "fork+exec(socktop probe child)"
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, p.fail(spec.Name, call, fmt.Errorf("%w: %w", ErrBadArgument, err))
	}
	c, err := p.startChild(spec.Name, call, ChildEnv+"="+string(specJSON), nil)
	if err != nil {
		return nil, err
	}
	p.Emit(spec.Name, call, fmt.Sprintf("pid %d", c.pid), nil)
	return c, nil
}

// startChild re-executes the current binary with env added to its
// environment and extra as its descriptors from 3 on (nil entries stay
// closed), and starts forwarding its events. Failures are reported as
// call on name.
func (p *Probe) startChild(name, call, env string, extra []*os.File) (*Child, error) {
	if p.isStopped() {
		return nil, p.fail(name, call, ErrStopped)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, p.fail(name, call, fmt.Errorf("%w: %w", ErrChild, err))
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env)
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &Child{p: p, name: name, cmd: cmd, notify: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = &limitedWriter{b: &c.stderr, max: 4096, mu: &c.mu}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, p.fail(name, call, fmt.Errorf("%w: %w", ErrChild, err))
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, p.fail(name, call, fmt.Errorf("%w: %w", ErrChild, err))
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		stdin.Close()
		return nil, p.fail(name, call, ErrStopped)
	}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		stdin.Close()
		return nil, p.fail(name, call, fmt.Errorf("%w: %w", ErrChild, err))
	}
	c.pid = cmd.Process.Pid
	c.stdin = stdin
	p.children = append(p.children, c)
	p.wg.Add(1)
	p.mu.Unlock()
	go c.read(stdout)
	return c, nil
}

// wireSink writes a child's events to out as JSON lines, for the parent's
// reader.
func wireSink(out io.Writer) Sink {
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	return func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(toWire(ev))
	}
}

// read forwards the child's events until its stdout closes, then reaps it.
func (c *Child) read(stdout io.Reader) {
	defer c.p.wg.Done()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var w wireEvent
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			continue
		}
		ev := fromWire(w)
		c.p.emit(ev)
		c.record(ev)
	}
	err := c.cmd.Wait()
	c.mu.Lock()
	c.exitErr = err
	c.mu.Unlock()
	close(c.exited)
}

// Kill sends SIGKILL to the child, as a crash or a kill -9 would, waits
// until it is reaped and reports the call.
func (c *Child) Kill() error {
	call := fmt.Sprintf("kill(pid %d, SIGKILL)", c.pid)
	select {
	case <-c.exited:
		return c.p.fail(c.name, call, errChildGone)
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return c.p.fail(c.name, call, err)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		return c.p.fail(c.name, call, fmt.Errorf("%w: pid %d not reaped", ErrTimeout, c.pid))
	}
	c.p.Emit(c.name, call, "0 (the kernel closes its sockets)", nil)
	return nil
}

// stop ends the child for Probe.Stop: close its stdin (it exits by
// itself), then SIGKILL in case it does not, and wait for the reaper.
func (c *Child) stop() {
	c.stopOnce.Do(func() {
		c.stdin.Close()
		select {
		case <-c.exited:
			return
		default:
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.exited
	})
}

// limitedWriter keeps the first max bytes of the child's stderr for
// error messages.
type limitedWriter struct {
	mu *sync.Mutex
	b  interface {
		WriteString(string) (int, error)
		Len() int
	}
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.b.Len(); room > 0 {
		if len(p) > room {
			w.b.WriteString(string(p[:room]))
		} else {
			w.b.WriteString(string(p))
		}
	}
	return len(p), nil
}
