package main

import (
	"context"
	"errors"
	"time"

	"socktop/collect"
	"socktop/names"
	"socktop/output"
	"socktop/ui"
)

// The headless forms' host lookups: this many at a time, all of them
// within resolveBudget, after which the addresses not yet named print as
// numbers. A table of a busy host names hundreds of peers, most of them
// with no PTR record, and a script must not wait for DNS timeouts one by
// one.
const (
	resolveParallel = 16
	resolveBudget   = 3 * time.Second
)

// lookupAddr is the reverse lookup of -r; tests replace it.
var lookupAddr = names.GoLookup()

// checkNames refuses what -r, -n and --services cannot mean together.
func checkNames(cfg *config) error {
	if cfg.services && cfg.numeric {
		return errors.New("--services and -n contradict each other: -n keeps ports numeric")
	}
	return nil
}

// namesWanted says what the tables name: host names with -r, service
// names with --services, or with -r unless -n, as ss names services
// unless -n and hosts only with -r.
func namesWanted(cfg *config) (hosts, services bool) {
	return cfg.resolve, cfg.services || (cfg.resolve && !cfg.numeric)
}

// tableNamer resolves the addresses of snap's sockets, within the
// budget, when -r asked for host names, and returns the names the table
// and the JSON show; nil when they are numeric.
func tableNamer(ctx context.Context, cfg *config, snap *collect.Snapshot) output.Namer {
	hosts, services := namesWanted(cfg)
	if !hosts && !services {
		return nil
	}
	var n names.Namer
	if services {
		n.Services = names.SystemServices()
	}
	if hosts {
		n.Hosts = &names.Hosts{Max: 1 << 20}
		ctx, cancel := context.WithTimeout(ctx, resolveBudget)
		defer cancel()
		n.Hosts.Resolve(ctx, lookupAddr, names.TableAddrs(nil, snap.Sockets), resolveParallel)
	}
	return n
}

// uiNames is the live view's naming, from the same flags.
func uiNames(cfg *config) ui.Names {
	hosts, services := namesWanted(cfg)
	return ui.Names{Hosts: hosts, Services: services, Lookup: lookupAddr}
}
