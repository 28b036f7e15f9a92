//go:build linux

package events

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"socktop/collect"
)

// Names of the kernel objects the BPF reader makes, as bpftool lists
// them (the kernel keeps 15 characters).
const (
	bpfProgName   = "socktop_state"
	bpfEventsName = "socktop_events"
	bpfLostName   = "socktop_lost"
	bpfScopeName  = "socktop_scope"
	bpfPendName   = "socktop_pending"
)

// defaultRingSize is the ring buffer's size: room for tens of thousands
// of records, so a reader starved of CPU on a loaded host (the pause
// after a small batch, then no core for a while) catches up on a burst
// of churn instead of losing it.
const defaultRingSize = 4 << 20

// bpfBatch bounds the records read before a batch is handed on, so a
// sustained burst still reaches the stream in pieces.
const bpfBatch = 512

// bpfCoalesce is how long the reader lets events gather after a small
// batch: below a refresh, and a bound on the wakeups per second. A
// reader of the stream that needs it current (Stream.Sync) wakes it at
// once, so the wait costs a refresh nothing.
const bpfCoalesce = 100 * time.Millisecond

// bpfRestore is what to tell a user the BPF reader was refused for lack
// of privilege.
const bpfRestore = "run as root, or give the binary cap_bpf,cap_perfmon (setcap cap_bpf,cap_perfmon+ep)"

// bpfReader reads the sock:inet_sock_set_state tracepoint through a BTF
// raw tracepoint program and a ring buffer. It reports TCP sockets only:
// MPTCP's own sockets (sk_protocol 262) change state too but are left out,
// their subflows being TCP sockets that are reported.
type bpfReader struct {
	prog     *ebpf.Program
	events   *ebpf.Map
	lostMap  *ebpf.Map
	scopeMap *ebpf.Map
	pendMap  *ebpf.Map
	// hasNetNS is whether the program reads the namespace, so a scope may
	// name one.
	hasNetNS   bool
	lnk        link.Link
	rb         *ringbuf.Reader
	clk        clock
	decodeErrs atomic.Uint64
	// coalesce is how long run waits after a small batch before reading
	// on.
	coalesce atomic.Int64 // a time.Duration
	// wake ends run's wait after a small batch: synced sends on it.
	wake  chan struct{}
	names commNames // run's
	// mark is when run last found the ring empty, after handing on what
	// it had read, as time since clk.wall: see caughtUp.
	mark atomic.Int64
	// parked is set while run waits in the ring's blocking read, with
	// everything it read before handed on (see synced).
	parked    atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// mu orders lost's map lookups before close releases the map.
	mu       sync.Mutex
	lastLost uint64
	// rbMu orders run's looks at the mapped ring before close unmaps it.
	rbMu sync.RWMutex
}

// available returns how many bytes of records wait in the ring buffer,
// and 0 once close began.
func (r *bpfReader) available() int {
	r.rbMu.RLock()
	defer r.rbMu.RUnlock()
	if r.closed.Load() {
		return 0
	}
	return r.rb.AvailableBytes()
}

// openBPF loads and attaches the tracepoint program with a ring buffer of
// the default size.
func openBPF() (reader, error) { return openBPFSize(defaultRingSize) }

// openBPFSize is openBPF with a ring buffer of size bytes, a power of two
// multiple of the page size.
func openBPFSize(size int) (_ *bpfReader, err error) {
	if size < os.Getpagesize() || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer of %d bytes: want a power of two of at least a page: %w", size, ErrUnavailable)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; where it
	// cannot be raised the map creation below says why.
	memlockErr := rlimit.RemoveMemlock()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("no kernel BTF (/sys/kernel/btf/vmlinux, a kernel built with CONFIG_DEBUG_INFO_BTF): %w: %w", err, ErrUnavailable)
	}
	layout, err := loadSockLayout(spec)
	if err != nil {
		return nil, fmt.Errorf("reading struct sock from the kernel's BTF: %w: %w", err, ErrUnavailable)
	}
	r := &bpfReader{wake: make(chan struct{}, 1)}
	r.coalesce.Store(int64(bpfCoalesce))
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	r.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: bpfEventsName, Type: ebpf.RingBuf, MaxEntries: uint32(size)})
	if err != nil {
		if errors.Is(features.HaveMapType(ebpf.RingBuf), ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("the kernel has no BPF ring buffer (Linux 5.8 or later has): %w: %w", err, ErrUnavailable)
		}
		return nil, privErr("creating the ring buffer", err, memlockErr)
	}
	r.lostMap, err = ebpf.NewMap(&ebpf.MapSpec{Name: bpfLostName, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, privErr("creating the lost-event counter", err, memlockErr)
	}
	r.scopeMap, err = ebpf.NewMap(&ebpf.MapSpec{Name: bpfScopeName, Type: ebpf.Array, KeySize: 4, ValueSize: scopeSize, MaxEntries: 1})
	if err != nil {
		return nil, privErr("creating the scope map", err, memlockErr)
	}
	r.pendMap, err = ebpf.NewMap(&ebpf.MapSpec{Name: bpfPendName, Type: ebpf.LRUHash, KeySize: 8, ValueSize: 4, MaxEntries: pendingSize})
	if err != nil {
		return nil, privErr("creating the map of pending connects", err, memlockErr)
	}
	r.hasNetNS = layout.hasNetNS
	r.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         bpfProgName,
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "inet_sock_set_state",
		Instructions: stateProgram(layout, r.events.FD(), r.lostMap.FD(), r.scopeMap.FD(), r.pendMap.FD()),
		License:      "GPL",
	})
	if err != nil {
		return nil, privErr("loading the tracepoint program", err, memlockErr)
	}
	r.rb, err = ringbuf.NewReader(r.events)
	if err != nil {
		return nil, privErr("mapping the ring buffer", err, memlockErr)
	}
	// The clock is read before the link exists, so it predates every
	// event's timestamp it converts.
	r.clk = newClock()
	r.lnk, err = link.AttachTracing(link.TracingOptions{Program: r.prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return nil, privErr("attaching to sock:inet_sock_set_state", err, memlockErr)
	}
	return r, nil
}

// privErr names what failed and, when the kernel refused it for lack of
// privilege, what restores it.
func privErr(what string, err, memlockErr error) error {
	switch {
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		err = withoutHint{err}
		if memlockErr != nil {
			return fmt.Errorf("%s: %w (and RLIMIT_MEMLOCK could not be raised: %v); %s: %w", what, err, memlockErr, bpfRestore, ErrUnavailable)
		}
		return fmt.Errorf("%s: %w; %s: %w", what, err, bpfRestore, ErrUnavailable)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%s: the kernel does not support it: %w: %w", what, err, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: %w", what, err, ErrUnavailable)
}

// memlockHint is what cilium/ebpf adds to a refused map or program: a
// call socktop has already made (rlimit.RemoveMemlock), and which tells
// a user nothing they can do.
const memlockHint = " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)"

// withoutHint is a refusal told without memlockHint; errors.Is and As
// still reach the errno beneath.
type withoutHint struct{ err error }

func (e withoutHint) Error() string { return strings.Replace(e.err.Error(), memlockHint, "", 1) }
func (e withoutHint) Unwrap() error { return e.err }

// run reads the ring buffer until close. The batch it hands to emit is
// reused for the next one: emit copies what it keeps, as Stream does.
func (r *bpfReader) run(emit func([]collect.StateEvent)) error {
	var rec ringbuf.Record
	batch := make([]collect.StateEvent, 0, bpfBatch)
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	for {
		r.parked.Store(true)
		err := r.rb.ReadInto(&rec)
		r.parked.Store(false)
		if err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || r.closed.Load() {
				return nil
			}
			return fmt.Errorf("reading the BPF ring buffer: %w", err)
		}
		batch = r.appendRecord(batch, rec.RawSample)
		// Whatever else is already in the ring joins this batch, without
		// another wait.
		var caught time.Time
		for len(batch) < bpfBatch {
			t := time.Now()
			if r.available() == 0 {
				caught = t
				break
			}
			if err := r.rb.ReadInto(&rec); err != nil {
				break
			}
			batch = r.appendRecord(batch, rec.RawSample)
		}
		n := len(batch)
		if n > 0 {
			emit(batch)
			batch = batch[:0]
		}
		if !caught.IsZero() {
			r.mark.Store(int64(caught.Sub(r.clk.wall)))
		}
		// A trickle of events would cost a wakeup each; letting a few
		// gather first costs a reader of the stream nothing it can see.
		if d := time.Duration(r.coalesce.Load()); n < bpfBatch/4 && d > 0 && !r.closed.Load() {
			pause.Reset(d)
			select {
			case <-pause.C:
			case <-r.wake:
				pause.Stop()
			}
		}
	}
}

// synced reports whether every event the kernel made before t has been
// handed to emit: run found the ring empty after t, or it waits on an
// empty ring now, having handed on all it read.
func (r *bpfReader) synced(t time.Time) bool {
	if !r.caughtUp().Before(t) {
		return true
	}
	if r.parked.Load() && r.available() == 0 {
		return true
	}
	r.nudge()
	return false
}

// nudge ends run's wait after a small batch, if it is in one.
func (r *bpfReader) nudge() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// caughtUp returns when run last found the ring empty with every event
// read before it handed on: the kernel's events before that time are all
// with the stream.
func (r *bpfReader) caughtUp() time.Time {
	if d := r.mark.Load(); d != 0 {
		return r.clk.wall.Add(time.Duration(d))
	}
	return time.Time{}
}

// appendRecord decodes one ring buffer record onto evs. A record of the
// wrong size cannot come from this package's program; it is counted, not
// guessed at.
func (r *bpfReader) appendRecord(evs []collect.StateEvent, b []byte) []collect.StateEvent {
	e, ok := decodeRecord(r.clk, &r.names, b)
	if !ok {
		r.decodeErrs.Add(1)
		return evs
	}
	return append(evs, e)
}

// decodeRecord turns a record of the program into a StateEvent, its
// command name interned in names.
func decodeRecord(clk clock, names *commNames, b []byte) (collect.StateEvent, bool) {
	if len(b) < recordSize {
		return collect.StateEvent{}, false
	}
	ne := binary.NativeEndian
	e := collect.StateEvent{
		Time:   clk.at(int64(ne.Uint64(b[recTime:]))),
		Cookie: ne.Uint64(b[recCookie:]),
		NetNS:  ne.Uint32(b[recNetNS:]),
		Proto:  collect.TCP,
		From:   kernelState(b[recOld]),
		To:     kernelState(b[recNew]),
		PID:    ne.Uint32(b[recPID:]),
		Comm:   names.name(b[recComm : recComm+commSize]),
	}
	sport := binary.BigEndian.Uint16(b[recSport:])
	dport := binary.BigEndian.Uint16(b[recDport:])
	switch ne.Uint16(b[recFamily:]) {
	case unix.AF_INET:
		e.Family = 4
		e.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[recSaddr:recSaddr+4])), sport)
		e.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[recDaddr:recDaddr+4])), dport)
	case unix.AF_INET6:
		// A v4-mapped address of an AF_INET6 socket stays mapped: the
		// socket is IPv6, as its dump row says.
		e.Family = 6
		e.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[recSaddr:recSaddr+16])), sport)
		e.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[recDaddr:recDaddr+16])), dport)
	default:
		return collect.StateEvent{}, false
	}
	return e, true
}

// kernelState maps the kernel's TCP state numbers, which collect.State
// shares, to canonical states: TCP_NEW_SYN_RECV is SYN_RECV. A number
// the kernel may add later is unknown.
func kernelState(s uint8) collect.State {
	switch {
	case s == uint8(collect.StateNewSynRecv):
		return collect.StateSynRecv
	case s >= uint8(collect.StateEstablished) && s <= uint8(collect.StateClosing):
		return collect.State(s)
	}
	return collect.StateUnknown
}

// setScope writes sc into the program's scope map: from the next event
// on, the program leaves out what sc rules out.
func (r *bpfReader) setScope(sc Scope) error {
	var flags uint32
	var local, remote []collect.PortRange
	if sc.TCP != nil {
		flags |= scopePorts
		local, remote = sc.TCP.Local, sc.TCP.Remote
		if len(local) > 0 {
			flags |= scopePortless
		}
	}
	if sc.NetNS != 0 && !r.hasNetNS {
		return fmt.Errorf("the kernel's struct sock layout gives the program no namespace: %w", ErrUnavailable)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil
	}
	if err := r.scopeMap.Put(uint32(0), scopeValue(flags, sc.NetNS, local, remote)); err != nil {
		return fmt.Errorf("writing the BPF scope: %w", err)
	}
	return nil
}

// lost sums the per-CPU count of events the ring buffer had no room for,
// and the records that could not be decoded. After close it returns the
// last sum read.
func (r *bpfReader) lost() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lostLocked()
}

func (r *bpfReader) lostLocked() uint64 {
	if r.closed.Load() || r.lostMap == nil {
		return r.lastLost
	}
	var per []uint64
	if err := r.lostMap.Lookup(uint32(0), &per); err != nil {
		return r.lastLost
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	r.lastLost = n + r.decodeErrs.Load()
	return r.lastLost
}

// close detaches the program first, so nothing is written into a ring
// buffer being torn down, then ends run and releases the rest.
func (r *bpfReader) close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.lostLocked()
		r.rbMu.Lock()
		r.closed.Store(true)
		r.rbMu.Unlock()
		if r.wake != nil {
			r.nudge()
		}
		var errs []error
		if r.lnk != nil {
			errs = append(errs, r.lnk.Close())
		}
		if r.rb != nil {
			errs = append(errs, r.rb.Close())
		}
		if r.prog != nil {
			errs = append(errs, r.prog.Close())
		}
		if r.events != nil {
			errs = append(errs, r.events.Close())
		}
		if r.lostMap != nil {
			errs = append(errs, r.lostMap.Close())
		}
		if r.scopeMap != nil {
			errs = append(errs, r.scopeMap.Close())
		}
		if r.pendMap != nil {
			errs = append(errs, r.pendMap.Close())
		}
		r.closeErr = errors.Join(errs...)
		if r.closeErr != nil {
			r.closeErr = fmt.Errorf("closing the BPF reader: %w", r.closeErr)
		}
	})
	return r.closeErr
}
