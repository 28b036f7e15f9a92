// Command socktop shows every TCP and UDP socket of the machine, live in a
// terminal or once on stdout, and runs demo client/server pairs on loopback
// that make each state of the TCP state diagram appear. Its command line
// is built with cobra in main_cli.go; `socktop --help` prints the usage,
// which the README quotes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"

	"socktop/collect"
	"socktop/filter"
	"socktop/output"
	"socktop/probe"
	"socktop/ui"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// A demo server may run as a child copy of this binary (probe re-execs
	// it with probe.ChildEnv set); it never returns from here, and the
	// command line is not looked at.
	probe.RunChildIfRequested()
	os.Exit(start(os.Args[1:]))
}

// start is main after the child check and before os.Exit: it refuses to
// run with too few descriptors, then runs the command line.
func start(args []string) int {
	if err := checkFDs(); err != nil {
		fmt.Fprintf(os.Stderr, "socktop: %v\n", err)
		return 1
	}
	wholeProcess = true
	return run(args, os.Stdout, os.Stderr)
}

// run is main without os.Exit, so tests can call it: it runs the command
// line args and returns the exit status, 0 on success, 1 when the work
// failed, 2 for bad input (with the usage on stderr when it is about
// flags or arguments).
func run(args []string, stdout, stderr io.Writer) int {
	// SOCKTOP_CPUPROFILE=FILE profiles a whole run, the live view
	// included (docs/performance.md uses it); there is no flag for it
	// because users have no need of it.
	if path := os.Getenv("SOCKTOP_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	// SOCKTOP_HEAPPROFILE=FILE writes the live heap at the end of a run.
	if path := os.Getenv("SOCKTOP_HEAPPROFILE"); path != "" {
		defer func() {
			if f, err := os.Create(path); err == nil {
				runtime.GC()
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(&config{}, args, stdout, stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return exitStatus(cmd, err, stderr)
}

// runRoot is the root command: the live view, or one table, JSON
// document or summary.
func runRoot(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	flt, err := filter.Parse(cfg.filter)
	if err != nil {
		return &inputError{err}
	}
	interactive := !cfg.once && !cfg.json && !cfg.summary && !cfg.listeners && isTerminal(stdout)
	opts := collect.Options{
		TCP: cfg.tcp, UDP: cfg.udp, Unix: cfg.unix, IPv4: cfg.v4, IPv6: cfg.v6,
		Owners:   !cfg.noOwners,
		States:   flt.States(),
		AllNetNS: cfg.allNetNS,
		TCPInfo:  wantTCPInfo(cfg) && !interactive,
	}
	if flt != nil && !interactive {
		// One table: the kernel sends only what can match. The live view
		// keeps the whole table, which the tracker and its log need.
		opts.Kernel = flt
	}
	if cfg.netns != "" {
		if opts.NetNS, err = collect.ResolveNetNS(cfg.netns); err != nil {
			return &inputError{fmt.Errorf("-N %s: %w", cfg.netns, err)}
		}
	}
	switch {
	case interactive:
		// The live view filters itself, and its filter changes at `/` and
		// when a demo starts: the kernel must send every state, CLOSED
		// (bound-only) too for the demo that shows it.
		opts = liveOptions(opts)
	case opts.States == collect.AllStates:
		// Headless output matches ss -tanu, which does not list TCP
		// sockets that are only bound.
		opts.States = 0
	}
	if cfg.listening && !interactive {
		if opts.States == 0 {
			opts.States = collect.AllStates
		}
		opts.States &= listeningMask
	}
	if cfg.listeners {
		opts = listenerOptions(opts)
	}
	src, err := collect.NewSource(cfg.source, opts)
	if err != nil {
		return &runError{err}
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}

	if interactive {
		// The view holds a few snapshots at a time, so its live heap
		// follows the table; a heap goal proportional to the live set
		// keeps RSS near it at any table size, where a fixed limit would
		// sit below the live set of a large table and make the collector
		// run back to back (docs/performance.md, the burst soak). The
		// view sets the proportion (ui/memory.go) unless GOGC does.
		tuneGC := os.Getenv("GOGC") == ""
		if tuneGC {
			debug.SetGCPercent(ui.GCPercentMax)
		}
		ev, err := openEvents(cfg.events)
		if err != nil {
			return &runError{err}
		}
		defer ev.Close()
		info, _ := src.(collect.InfoSource)
		nsPath := opts.NetNS
		host, _ := os.Hostname()
		err = ui.Run(ctx, ui.Config{
			Source:   src,
			Events:   ev,
			Info:     info,
			Interval: cfg.interval,
			Filter:   cfg.filter,
			Host:     host,
			NoColor:  os.Getenv("NO_COLOR") != "",
			Narrow:   ui.Narrow{TCP: cfg.tcp, UDP: cfg.udp, Unix: cfg.unix, IPv4: cfg.v4, IPv6: cfg.v6, Listening: cfg.listening},
			Rates:    wantTCPInfo(cfg),
			GroupBy:  groupBy(cfg),
			// The counters of the namespace -N shows, else socktop's own.
			ListenCounters:   func() (collect.ListenCounters, error) { return collect.ReadListenCounters(nsPath) },
			ListenCountersOf: liveCountersOf(cfg),
			Names:            uiNames(cfg),
			TuneGC:           tuneGC,
		})
		if err != nil {
			return &runError{err}
		}
		return nil
	}

	if !cfg.rates {
		// --rates holds two snapshots; the first is garbage once the
		// second is taken.
		oneShotGC()
	}
	snap, err := headlessSnapshot(ctx, src, cfg)
	if err != nil {
		return &runError{err}
	}
	for _, n := range snap.Notices {
		fmt.Fprintf(stderr, "socktop: %s\n", n)
	}
	if cfg.listeners {
		return writeListeners(stdout, cfg, opts.NetNS, &snap, flt)
	}
	keepMatching(&snap, flt, cfg.listening)
	switch {
	case cfg.summary:
		err = output.WriteSummary(stdout, &snap)
	case cfg.groupBy != "":
		err = writeGroups(stdout, &snap, cfg)
	case cfg.json:
		err = output.WriteJSONWith(stdout, &snap, tableNamer(ctx, cfg, &snap))
	default:
		err = output.WriteTableWith(stdout, &snap, output.TableOptions{
			Header: !cfg.noHeader, Rates: cfg.rates, Info: cfg.info,
			Names: tableNamer(ctx, cfg, &snap), Options: cfg.options, Extended: cfg.extended,
		})
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		return &runError{err}
	}
	return nil
}

// liveOptions widens o for the live view: every protocol, family and
// state whatever -t -u -4 -6 -l say, so that a demo sees its own sockets;
// the view applies those flags itself (ui.Config.Narrow). Unix sockets
// are collected only with -x, and then TCP and UDP too.
func liveOptions(o collect.Options) collect.Options {
	o.TCP, o.UDP, o.IPv4, o.IPv6 = o.Unix, o.Unix, false, false
	o.States = collect.AllStates
	return o
}

// listeningMask is what ss -l shows: TCP LISTEN and UDP sockets with no
// fixed peer (the kernel calls both "closed" for UDP).
const listeningMask = collect.StateMask(1<<collect.StateListen | 1<<collect.StateUnconn | 1<<collect.StateClosed)

// keepMatching drops, in place, the sockets the filter (and -l) reject. The
// kernel already applied the state mask; the rest of the expression
// (ports, addresses, owners) is evaluated here.
func keepMatching(snap *collect.Snapshot, f *filter.Filter, listening bool) {
	if f == nil && !listening {
		return
	}
	socks := snap.Sockets
	// Rows move down only after the first one dropped: a filter that
	// keeps most of a large table copies nothing before that.
	n := 0
	for i := range socks {
		s := &socks[i]
		if (listening && !listeningMask.Has(s.State)) || !f.Match(s) {
			continue
		}
		if n != i {
			socks[n] = *s
		}
		n++
	}
	snap.Sockets = socks[:n]
}

// isTerminal reports whether w is a terminal, which decides between the
// live view and one table.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// buildVersion adds the VCS revision to the version when the binary was
// built from a checkout.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return version + " (" + s.Value[:7] + ")"
			}
		}
	}
	return version
}

// intervalRange bounds --interval.
const (
	minInterval = 100 * time.Millisecond
	maxInterval = 10 * time.Second
)
