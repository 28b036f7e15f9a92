//go:build linux

package events

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"socktop/collect"
)

// The places tracefs is found, the first being where it is mounted when
// it is not found at all.
const (
	tracefsDir       = "/sys/kernel/tracing"
	tracefsDebugDir  = "/sys/kernel/debug/tracing"
	tracefsMagic     = 0x74726163 // TRACEFS_MAGIC
	instancePrefix   = "socktop-"
	eventDir         = "events/sock/inet_sock_set_state"
	tracefsFilter    = "protocol == 6" // IPPROTO_TCP; MPTCP (262) is left out
	tracefsPollLimit = 250             // ms; bounds a missed wakeup
)

// instanceSeq tells apart the instances of several streams of one
// process: the first is socktop-PID, the next socktop-PID-2.
var instanceSeq atomic.Uint32

// tracefsReader reads sock:inet_sock_set_state from a private tracefs
// instance's trace_pipe. Its events have Cookie 0 and NetNS 0: the
// tracepoint's text carries neither, so the tracker joins them to rows
// by address alone, across all network namespaces.
type tracefsReader struct {
	root  string // the tracefs mount
	dir   string // the instance
	notes []string
	clk   clock
	names commNames // run's
	pipe  int       // trace_pipe, non-blocking
	// mark is when a read of trace_pipe last found it empty, as time
	// since clk.wall: see caughtUp.
	mark atomic.Int64
	wake int // an eventfd that close writes to end run's poll

	bad      atomic.Uint64 // lines that did not parse
	lastLost atomic.Uint64

	// closing is set by close; run checks it between reads too, since
	// under steady churn trace_pipe may never run dry.
	closing  atomic.Bool
	mu       sync.Mutex
	running  bool
	done     chan struct{}
	cleaned  bool
	cleanErr error
}

// openTracefs makes the private instance, filters and enables the
// tracepoint in it, and opens its trace_pipe. Every failure wraps
// ErrUnavailable and leaves nothing behind.
func openTracefs() (reader, error) {
	root, notes, err := findTracefs()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrUnavailable)
	}
	removeStaleInstances(root)
	name := instancePrefix + strconv.Itoa(os.Getpid())
	if n := instanceSeq.Add(1); n > 1 {
		name += "-" + strconv.Itoa(int(n))
	}
	dir := filepath.Join(root, "instances", name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tracefs instance: %w: %w", err, ErrUnavailable)
	}
	r := &tracefsReader{root: root, dir: dir, notes: notes, pipe: -1, wake: -1}
	if err := r.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("tracefs instance %s: %w: %w", dir, err, ErrUnavailable), r.cleanup())
	}
	return r, nil
}

// tracefsBufferKB is the instance's ring buffer per CPU, in KiB.
const tracefsBufferKB = "8192"

// setup configures the new instance and opens what run reads.
func (r *tracefsReader) setup() error {
	// The mono clock is CLOCK_MONOTONIC, which r.clk puts on the wall
	// clock. buffer_percent 0 makes poll wake on the first event, not
	// when the buffer is half full. The instance's own buffer is raised
	// from the default 1.4 MB a CPU: text reading is slower than the
	// events of heavy churn, and the buffer is what absorbs a burst. It is
	// freed with the instance.
	for _, w := range []struct{ file, val string }{
		{"buffer_size_kb", tracefsBufferKB},
		{"trace_clock", "mono"},
		{"buffer_percent", "0"},
		{eventDir + "/filter", tracefsFilter},
	} {
		if err := writeTracefs(filepath.Join(r.dir, w.file), w.val); err != nil {
			return err
		}
	}
	// record-tgid prints each line's process id beside its thread id, so
	// an event's PID is the process; a kernel without the option (before
	// 4.14) leaves PID unknown, which the events' owners then lack.
	_ = writeTracefs(filepath.Join(r.dir, "options/record-tgid"), "1")
	fd, err := unix.Open(filepath.Join(r.dir, "trace_pipe"), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open trace_pipe: %w", err)
	}
	r.pipe = fd
	if r.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	r.clk = newClock()
	return writeTracefs(filepath.Join(r.dir, eventDir, "enable"), "1")
}

// notices says where the events come from, once: a mount made for them,
// and what tracefs events lack.
func (r *tracefsReader) notices() []string { return r.notes }

// findTracefs returns where tracefs is mounted, mounting it at
// /sys/kernel/tracing when it is nowhere. A mount it makes is left in
// place at close: other programs may be using it by then.
func findTracefs() (string, []string, error) {
	for _, dir := range []string{tracefsDir, tracefsDebugDir} {
		if isTracefs(dir) {
			return dir, nil, nil
		}
	}
	if err := unix.Mount("tracefs", tracefsDir, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", nil, fmt.Errorf("tracefs is not mounted (%s, %s), and mounting it at %s failed: %w", tracefsDir, tracefsDebugDir, tracefsDir, err)
	}
	return tracefsDir, []string{"tracefs was not mounted: socktop mounted it at " + tracefsDir + " and leaves it mounted"}, nil
}

func isTracefs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == tracefsMagic
}

// removeStaleInstances removes the socktop-PID instances of processes
// that are gone (killed before they could remove their own); an instance
// of a live process, this one's included, is left alone.
func removeStaleInstances(root string) {
	ents, err := os.ReadDir(filepath.Join(root, "instances"))
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), instancePrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			_ = unix.Rmdir(filepath.Join(root, "instances", e.Name()))
		}
	}
}

func writeTracefs(path, val string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(val); err != nil {
		f.Close()
		return fmt.Errorf("write %q to %s: %w", val, path, err)
	}
	return f.Close()
}

// run reads trace_pipe until close. trace_pipe is non-blocking and run
// polls it beside the wake eventfd, since closing a blocked trace_pipe
// does not wake its reader.
func (r *tracefsReader) run(emit func([]collect.StateEvent)) (err error) {
	if r.names.tgid == nil {
		r.names.tgid = newTgidCache().of
	}
	r.mu.Lock()
	if r.closing.Load() {
		r.mu.Unlock()
		return nil
	}
	r.running, r.done = true, make(chan struct{})
	r.mu.Unlock()
	defer close(r.done)
	defer func() {
		// A panic must not leave the instance behind with its tracepoint
		// on; close has nothing left to do after it.
		if p := recover(); p != nil {
			r.closing.Store(true)
			_ = r.cleanup()
			panic(p)
		}
	}()
	buf := make([]byte, 64<<10)
	var carry int // bytes of an unfinished line kept at buf's start
	var evs []collect.StateEvent
	fds := []unix.PollFd{{Fd: int32(r.pipe), Events: unix.POLLIN}, {Fd: int32(r.wake), Events: unix.POLLIN}}
	for !r.closing.Load() {
		before := time.Now()
		n, err := unix.Read(r.pipe, buf[carry:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// Everything before the read is parsed and handed on.
			r.mark.Store(int64(before.Sub(r.clk.wall)))
			if _, err := unix.Poll(fds, tracefsPollLimit); err != nil && err != unix.EINTR {
				return fmt.Errorf("tracefs: poll trace_pipe: %w", err)
			}
			if fds[1].Revents != 0 {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("tracefs: read trace_pipe: %w", err)
		case n == 0:
			return errors.New("tracefs: trace_pipe ended")
		}
		var rest []byte
		var bad int
		evs, rest, bad, _ = parseTraceLines(buf[:carry+n], r.clk.at, &r.names, evs[:0])
		r.bad.Add(uint64(bad))
		if len(rest) == len(buf) {
			// A line longer than the buffer is no event of ours.
			r.bad.Add(1)
			rest = nil
		}
		carry = copy(buf, rest)
		if len(evs) > 0 {
			emit(evs)
			evs = nil // emit keeps the slice's events
		}
	}
	return nil
}

// lost sums what the instance's per-CPU buffers dropped (overrun,
// commit overrun and dropped events) and the lines that did not parse.
// Once the instance is gone it returns the last sum.
func (r *tracefsReader) lost() uint64 {
	cpus, err := filepath.Glob(filepath.Join(r.dir, "per_cpu", "cpu*", "stats"))
	if err != nil || len(cpus) == 0 {
		return r.lastLost.Load()
	}
	var sum uint64
	for _, p := range cpus {
		b, err := os.ReadFile(p)
		if err != nil {
			return r.lastLost.Load()
		}
		sum += parseTraceStats(b)
	}
	sum += r.bad.Load()
	for {
		old := r.lastLost.Load()
		if sum <= old {
			return old
		}
		if r.lastLost.CompareAndSwap(old, sum) {
			return sum
		}
	}
}

// close stops run, waits for it, and removes the instance.
func (r *tracefsReader) close() error {
	r.mu.Lock()
	r.closing.Store(true)
	running, done := r.running, r.done
	r.mu.Unlock()
	if running {
		var one = [8]byte{1}
		_, _ = unix.Write(r.wake, one[:])
		<-done
	}
	return r.cleanup()
}

// cleanup disables the event, closes the files and removes the instance;
// the instance's files must be closed first, or rmdir is refused. It runs
// once; later calls return its error.
func (r *tracefsReader) cleanup() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cleaned {
		return r.cleanErr
	}
	r.cleaned = true
	var errs []error
	if err := writeTracefs(filepath.Join(r.dir, eventDir, "enable"), "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, fd := range []*int{&r.pipe, &r.wake} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	r.lost() // the last figures, before the stats files go
	if err := unix.Rmdir(r.dir); err != nil && err != unix.ENOENT {
		errs = append(errs, fmt.Errorf("tracefs: remove instance %s: %w", r.dir, err))
	}
	r.cleanErr = errors.Join(errs...)
	return r.cleanErr
}

// caughtUp returns when a read of trace_pipe last found it empty: every
// event traced before then is parsed and with the stream.
func (r *tracefsReader) caughtUp() time.Time {
	if d := r.mark.Load(); d != 0 {
		return r.clk.wall.Add(time.Duration(d))
	}
	return time.Time{}
}

// tgidCache maps thread ids to their processes and command names
// through /proc/TID/status, for the trace lines that name a thread
// without them; it keeps the last tgidMax answers.
type tgidCache struct {
	m   map[uint32]task
	buf []byte
}

// task is a thread's process id and command name.
type task struct {
	pid  uint32
	name string
}

const tgidMax = 4096

func newTgidCache() *tgidCache { return &tgidCache{m: map[uint32]task{}, buf: make([]byte, 2048)} }

// of returns tid's process id and command name, or 0 and "" when the
// thread is gone.
func (c *tgidCache) of(tid uint32) (uint32, string) {
	if t, ok := c.m[tid]; ok {
		return t.pid, t.name
	}
	fd, err := unix.Open("/proc/"+strconv.FormatUint(uint64(tid), 10)+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, ""
	}
	n, _ := unix.Read(fd, c.buf)
	unix.Close(fd)
	pid, name := parseStatus(c.buf[:max(n, 0)])
	if pid == 0 {
		return 0, ""
	}
	if len(c.m) >= tgidMax {
		clear(c.m)
	}
	c.m[tid] = task{pid, name}
	return pid, name
}
