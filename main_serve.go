package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/spf13/cobra"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/exporter"
)

// defaultServeListen is where `socktop serve` listens unless told.
const defaultServeListen = "127.0.0.1:9733"

// serveFlags are the flags of `socktop serve`.
type serveFlags struct {
	listen      string
	allowRemote bool
	webConfig   string
	topPorts    int
	events      string
	source      string
	noOwners    bool
}

const serveMore = `serve answers Prometheus scrapes: each scrape of /metrics takes one
snapshot, as --once --no-owners does, and reports sockets per protocol,
family and state, TIME_WAIT and CLOSE_WAIT per local port (the --top-ports
busiest, the rest as port="other"), each listener's accept queue and
backlog, and the host's TCP retransmissions. Kernel events add counters of
state changes and closed connections and a lifetime histogram (the state
changes and the lifetime need root or cap_bpf,cap_perfmon; without, those
metrics are absent and a notice says so). /snapshot serves the --json
document (?filter=EXPR narrows it). docs/fleet.md has a scrape config,
alerts and a Grafana dashboard.

It listens on loopback unless --allow-remote is given. TLS and basic
authentication come from --web.config.file, the Prometheus exporter
toolkit's format (https://prometheus.io/docs/prometheus/latest/configuration/https/).

Examples:
  socktop serve
  socktop serve --listen 127.0.0.1:9100 --top-ports 50
  socktop serve --listen :9733 --allow-remote --web.config.file web.yml`

// newServeCmd builds `socktop serve`.
func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	fl := &serveFlags{}
	cmd := &cobra.Command{
		Use:         "serve [flags]",
		Short:       "serve /metrics for Prometheus and /snapshot (JSON) over HTTP",
		Args:        usageArgs(cobra.NoArgs),
		Annotations: map[string]string{"more": serveMore},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServe(cmd, fl); err != nil {
				return err
			}
			return runServe(cmd.Context(), fl, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&fl.listen, "listen", defaultServeListen, "listen on `ADDR:PORT`")
	f.BoolVar(&fl.allowRemote, "allow-remote", false, "allow a --listen address other than loopback")
	f.StringVar(&fl.webConfig, "web.config.file", "", "TLS and basic auth from `FILE` (exporter-toolkit web config)")
	f.IntVar(&fl.topPorts, "top-ports", exporter.DefaultTopPorts, "TIME_WAIT and CLOSE_WAIT series for the `N` busiest local ports")
	f.StringVar(&fl.events, "events", "auto", "state changes from `SRC`: auto, bpf, tracefs or sampled (sampled: none)")
	f.StringVar(&fl.source, "source", "auto", "collector: `NAME` is auto, netlink or gopsutil")
	f.BoolVar(&fl.noOwners, "no-owners", false, "leave the listeners' process label at ? (no /proc scan)")
	cmd.RegisterFlagCompletionFunc("events", cobra.FixedCompletions(eventsNames, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("source", cobra.FixedCompletions(collect.SourceNames, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// checkServe refuses flags serve cannot use: a bad value, a remote
// address without --allow-remote, a web config that does not load.
func checkServe(cmd *cobra.Command, fl *serveFlags) error {
	if _, err := eventsMode(fl.events); err != nil {
		return &usageError{cmd, err}
	}
	if !slices.Contains(collect.SourceNames, fl.source) {
		return &usageError{cmd, fmt.Errorf("--source %q: want auto, netlink or gopsutil", fl.source)}
	}
	if fl.topPorts < 1 {
		return &usageError{cmd, fmt.Errorf("--top-ports %d: want 1 or more", fl.topPorts)}
	}
	loop, err := loopbackOnly(fl.listen)
	if err != nil {
		return &usageError{cmd, fmt.Errorf("--listen %q: %w", fl.listen, err)}
	}
	if !loop && !fl.allowRemote {
		return &inputError{fmt.Errorf("--listen %q is not a loopback address: the metrics and /snapshot would be open to the network; "+
			"add --allow-remote to mean it (and --web.config.file for TLS and basic auth)", fl.listen)}
	}
	if fl.webConfig != "" {
		if err := web.Validate(fl.webConfig); err != nil {
			return &inputError{fmt.Errorf("--web.config.file %s: %w", fl.webConfig, err)}
		}
	}
	return nil
}

// loopbackOnly reports whether addr, HOST:PORT, listens on loopback
// alone: a loopback IP or "localhost". An empty host (every interface)
// is not.
func loopbackOnly(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return false, fmt.Errorf("port %q: %w", port, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// A host name other than localhost may resolve anywhere.
		return false, nil
	}
	return ip.Unmap().IsLoopback(), nil
}

// runServe serves until ctx is done.
func runServe(ctx context.Context, fl *serveFlags, stdout, stderr io.Writer) error {
	// Listening first, so that the first pass over the listeners' owners
	// names serve's own listener too.
	ln, err := net.Listen("tcp", fl.listen)
	if err != nil {
		return &runError{fmt.Errorf("--listen %s: %w", fl.listen, err)}
	}
	defer ln.Close()
	var st *events.Stream
	if mode, _ := eventsMode(fl.events); mode != events.ModeSampled {
		if st, err = openEvents(fl.events); err != nil {
			return &runError{err}
		}
		defer st.Close()
	}
	exp, err := exporter.New(exporter.Options{
		Source: fl.source, TopPorts: fl.topPorts, Events: st, NoListenerOwners: fl.noOwners,
	})
	if err != nil {
		return &runError{err}
	}
	defer exp.Close()
	for _, n := range exp.Notices() {
		fmt.Fprintf(stderr, "socktop: %s\n", n)
	}
	scheme := "http"
	if fl.webConfig != "" {
		scheme = "http(s), per " + fl.webConfig + ","
	}
	fmt.Fprintf(stderr, "socktop: serving %s on %s: /metrics and /snapshot\n", scheme, ln.Addr())
	srv := &http.Server{
		Handler:           exp.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// The toolkit logs at Info what this command already said.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	errc := make(chan error, 1)
	go func() { errc <- web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &fl.webConfig}, logger) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return &runError{fmt.Errorf("serve: %w", err)}
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
		<-errc
		return nil
	}
}
