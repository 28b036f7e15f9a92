package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"socktop/collect"
)

// checkRates refuses what -i and --rates cannot do with the other flags.
func checkRates(cfg *config) error {
	if cfg.summary && (cfg.info || cfg.rates) {
		return errors.New("-s does not combine with -i or --rates: the summary counts sockets")
	}
	return nil
}

// wantTCPInfo reports whether the collection must fetch tcp_info on every
// TCP socket from the start: -i shows it, --rates is computed from it.
func wantTCPInfo(cfg *config) bool { return cfg.info || cfg.rates }

// noTCPInfoNotice is told when -i or --rates meet a source without
// tcp_info, so that a table of "-" is not taken for idle connections.
const noTCPInfoNotice = "-i and --rates need tcp_info, which only the netlink source has: rates and internals are unknown"

// headlessSnapshot takes the snapshot --once and --json print. One
// snapshot cannot tell a rate, so with --rates it takes two, interval
// apart, and fills the rates of the second from the counters of both
// (over the snapshots' own timestamps); the notices of both are kept.
func headlessSnapshot(ctx context.Context, src collect.Source, cfg *config) (collect.Snapshot, error) {
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return snap, err
	}
	if wantTCPInfo(cfg) {
		if _, ok := src.(collect.TCPInfoSetter); !ok {
			snap.Notices = append(snap.Notices, noTCPInfoNotice)
		}
	}
	if !cfg.rates {
		return snap, nil
	}
	var rt collect.RateTracker
	rt.Fill(&snap)
	// The tracker keeps the counters it needs; the first table can go
	// before the second is read.
	notices := snap.Notices
	snap = collect.Snapshot{}
	t := time.NewTimer(cfg.interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return collect.Snapshot{}, fmt.Errorf("waiting %v for the second snapshot of --rates: %w", cfg.interval, ctx.Err())
	case <-t.C:
	}
	next, err := src.Snapshot(ctx)
	if err != nil {
		return next, err
	}
	rt.Fill(&next)
	next.Notices = append(notices, next.Notices...)
	return next, nil
}
