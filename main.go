// Command socktop shows every TCP and UDP socket of the machine, live in a
// terminal or once on stdout, and runs demo client/server pairs on loopback
// that make each state of the TCP state diagram appear.
//
// Usage:
//
//	socktop [flags] [FILTER]          live view (or one table when stdout is not a terminal)
//	socktop --once [flags] [FILTER]   one netstat-like table
//	socktop --json [flags] [FILTER]   one JSON snapshot
//	socktop demo list | run NAME      the demo scenarios, headless
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"

	"socktop/collect"
	"socktop/demo"
	"socktop/probe"
	"socktop/ui"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// config is what the command line asked for.
type config struct {
	once, json, noOwners, help, version bool
	tcp, udp, v4, v6, listening, all    bool
	source                              string
	interval                            time.Duration
	filter                              string
}

const usageText = `socktop: every TCP and UDP socket of this machine, live.

Usage:
  socktop [flags] [FILTER]           live view (one table when stdout is not a terminal)
  socktop --once [flags] [FILTER]    print one netstat-like table and exit
  socktop --json [flags] [FILTER]    print one JSON snapshot and exit
  socktop demo list                  list the demo scenarios
  socktop demo run NAME [--port N] [--reuseaddr=true|false] [--json]

Flags (short ones combine as in ss: -tl, -tun4):
  -t, --tcp          TCP sockets only
  -u, --udp          UDP sockets only
  -4, --ipv4         IPv4 only
  -6, --ipv6         IPv6 only
  -l, --listening    listening sockets only (TCP LISTEN, UDP UNCONN)
  -a, --all          all states (the default)
  -n, -p             accepted for ss habits: output is always numeric, owners are shown unless --no-owners
      --once         print one table and exit
      --json         print one JSON snapshot and exit
      --no-owners    skip owner (process) resolution; faster
      --source NAME  auto (default), netlink or gopsutil
      --interval D   live view refresh, 100ms to 10s (default 1s)
  -h, --help         this help
      --version      print the version

FILTER is ss-compatible, plus shortcuts:
  8080  :8080  port 8080          either end on port 8080
  sport = :80   dport >= :1024     operators = == != < > <= >= eq neq lt gt le ge
  src 10.0.0.0/8   dst [::1]:443
  state time-wait   exclude listening   state connected (groups: all,
  connected, synchronized, bucket, big)   TIME_WAIT and time-wait both work
  tcp  udp  proc NAME  pid N  uid N     and  or  not  !  ( )

Examples:
  socktop --once 8080
  socktop --once 'state time-wait and dport = :443'
  socktop --json -t 'sport = :22 or dport = :22'
`

func main() {
	// A demo server may run as a child copy of this binary; it never
	// returns from here.
	probe.RunChildIfRequested()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so tests can call it.
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
	if len(args) > 0 && args[0] == "demo" {
		return demo.Main(args[1:], stdout, stderr)
	}
	cfg, err := parseArgs(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return 0
		}
		fmt.Fprintf(stderr, "socktop: %v\n\n%s", err, usageText)
		return 2
	}
	if cfg.version {
		fmt.Fprintf(stdout, "socktop %s\n", buildVersion())
		return 0
	}
	filter, err := collect.ParseFilter(cfg.filter)
	if err != nil {
		fmt.Fprintf(stderr, "socktop: %v\n", err)
		return 2
	}
	if cfg.interval < 100*time.Millisecond || cfg.interval > 10*time.Second {
		fmt.Fprintf(stderr, "socktop: --interval %v is outside 100ms..10s\n\n%s", cfg.interval, usageText)
		return 2
	}

	interactive := !cfg.once && !cfg.json && isTerminal(stdout)
	opts := collect.Options{
		TCP: cfg.tcp, UDP: cfg.udp, IPv4: cfg.v4, IPv6: cfg.v6,
		Owners: !cfg.noOwners,
		States: filter.States(),
	}
	switch {
	case interactive:
		// The live view filters itself, and its filter changes at `/` and
		// when a demo starts: the kernel must send every state, CLOSED
		// (bound-only) too for the demo that shows it.
		opts.States = collect.AllStates
	case opts.States == collect.AllStates:
		// Headless output matches ss -tanu, which does not list TCP
		// sockets that are only bound.
		opts.States = 0
	}
	if cfg.listening {
		if opts.States == 0 {
			opts.States = collect.AllStates
		}
		opts.States &= listeningMask
	}
	src, err := collect.NewSource(cfg.source, opts)
	if err != nil {
		fmt.Fprintf(stderr, "socktop: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if interactive {
		// The view holds two snapshots while the collector fills a third
		// (15 MB each at 100k sockets); with the default GC pacing the
		// heap ran to twice that. A soft limit makes the GC collect the
		// old snapshots sooner; small tables never reach it.
		debug.SetMemoryLimit(liveMemoryLimit)
		info, _ := src.(collect.InfoSource)
		host, _ := os.Hostname()
		err := ui.Run(ctx, ui.Config{
			Source:   src,
			Info:     info,
			Interval: cfg.interval,
			Filter:   cfg.filter,
			Host:     host,
			NoColor:  os.Getenv("NO_COLOR") != "",
		})
		if err != nil {
			fmt.Fprintf(stderr, "socktop: %v\n", err)
			return 1
		}
		return 0
	}

	snap, err := src.Snapshot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "socktop: %v\n", err)
		return 1
	}
	for _, n := range snap.Notices {
		fmt.Fprintf(stderr, "socktop: %s\n", n)
	}
	keepMatching(&snap, filter, cfg.listening)
	if cfg.json {
		err = collect.WriteJSON(stdout, &snap)
	} else {
		err = writeTable(stdout, &snap)
	}
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		fmt.Fprintf(stderr, "socktop: %v\n", err)
		return 1
	}
	return 0
}

// liveMemoryLimit is the live view's soft memory limit (see run). At 100k
// sockets it took peak RSS from 180-200 MiB to 104 MiB at the same CPU
// (16%); 64 MiB is below the live set there and made the GC take 71% of a
// core.
const liveMemoryLimit = 96 << 20

// listeningMask is what ss -l shows: TCP LISTEN and UDP sockets with no
// fixed peer (the kernel calls both "closed" for UDP).
const listeningMask = collect.StateMask(1<<collect.StateListen | 1<<collect.StateUnconn | 1<<collect.StateClosed)

// keepMatching drops, in place, the sockets the filter (and -l) reject. The
// kernel already applied the state mask; the rest of the expression
// (ports, addresses, owners) is evaluated here.
func keepMatching(snap *collect.Snapshot, f *collect.Filter, listening bool) {
	out := snap.Sockets[:0]
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if listening && !listeningMask.Has(s.State) {
			continue
		}
		if f.Match(s) {
			out = append(out, *s)
		}
	}
	snap.Sockets = out
}

// shortFlags are the single-letter flags that may be combined (-tuln).
var shortFlags = map[rune]string{
	't': "t", 'u': "u", '4': "4", '6': "6", 'l': "l", 'a': "a", 'n': "n", 'p': "p", 'h': "h",
}

// parseArgs reads flags and filter words, which may be interleaved
// (`socktop 8080 --once` works): every argument that is not a flag is a
// word of the filter expression, as in ss.
func parseArgs(args []string) (config, error) {
	cfg := config{source: "auto", interval: time.Second}
	fs := flag.NewFlagSet("socktop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVar(&cfg.once, "once", false, "")
	fs.BoolVar(&cfg.json, "json", false, "")
	fs.BoolVar(&cfg.noOwners, "no-owners", false, "")
	fs.BoolVar(&cfg.version, "version", false, "")
	fs.StringVar(&cfg.source, "source", "auto", "")
	fs.DurationVar(&cfg.interval, "interval", time.Second, "")
	for _, name := range []string{"t", "tcp"} {
		fs.BoolVar(&cfg.tcp, name, false, "")
	}
	for _, name := range []string{"u", "udp"} {
		fs.BoolVar(&cfg.udp, name, false, "")
	}
	for _, name := range []string{"4", "ipv4"} {
		fs.BoolVar(&cfg.v4, name, false, "")
	}
	for _, name := range []string{"6", "ipv6"} {
		fs.BoolVar(&cfg.v6, name, false, "")
	}
	for _, name := range []string{"l", "listening"} {
		fs.BoolVar(&cfg.listening, name, false, "")
	}
	for _, name := range []string{"a", "all"} {
		fs.BoolVar(&cfg.all, name, false, "")
	}
	var numeric, procs bool
	fs.BoolVar(&numeric, "n", false, "")
	fs.BoolVar(&procs, "p", false, "")

	var words []string
	rest := expandShort(args)
	for {
		if err := fs.Parse(rest); err != nil {
			return cfg, err
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	cfg.filter = strings.Join(words, " ")
	return cfg, nil
}

// expandShort turns -tuln into -t -u -l -n when every letter is a known
// short flag; anything else is left for the flag package to judge. A lone
// "--" ends the flags; what follows is filter text.
func expandShort(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			ok := true
			for _, r := range a[1:] {
				if _, known := shortFlags[r]; !known {
					ok = false
					break
				}
			}
			if ok {
				for _, r := range a[1:] {
					out = append(out, "-"+shortFlags[r])
				}
				continue
			}
		}
		out = append(out, a)
	}
	return out
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
