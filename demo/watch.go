package demo

import (
	"context"
	"fmt"
	"time"

	"socktop/collect"
)

// watch feeds snapshots from src to r every interval until every promise
// is settled (Run.Settled), the steps fail, timeout passes or ctx ends, and
// then stops the run. feed (may be nil) hands the run's tracker the
// kernel's events before each snapshot is tracked. onSeen (may be nil) is
// called for each promise as it is kept. The error is about the
// collector: every snapshot failed.
func watch(ctx context.Context, r *Run, src snapshotter, feed func(*collect.Tracker), interval, timeout time.Duration, onSeen func(PromiseStatus)) error {
	defer r.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr error
	good := 0
	for {
		snap, err := src.Snapshot(ctx)
		if err != nil {
			lastErr = err
		} else {
			good++
			for _, st := range r.observe(&snap, feed) {
				if onSeen != nil {
					onSeen(st)
				}
			}
		}
		if r.Settled() || r.Err() != nil {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		break
	}
	if good == 0 && lastErr != nil {
		return fmt.Errorf("demo %s: no snapshot: %w", r.sc.Name, lastErr)
	}
	return nil
}
