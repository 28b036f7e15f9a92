package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/filter"
	"socktop/output"
)

// traceFlags are the flags of `socktop trace`.
type traceFlags struct {
	json     bool
	duration time.Duration
	events   string
	interval time.Duration
}

// traceBatch is how long trace lets kernel events gather before it hands
// them to the tracker: a line appears this soon after its event, and a
// burst costs one merge rather than one per event.
const traceBatch = 50 * time.Millisecond

const traceMore = `trace prints every state change of the sockets FILTER matches, and every
connection the kernel destroys, one line each, until interrupted or for
--duration. A transition is judged by its socket (FILTER as for the table);
a closed connection by its final record and the owners remembered for it.
With kernel events (--events bpf or tracefs, or auto as root) every step is
exact and says "kernel"; without, changes are inferred from snapshots every
--interval and say "sampled" (shown as ⇢: states in between may be hidden).
Lost events are reported as such. With --json the output is NDJSON, one
object per line (see the README).

Examples:
  socktop trace 'port 8080'
  socktop trace --json --duration 30s 'dport = :443'`

// newTraceCmd builds `socktop trace [FILTER]`.
func newTraceCmd(stdout, stderr io.Writer) *cobra.Command {
	fl := &traceFlags{}
	cmd := &cobra.Command{
		Use:               "trace [FILTER] [flags]",
		Short:             "stream state changes and closed connections, one line each",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeFilter,
		Annotations:       map[string]string{"more": traceMore},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTrace(cmd, fl); err != nil {
				return err
			}
			flt, err := filter.Parse(strings.Join(args, " "))
			if err != nil {
				return &inputError{err}
			}
			return runTrace(cmd.Context(), fl, flt, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.BoolVar(&fl.json, "json", false, "NDJSON output, one object per line")
	f.DurationVar(&fl.duration, "duration", 0, "stop after `D` (default: until interrupted)")
	f.StringVar(&fl.events, "events", "auto", "state changes from `SRC`: auto, bpf, tracefs or sampled")
	f.DurationVar(&fl.interval, "interval", time.Second, "snapshot every `D` (owners; sampled changes), 100ms to 10s")
	cmd.RegisterFlagCompletionFunc("events", cobra.FixedCompletions(eventsNames, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("duration", cobra.FixedCompletions([]string{"10s", "30s", "1m", "5m"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("interval", cobra.FixedCompletions([]string{"250ms", "500ms", "1s", "2s"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// checkTrace refuses flags trace cannot use.
func checkTrace(cmd *cobra.Command, fl *traceFlags) error {
	if _, err := eventsMode(fl.events); err != nil {
		return &usageError{cmd, err}
	}
	if fl.duration < 0 {
		return &usageError{cmd, fmt.Errorf("--duration %v is negative", fl.duration)}
	}
	if fl.interval < minInterval || fl.interval > maxInterval {
		return &usageError{cmd, fmt.Errorf("--interval %v is outside %v..%v", fl.interval, minInterval, maxInterval)}
	}
	return nil
}

// tracer is one run of `socktop trace`: the stream, the source of the
// snapshots and the tracker that merges them, and the writer.
type tracer struct {
	flt    *filter.Filter
	st     *events.Stream
	src    collect.Source
	tr     collect.Tracker
	cur    *collect.Snapshot
	out    *output.TraceWriter
	stderr io.Writer
	// stopped is set once the stream's error has been told.
	stopped bool
	lines   []traceLine
}

// traceLine is one line to print, a transition or a closed connection,
// kept to put one Update's lines in time order.
type traceLine struct {
	at time.Time
	tr *collect.Transition
	c  *collect.ClosedConn
}

// runTrace runs `socktop trace` until ctx is done or the duration is up.
func runTrace(ctx context.Context, fl *traceFlags, flt *filter.Filter, stdout, stderr io.Writer) error {
	st, err := openEvents(fl.events)
	if err != nil {
		return &runError{err}
	}
	defer st.Close()
	for _, n := range st.Notices() {
		fmt.Fprintf(stderr, "socktop: %s\n", n)
	}
	// What the filter cannot select by its ports the kernel need not
	// hand over: on a busy host most of what it would read and drop.
	if err := st.SetScope(traceScope(flt)); err != nil {
		fmt.Fprintf(stderr, "socktop: every event is read, the kernel could not narrow them: %v\n", err)
	}
	// Snapshots give owners (remembered for the closed records) and, in
	// sampled mode, the transitions themselves; every state, since a
	// transition out of the filter's states is one to show.
	src, err := collect.NewSource("auto", collect.Options{Owners: true})
	if err != nil {
		return &runError{err}
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	t := &tracer{flt: flt, st: st, src: src, out: output.NewTraceWriter(stdout, fl.json), stderr: stderr}
	if err := t.snapshot(ctx); err != nil {
		return err
	}
	t.tr.Update(t.cur) // the first snapshot shows what exists, not what happened
	if !fl.json {
		if err := t.out.Header(); err != nil {
			return writeErr(err)
		}
		if err := t.out.Flush(); err != nil {
			return writeErr(err)
		}
	}
	if st.Mode().Exact() {
		fmt.Fprintf(stderr, "socktop: tracing, exact state changes from the kernel (%s); interrupt to stop\n", st.Mode())
	} else {
		fmt.Fprintf(stderr, "socktop: tracing, state changes sampled every %v; interrupt to stop\n", fl.interval)
	}

	var deadline <-chan time.Time
	if fl.duration > 0 {
		timer := time.NewTimer(fl.duration)
		defer timer.Stop()
		deadline = timer.C
	}
	tick := time.NewTicker(fl.interval)
	defer tick.Stop()
	var batch <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return t.finish()
		case <-deadline:
			return t.finish()
		case <-tick.C:
			if err := t.snapshot(ctx); err != nil {
				if ctx.Err() != nil {
					return t.finish()
				}
				return err
			}
			batch = nil
			if err := t.emit(); err != nil {
				return err
			}
		case <-st.Ready():
			if batch == nil {
				batch = time.After(traceBatch)
			}
		case <-batch:
			batch = nil
			if err := t.emit(); err != nil {
				return err
			}
		}
	}
}

// traceScope is what the kernel may leave out of a trace of flt: the
// events and records of sockets outside the filter's port bound, which
// holds every socket Match can accept (filter.Filter.PortBound).
func traceScope(flt *filter.Filter) events.Scope {
	var sc events.Scope
	if tcp, ok := flt.PortBound(collect.TCP); ok {
		sc.TCP = &tcp
	}
	if udp, ok := flt.PortBound(collect.UDP); ok {
		sc.UDP = &udp
	}
	return sc
}

// snapshot takes a new snapshot for the next Update, printing its
// notices.
func (t *tracer) snapshot(ctx context.Context) error {
	snap, err := t.src.Snapshot(ctx)
	if err != nil {
		return &runError{err}
	}
	for _, n := range snap.Notices {
		fmt.Fprintf(t.stderr, "socktop: %s\n", n)
	}
	t.cur = &snap
	return nil
}

// finish prints what the stream still holds, then ends the run.
func (t *tracer) finish() error {
	return t.emit()
}

// emit hands the stream's events to the tracker, updates it with the
// current snapshot (a new one after a tick, the same one after a batch
// of events, which then has no sampled changes of its own) and prints
// the lines the filter matches, in time order.
func (t *tracer) emit() error {
	if err := t.st.Err(); err != nil && !t.stopped {
		t.stopped = true
		fmt.Fprintf(t.stderr, "socktop: kernel events stopped: %v; later changes are sampled\n", err)
	}
	t.st.Feed(&t.tr)
	ch := t.tr.Update(t.cur)
	t.lines = t.lines[:0]
	for i := range ch.Transitions {
		t.lines = append(t.lines, traceLine{at: ch.Transitions[i].At, tr: &ch.Transitions[i]})
	}
	for i := range ch.Closed {
		t.lines = append(t.lines, traceLine{at: ch.Closed[i].Received, c: &ch.Closed[i]})
	}
	slices.SortStableFunc(t.lines, func(a, b traceLine) int { return a.at.Compare(b.at) })
	var err error
	for _, l := range t.lines {
		if l.tr != nil {
			s := transitionSocket(&ch, t.cur, l.tr)
			if t.flt.Match(&s) {
				err = t.out.Transition(l.tr, &s)
			}
		} else {
			s := closedSocket(l.c)
			if t.flt.Match(&s) {
				err = t.out.Closed(l.c)
			}
		}
		if err != nil {
			return writeErr(err)
		}
	}
	if ch.Lost > 0 {
		if err := t.out.Lost(time.Now(), ch.Lost); err != nil {
			return writeErr(err)
		}
	}
	return writeErr(t.out.Flush())
}

// transitionSocket returns the socket a transition is judged by: its row
// in the snapshot (or among the gone ones) in the state it moved to, or,
// for a kernel event the snapshots never listed, one made of its Key with
// every other field unknown.
func transitionSocket(ch *collect.Changes, cur *collect.Snapshot, tr *collect.Transition) collect.Socket {
	var s collect.Socket
	if row := ch.Socket(cur, tr); row != nil && row.Key() == tr.Key {
		s = *row
		s.Info = nil
	} else {
		s = collect.Socket{
			Proto: tr.Key.Proto, Family: familyOf(tr.Key.Local, tr.Key.Remote),
			Local: tr.Key.Local, Remote: tr.Key.Remote,
			Unknown: collect.FieldRecvQ | collect.FieldSendQ | collect.FieldUID | collect.FieldInode |
				collect.FieldTimer | collect.FieldRetrans | collect.FieldOwners | collect.FieldMark | collect.FieldCgroup,
		}
		if tr.Cookie != 0 {
			s.Cookie = tr.Cookie
		} else {
			s.Unknown |= collect.FieldCookie
		}
	}
	if tr.To != collect.StateUnknown {
		s.State = tr.To
	}
	return s
}

// closedSocket returns the socket a closed connection is judged by: its
// final record, with the owners the tracker remembered.
func closedSocket(c *collect.ClosedConn) collect.Socket {
	s := collect.Socket{
		Proto: c.Proto, Family: c.Family, State: c.State, Local: c.Local, Remote: c.Remote, Cookie: c.Cookie,
		Owners: c.Owners,
		Unknown: collect.FieldRecvQ | collect.FieldSendQ | collect.FieldUID | collect.FieldInode | collect.FieldTimer | collect.FieldRetrans |
			collect.FieldMark | collect.FieldCgroup,
	}
	if !c.OwnersKnown {
		s.Unknown |= collect.FieldOwners
	}
	return s
}

// familyOf returns 4 or 6 for a connection's addresses: 6 as soon as
// either end is an IPv6 address, IPv4-mapped ones included.
func familyOf(a, b netip.AddrPort) uint8 {
	if a.Addr().Is6() || b.Addr().Is6() {
		return 6
	}
	return 4
}

// writeErr turns a failed write into the run's error; a closed pipe (trace
// | head) ends the run quietly.
func writeErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPIPE) {
		return &exitError{0}
	}
	return &runError{err}
}
