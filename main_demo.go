package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"socktop/collect"
	"socktop/demo"
)

const demoRunMore = `run executes one scenario on 127.0.0.1 (on a free port unless --port
names one), prints every socket call as it happens, then the state changes
observed, each side's path, the segments on the wire as a sequence
diagram, and each promise, seen or missed. Paths are checked exactly from
the kernel's events when socktop may read them (root, or cap_bpf and
cap_perfmon), and from snapshots otherwise: the output says "checked:
exact (bpf)" or "checked: sampled". Segments need CAP_NET_RAW. It exits 0
when every promise it could check was kept, 1 otherwise, 2 on bad usage.
With --json the output is NDJSON: one object per line, of type start,
event, seen, then result; the result carries "paths" (per side, the steps
with "state", "t_us" since the start and "source") and "segments" ("t_us",
"from", "flags", "seq" and "ack" relative to each side's initial sequence
number, "len", "win").`

// newDemoCmd builds `socktop demo list` and `socktop demo run NAME`.
func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "the demo scenarios, headless",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{cmd, errors.New("demo needs a command: list or run")}
			}
			return &usageError{cmd, fmt.Errorf("unknown demo command %q", args[0])}
		},
	}
	cmd.Flags().SortFlags = false
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "list the demo scenarios",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			write := demo.WriteList
			if listJSON {
				write = demo.WriteListJSON
			}
			if err := write(stdout); err != nil {
				return &runError{err}
			}
			return nil
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "NDJSON output, one scenario per line (name, key, title, section, needs_root)")
	cmd.AddCommand(list, newDemoRunCmd(&demoRunFlags{}, stdout, stderr))
	return cmd
}

// demoRunFlags are the flags of `socktop demo run`.
type demoRunFlags struct {
	port    uint
	reuse   boolValue
	json    bool
	timeout time.Duration
	fast    bool
	events  string
}

// newDemoRunCmd builds `socktop demo run NAME`; its flags fill fl.
func newDemoRunCmd(fl *demoRunFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "run NAME [flags]",
		Short:             "run one scenario and check its promises",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeScenario,
		Annotations:       map[string]string{"more": demoRunMore},
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, opts, err := demoRunOptions(cmd, fl, args[0])
			if err != nil {
				return err
			}
			// The same collector choice as the live view: sock_diag, or
			// gopsutil where it is refused.
			src, err := collect.NewSource("auto", demo.CollectOptions())
			if err != nil {
				return &runError{err}
			}
			if !demo.RunHeadless(cmd.Context(), sc, opts, noticeSource{src, stderr}, stdout, stderr) {
				return &exitError{1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.UintVar(&fl.port, "port", 0, "server port `N` (default: a free one)")
	f.Var(&fl.reuse, "reuseaddr", "set SO_REUSEADDR (=true or =false) in "+strings.Join(reuseScenarios(), ", "))
	f.Lookup("reuseaddr").NoOptDefVal = "true"
	f.BoolVar(&fl.json, "json", false, "NDJSON output, one object per line")
	f.DurationVar(&fl.timeout, "timeout", time.Minute, "give up waiting for the promises `D` after the steps end")
	f.BoolVar(&fl.fast, "fast", false, "short lifetimes and pauses (for tests)")
	f.StringVar(&fl.events, "events", "auto", "paths checked from `HOW`: auto, bpf, tracefs or sampled")
	cmd.RegisterFlagCompletionFunc("events", cobra.FixedCompletions(eventsNames, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("reuseaddr", cobra.FixedCompletions([]string{"true", "false"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// demoRunOptions checks the scenario name and the flags of a demo run.
func demoRunOptions(cmd *cobra.Command, fl *demoRunFlags, name string) (*demo.Scenario, demo.RunOptions, error) {
	sc, ok := demo.Find(name)
	if !ok {
		return nil, demo.RunOptions{}, &usageError{cmd, fmt.Errorf("unknown scenario %q (see socktop demo list)", name)}
	}
	if fl.port > 65535 {
		return nil, demo.RunOptions{}, &usageError{cmd, fmt.Errorf("--port %d is not a port", fl.port)}
	}
	opts := demo.RunOptions{Config: sc.DefaultConfig(), JSON: fl.json, Timeout: fl.timeout}
	opts.Config.Port = uint16(fl.port)
	opts.Config.Fast = fl.fast
	if cmd.Flags().Changed("reuseaddr") {
		if !sc.UsesReuseAddr {
			return nil, demo.RunOptions{}, &usageError{cmd, fmt.Errorf("--reuseaddr: demo %s does not use SO_REUSEADDR; only these do: %s",
				sc.Name, strings.Join(reuseScenarios(), ", "))}
		}
		opts.Config.ReuseAddr = bool(fl.reuse)
	}
	if fl.timeout <= 0 {
		return nil, demo.RunOptions{}, &usageError{cmd, errors.New("--timeout must be positive")}
	}
	mode, err := eventsMode(fl.events)
	if err != nil {
		return nil, demo.RunOptions{}, &usageError{cmd, err}
	}
	opts.Mode = mode
	return sc, opts, nil
}

// boolValue is a flag that takes true or false, and also the spellings
// yes/no, on/off and 1/0; given bare, it is true.
type boolValue bool

// Set parses the flag's value.
func (b *boolValue) Set(v string) error {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		*b = true
	case "false", "0", "no", "off":
		*b = false
	default:
		return fmt.Errorf("%q: want true or false", v)
	}
	return nil
}

// String returns "true" or "false".
func (b *boolValue) String() string { return fmt.Sprint(bool(*b)) }

// Type is "bool", so that help prints the flag as a switch.
func (b *boolValue) Type() string { return "bool" }

// reuseScenarios names the scenarios whose SO_REUSEADDR can be chosen.
func reuseScenarios() []string {
	var names []string
	for _, sc := range demo.Catalogue() {
		if sc.UsesReuseAddr {
			names = append(names, sc.Name)
		}
	}
	return names
}

// completeScenario offers the scenario names for `demo run`.
func completeScenario(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, sc := range demo.Catalogue() {
		names = append(names, sc.Name+"\t"+sc.Title)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// noticeSource prints the notices of src's snapshots (a fallback to
// gopsutil, a partial dump) on w as they come, as the table does.
type noticeSource struct {
	src collect.Source
	w   io.Writer
}

// Snapshot returns src's snapshot after printing its notices.
func (n noticeSource) Snapshot(ctx context.Context) (collect.Snapshot, error) {
	snap, err := n.src.Snapshot(ctx)
	for _, msg := range snap.Notices {
		fmt.Fprintf(n.w, "socktop: %s\n", msg)
	}
	return snap, err
}

// Close closes src when it can be closed.
func (n noticeSource) Close() error {
	if c, ok := n.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
