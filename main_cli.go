package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"socktop/collect"
	"socktop/group"
)

// config is what the root command's flags and arguments asked for.
type config struct {
	once, json, summary, noHeader, noOwners, version bool
	tcp, udp, unix, v4, v6, listening, all           bool
	// processes is ss's -p, which socktop always does. numeric (-n)
	// keeps ports numeric under -r; options and extended (-o, -e) add
	// ss's timer:(...) and uid:N ino:N sk:COOKIE to the --once rows.
	numeric, processes, options, extended bool
	// info and rates are -i and --rates: tcp_info internals under each
	// TCP row, and the Send/s and Recv/s columns (main_rates.go).
	info, rates bool
	// listeners is --listeners: each TCP listener's queues and the
	// listen counters, once.
	listeners bool
	// resolve is -r (host names, and service names unless -n);
	// services is --services (service names only).
	resolve, services bool
	// allNetNS and netns are --all-netns and -N: every network namespace,
	// or the one named (an ip netns name, a pid or a path).
	allNetNS bool
	netns    string
	source   string
	events   string
	interval time.Duration
	filter   string
	// groupBy is --group-by: "" for rows, else a group.ParseBy name.
	groupBy string
}

// usageError is bad input about flags or arguments: the message, then
// the usage of cmd, on stderr, exit status 2.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// inputError is bad input that the message alone explains (a filter that
// does not parse names its column): exit status 2, no usage.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// runError is work that failed on good input: exit status 1.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitError is an exit status whose reason is already printed (a demo
// that missed promises).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitStatus prints err and returns the exit status for it. An error of
// none of the kinds above comes from cobra itself (an argument it could
// not place), so it is bad input with cmd's usage.
func exitStatus(cmd *cobra.Command, err error, stderr io.Writer) int {
	var (
		ue *usageError
		ie *inputError
		re *runError
		ee *exitError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "socktop: %v\n\n%s", ue.err, ue.cmd.UsageString())
		return 2
	case errors.As(err, &ie):
		fmt.Fprintf(stderr, "socktop: %v\n", err)
		return 2
	case errors.As(err, &re):
		fmt.Fprintf(stderr, "socktop: %v%s\n", err, fdHint(err))
		return 1
	}
	fmt.Fprintf(stderr, "socktop: %v\n\n%s", err, cmd.UsageString())
	return 2
}

// fdHint names the descriptor limit when err is EMFILE, so that "too many
// open files" is not taken for a fault of sock_diag or gopsutil.
func fdHint(err error) string {
	if !errors.Is(err, syscall.EMFILE) {
		return ""
	}
	if n, ok := fdLimit(); ok {
		return fmt.Sprintf(" (EMFILE: ulimit -n is %d; raise it)", n)
	}
	return " (EMFILE: raise ulimit -n)"
}

// asTyped names an unknown letter of a group of short flags in the group
// as it was typed: pflag says "'z' in -z" of -tz, having taken -t already.
func asTyped(err error, args []string) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || ne.GetSpecifiedShortnames() == "" {
		return err
	}
	rest := ne.GetSpecifiedShortnames()
	for _, a := range args {
		if a == "--" {
			break
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.HasSuffix(a[1:], rest) {
			return fmt.Errorf("unknown shorthand flag: %q in %s", rest[0], a)
		}
	}
	return err
}

// usageArgs wraps an argument validator so that its complaint is a
// usageError of the command.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{cmd, err}
		}
		return nil
	}
}

// The help of every command comes from one template: the description,
// the synopsis lines, the flags as pflag prints them, then the command's
// "more" annotation. Usage on a bad command line prints the same text.
const helpTemplate = `{{with .Long}}{{.}}

{{end}}Usage:
{{synopsis .}}
{{- if .HasAvailableFlags}}

{{flagsTitle .}}:
{{flagUsages .}}
{{- end}}
{{- with index .Annotations "more"}}

{{.}}
{{- end}}
`

func init() {
	// Subcommands are listed in the order they were added, the usual
	// ones first.
	cobra.EnableCommandSorting = false
	cobra.AddTemplateFunc("synopsis", synopsis)
	cobra.AddTemplateFunc("flagsTitle", func(c *cobra.Command) string {
		if t := c.Annotations["flags"]; t != "" {
			return "Flags " + t
		}
		return "Flags"
	})
	cobra.AddTemplateFunc("flagUsages", flagUsages)
}

// synopsis lists a command's own usage lines (its "synopsis" annotation,
// "usage<TAB>what" per line, or its Use and Short), then those of its
// visible subcommands, with the descriptions in one column.
func synopsis(c *cobra.Command) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		switch {
		case c.Annotations["synopsis"] != "":
			for _, l := range strings.Split(c.Annotations["synopsis"], "\n") {
				fmt.Fprintf(tw, "  %s\n", l)
			}
		case c.Runnable() && !c.HasAvailableSubCommands():
			fmt.Fprintf(tw, "  %s\t%s\n", c.UseLine(), c.Short)
		}
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(c)
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// flagUsages lists the command's flags, its own then the inherited
// --help, in the order they were defined.
func flagUsages(c *cobra.Command) string {
	c.InheritedFlags() // merges the parents' persistent flags into Flags
	fs := c.Flags()
	fs.SortFlags = false
	return strings.TrimRight(fs.FlagUsagesWrapped(0), "\n")
}

const rootLong = "socktop: every TCP and UDP socket of this machine, live."

const rootSynopsis = "socktop [flags] [FILTER]\tlive view (one table when stdout is not a terminal)\n" +
	"socktop --once [flags] [FILTER]\tprint one netstat-like table and exit\n" +
	"socktop --json [flags] [FILTER]\tprint one JSON snapshot and exit\n" +
	"socktop -s [flags] [FILTER]\tprint counts per protocol, family and state and exit\n" +
	"socktop --once --group-by BY\tprint counts per port, remote, process, state or netns and exit"

const rootMore = `Everything after -- is FILTER text, even words that look like flags.
An unknown value shows as ? in the table and is absent from the JSON.

FILTER is ss-compatible, plus shortcuts:
  8080  :8080  port 8080          either end on port 8080
  sport = :80   dport >= :1024     operators = == != < > <= >= eq neq lt gt le ge
  src 10.0.0.0/8   dst [::1]:443
  state time-wait   exclude listening   state connected (groups: all,
  connected, synchronized, bucket, big)   TIME_WAIT and time-wait both work
  tcp  udp  unix  path GLOB (a Unix socket's path, fnmatch: * crosses /)
  proc NAME  pid N  uid N     and  or  not  !  ( )
  netns NAME  container ID         a namespace (host, an ip netns name, docker:ID)
  fwmark = 0x1/0xff  cgroup = /system.slice   the mark (needs root) and cgroup v2

Examples:
  socktop --once 8080
  socktop --once -H 'state time-wait' | wc -l
  socktop --once 'state time-wait and dport = :443'
  socktop --json -t 'sport = :22 or dport = :22'
  socktop --once --all-netns 'container 3f4e5d6c7b8a'
  socktop --once -r -e 'sport = :https'
  socktop --once --group-by port 'state time-wait'
  socktop --json --group-by process

Names: socktop is numeric by default, unlike ss, so that scripts and
columns stay stable. -r names hosts and services as ss -r does (-rn:
hosts only); --services names ports only, as ss's default display. Ports
of the ephemeral range are never named, as in ss. In --once and --json the
lookups run 16 at a time and stop after 3s (an address not named by then
prints as a number); --json keeps "addr" and "port" and adds "host" and
"service". In the live view, n switches between names and numbers.
-o and -e add ss's fields after each --once row: timer:(KIND,LEFT,RETRANS)
when a timer runs, and uid:N ino:N sk:COOKIE (the cookie in hex, as ss
prints it; every field always there, ? when unknown), then fwmark:0xN and
cgroup:PATH when set, as ss (fwmark:? when not root). The Timer column
and --json carry the same figures anyway.`

// newRootCmd builds the command tree for the command line args; the root
// command's flags fill cfg. Output goes to stdout and stderr.
func newRootCmd(cfg *config, args []string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:                   "socktop [flags] [FILTER]",
		Short:                 "every TCP and UDP socket of this machine, live",
		Long:                  rootLong,
		Args:                  cobra.ArbitraryArgs,
		SilenceErrors:         true,
		SilenceUsage:          true,
		DisableFlagsInUseLine: true,
		CompletionOptions:     cobra.CompletionOptions{DisableDefaultCmd: true},
		Annotations: map[string]string{
			"synopsis": rootSynopsis,
			"flags":    "(short ones combine as in ss: -tl, -tun4)",
			"more":     rootMore,
		},
		ValidArgsFunction: completeFilter,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRoot(cmd, cfg, args); err != nil {
				return err
			}
			if cfg.version {
				fmt.Fprintf(stdout, "socktop %s\n", buildVersion())
				return nil
			}
			cfg.filter = strings.Join(args, " ")
			return runRoot(cmd.Context(), cfg, stdout, stderr)
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetHelpTemplate(helpTemplate)
	root.SetUsageTemplate(helpTemplate)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{c, asTyped(err, args)} })

	f := root.Flags()
	f.SortFlags = false
	f.BoolVarP(&cfg.tcp, "tcp", "t", false, "TCP sockets only")
	f.BoolVarP(&cfg.udp, "udp", "u", false, "UDP sockets only")
	f.BoolVarP(&cfg.unix, "unix", "x", false, "Unix domain sockets (with -t or -u: those too)")
	f.BoolVarP(&cfg.v4, "ipv4", "4", false, "IPv4 only")
	f.BoolVarP(&cfg.v6, "ipv6", "6", false, "IPv6 only")
	f.BoolVarP(&cfg.listening, "listening", "l", false, "listening sockets only (LISTEN, UDP and Unix UNCONN)")
	f.BoolVarP(&cfg.all, "all", "a", false, "all states (the default)")
	f.BoolVarP(&cfg.noHeader, "no-header", "H", false, "no header line in the table")
	f.BoolVarP(&cfg.summary, "summary", "s", false, "counts per protocol, family and state of the selected sockets")
	// ss's habits that socktop follows anyway: accepted, so that muscle
	// memory does not end in a flag error.
	for _, h := range []struct {
		p           *bool
		name, short string
		always      string
	}{
		{&cfg.processes, "processes", "p", "owners are shown unless --no-owners"},
	} {
		f.BoolVarP(h.p, h.name, h.short, false, "as in ss; "+h.always)
	}
	f.BoolVarP(&cfg.resolve, "resolve", "r", false, "host and service names, as ss -r (the default is numeric; see Names below)")
	f.BoolVarP(&cfg.numeric, "numeric", "n", false, "as in ss: numeric ports (with -r, only hosts are named)")
	f.BoolVar(&cfg.services, "services", false, "service names from /etc/services (:https), no host lookups")
	f.BoolVarP(&cfg.options, "options", "o", false, "as in ss: --once rows end in timer:(KIND,LEFT,RETRANS)")
	f.BoolVarP(&cfg.extended, "extended", "e", false, "as in ss: --once rows end in uid:N ino:N sk:COOKIE")
	f.BoolVarP(&cfg.info, "info", "i", false, "as in ss: TCP internals (rtt, cwnd, retransmits, bytes) under each connection; in the live view, the rate columns")
	f.BoolVar(&cfg.rates, "rates", false, "Send/s and Recv/s columns; --once and --json take two snapshots --interval apart")
	f.BoolVar(&cfg.once, "once", false, "print one table and exit")
	f.BoolVar(&cfg.listeners, "listeners", false, "print each TCP listener's accept and SYN queues, and the drop counters")
	f.BoolVar(&cfg.json, "json", false, "print one JSON snapshot and exit")
	f.StringVar(&cfg.groupBy, "group-by", "", "counts by `BY`: port, remote, process, state or container (live: the group view)")
	f.BoolVar(&cfg.noOwners, "no-owners", false, "skip owner (process) resolution; faster")
	f.BoolVar(&cfg.allNetNS, "all-netns", false, "sockets of every network namespace and container (needs root)")
	f.StringVarP(&cfg.netns, "net", "N", "", "sockets of the network namespace `NS`: an ip netns name, a pid or a path")
	f.StringVar(&cfg.source, "source", "auto", "collector: `NAME` is auto, netlink or gopsutil")
	f.DurationVar(&cfg.interval, "interval", time.Second, "live view refresh every `D`, 100ms to 10s")
	f.StringVar(&cfg.events, "events", "auto", "live view transitions from `HOW`: auto, bpf, tracefs or sampled")
	f.BoolVar(&cfg.version, "version", false, "print the version")
	root.PersistentFlags().BoolP("help", "h", false, "print this help")
	root.RegisterFlagCompletionFunc("source", cobra.FixedCompletions(collect.SourceNames, cobra.ShellCompDirectiveNoFileComp))
	root.RegisterFlagCompletionFunc("events", cobra.FixedCompletions(eventsNames, cobra.ShellCompDirectiveNoFileComp))
	root.RegisterFlagCompletionFunc("interval", cobra.FixedCompletions([]string{"250ms", "500ms", "1s", "2s", "5s"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(newTraceCmd(stdout, stderr), newDemoCmd(stdout, stderr), newKillCmd(stdout, stderr), newServeCmd(stdout, stderr), newCompletionCmd(root, stdout), newManCmd(root, stdout))
	return root
}

// checkRoot refuses what the root command cannot do with these flags.
func checkRoot(cmd *cobra.Command, cfg *config, args []string) error {
	if cfg.version && len(args) > 0 {
		return &usageError{cmd, fmt.Errorf("--version takes no arguments, got %q", strings.Join(args, " "))}
	}
	if err := checkRates(cfg); err != nil {
		return &usageError{cmd, err}
	}
	if !slices.Contains(collect.SourceNames, cfg.source) {
		return &usageError{cmd, fmt.Errorf("--source %q: want auto, netlink or gopsutil", cfg.source)}
	}
	if _, err := eventsMode(cfg.events); err != nil {
		return &usageError{cmd, err}
	}
	if cfg.interval < minInterval || cfg.interval > maxInterval {
		return &usageError{cmd, fmt.Errorf("--interval %v is outside %v..%v", cfg.interval, minInterval, maxInterval)}
	}
	if cfg.allNetNS && cfg.netns != "" {
		return &usageError{cmd, errors.New("--all-netns and -N do not combine: -N shows one namespace")}
	}
	if cfg.groupBy != "" || cmd.Flags().Changed("group-by") {
		if _, err := group.ParseBy(cfg.groupBy); err != nil {
			return &usageError{cmd, fmt.Errorf("--group-by: %w", err)}
		}
		if cfg.summary {
			return &usageError{cmd, errors.New("-s and --group-by do not combine: the summary groups by protocol and state")}
		}
		if cfg.listeners {
			return &usageError{cmd, errors.New("--listeners and --group-by do not combine: each is a report of its own")}
		}
	}
	if cfg.listeners && cfg.summary {
		return &usageError{cmd, errors.New("--listeners and -s do not combine: each is a report of its own")}
	}
	if err := checkNames(cfg); err != nil {
		return &usageError{cmd, err}
	}
	if cfg.summary && cfg.json {
		return &usageError{cmd, errors.New("-s and --json do not combine: the summary is text")}
	}
	return nil
}

// completeFilter offers the filter's keywords for the FILTER words.
func completeFilter(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	words := []string{"state", "exclude", "sport", "dport", "src", "dst", "port", "tcp", "udp",
		"proc", "pid", "uid", "netns", "container", "and", "or", "not", "established", "listening", "time-wait",
		"close-wait", "syn-sent", "syn-recv", "fin-wait-1", "fin-wait-2", "connected"}
	return words, cobra.ShellCompDirectiveNoFileComp
}

// newCompletionCmd builds `socktop completion bash|zsh|fish`.
func newCompletionCmd(root *cobra.Command, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                   "completion bash|zsh|fish",
		Short:                 "print a shell completion script",
		DisableFlagsInUseLine: true,
		ValidArgs:             []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(cmd.ValidArgs, args[0]) {
				return &usageError{cmd, fmt.Errorf("completion needs one shell: bash, zsh or fish, got %q", strings.Join(args, " "))}
			}
			return nil
		},
		Annotations: map[string]string{"more": `Load it for this shell:
  source <(socktop completion bash)
  socktop completion zsh > "${fpath[1]}/_socktop"
  socktop completion fish > ~/.config/fish/completions/socktop.fish`},
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			switch args[0] {
			case "bash":
				err = root.GenBashCompletionV2(stdout, true)
			case "zsh":
				err = root.GenZshCompletion(stdout)
			case "fish":
				err = root.GenFishCompletion(stdout, true)
			}
			if err != nil {
				return &runError{err}
			}
			return nil
		},
	}
}

// parseArgs parses a root command line without running it: the flags
// into a config, the other words (interleaved with the flags, or after
// --) into its filter. Tests use it.
func parseArgs(args []string) (config, error) {
	var cfg config
	root := newRootCmd(&cfg, args, io.Discard, io.Discard)
	if err := root.ParseFlags(args); err != nil {
		return cfg, err
	}
	cfg.filter = strings.Join(root.Flags().Args(), " ")
	return cfg, nil
}
