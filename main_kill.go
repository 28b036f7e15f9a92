package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"socktop/collect"
	"socktop/filter"
	"socktop/output"
)

const killMore = `kill lists the TCP and UDP sockets FILTER matches, in the --once table,
then kills them as ss -K does: the kernel aborts each one, its program
sees ECONNABORTED on its next call, and a TCP peer gets an RST. Each
socket is named by its cookie, so a new socket that reused a 4-tuple is
never hit. Without --yes it asks at the terminal; with no terminal to ask
at it refuses. An empty FILTER is refused; "all" means every socket, and
it (or a filter that matches every socket) is done only with --yes.
Killing needs CAP_NET_ADMIN. Exit status: 0 when every socket was
killed, 1 when some were not (each one says why), 2 on bad usage.

Examples:
  socktop kill 'dport = :5432 and dst 10.0.0.7'
  socktop kill --yes 'state close-wait and proc java'`

// killTerminal reports whether confirmations can be asked for: stdin
// and stderr are a terminal. Tests replace it, and killStdin.
var killTerminal = func() bool {
	return term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stderr.Fd())
}

// killStdin is where a typed confirmation is read from.
var killStdin io.Reader = os.Stdin

// newKillCmd builds `socktop kill [--yes] FILTER`.
func newKillCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		yes, allNetNS bool
		netns         string
	)
	cmd := &cobra.Command{
		Use:               "kill [--yes] FILTER",
		Short:             "kill the sockets a filter matches, like ss -K",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeFilter,
		Annotations: map[string]string{
			"synopsis": "socktop kill [--yes] FILTER\tkill the sockets a filter matches, like ss -K",
			"more":     killMore,
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			expr := strings.TrimSpace(strings.Join(args, " "))
			if expr == "" {
				return &usageError{cmd, errors.New(`kill needs a FILTER naming the sockets to kill ("all" for every one, with --yes)`)}
			}
			var flt *filter.Filter
			if expr == "all" && !yes {
				return &inputError{errors.New(`not killing every socket: "all" is done only with --yes`)}
			}
			if expr != "all" {
				var err error
				if flt, err = filter.Parse(expr); err != nil {
					return &inputError{err}
				}
			}
			opts := collect.Options{Owners: true, States: flt.States(), AllNetNS: allNetNS}
			if allNetNS && netns != "" {
				return &usageError{cmd, errors.New("--all-netns and -N do not combine: -N is one namespace")}
			}
			if netns != "" {
				var err error
				if opts.NetNS, err = collect.ResolveNetNS(netns); err != nil {
					return &inputError{fmt.Errorf("-N %s: %w", netns, err)}
				}
			}
			return runKill(cmd.Context(), opts, flt, yes, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.BoolVarP(&yes, "yes", "y", false, "kill without asking")
	f.BoolVar(&allNetNS, "all-netns", false, "in every network namespace and container (needs root)")
	f.StringVarP(&netns, "net", "N", "", "in the network namespace `NS`: an ip netns name, a pid or a path")
	return cmd
}

// runKill lists the sockets of opts that flt matches (nil: every one)
// and kills them once confirmed.
func runKill(ctx context.Context, opts collect.Options, flt *filter.Filter, yes bool, stdout, stderr io.Writer) error {
	if opts.States == collect.AllStates {
		opts.States = 0 // as --once: not the TCP sockets that are only bound
	}
	// Only sock_diag gives the cookies a kill is made by.
	src := collect.NewNetlink(opts)
	defer src.Close()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return &runError{fmt.Errorf("kill needs sock_diag (netlink) to list sockets by cookie: %w", err)}
	}
	total := len(snap.Sockets)
	keepMatching(&snap, flt, false)
	n := len(snap.Sockets)
	if n == 0 {
		fmt.Fprintf(stderr, "socktop: no socket matches %q: nothing to kill\n", flt.String())
		return nil
	}
	if err := output.WriteTable(stdout, &snap, true); err != nil {
		return &runError{err}
	}
	// A filter that lets every state through and matched every row is
	// "all" in other words (the kernel's state mask left the rest out
	// unseen, so a state filter is never taken for it).
	everything := flt == nil || (flt.States() == collect.AllStates && n == total && n > 1)
	what := fmt.Sprintf("%d socket%s", n, plural(n))
	switch {
	case everything && !yes:
		return &inputError{fmt.Errorf("not killing %s: the filter matches every socket, which is done only with --yes (or say \"all\")", what)}
	case yes:
	case !killTerminal():
		fmt.Fprintf(stderr, "socktop: not killing %s: no terminal to confirm at; add --yes to kill them\n", what)
		return &exitError{1}
	default:
		fmt.Fprintf(stderr, "kill %s? TCP peers get an RST, the local programs see ECONNABORTED [y/N] ", what)
		answer, _ := bufio.NewReader(killStdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(stderr, "socktop: nothing killed")
			return &exitError{1}
		}
	}
	if killed := killAll(ctx, snap.Sockets, stdout, stderr); killed < n {
		fmt.Fprintf(stderr, "socktop: killed %d of %s\n", killed, what)
		return &exitError{1}
	}
	return nil
}

// killAll kills socks in order, says what became of each, and returns
// how many died.
func killAll(ctx context.Context, socks []collect.Socket, stdout, stderr io.Writer) int {
	killed, skipped := 0, 0
	for i, r := range collect.DestroyAll(ctx, socks) {
		s := &socks[i]
		switch {
		case r.ByPeer:
			fmt.Fprintf(stdout, "closed %s: the RST of its killed peer ended it\n", killName(s))
			killed++
		case r.Skipped:
			skipped++
		case r.Err != nil:
			fmt.Fprintf(stderr, "socktop: %v\n", r.Err)
		default:
			fmt.Fprintf(stdout, "killed %s\n", killName(s))
			killed++
		}
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "socktop: the other %d not tried: they would fail the same way\n", skipped)
	}
	return killed
}

// killName names a socket in kill's report.
func killName(s *collect.Socket) string {
	return fmt.Sprintf("%s %s -> %s %s (cookie %d)", s.Proto, output.FormatAddr(s.Local, s.Family),
		output.FormatAddr(s.Remote, s.Family), s.State, s.Cookie)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
