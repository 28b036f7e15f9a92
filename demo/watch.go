package demo

import (
	"context"
	"fmt"
	"time"

	"socktop/collect"
)

// stepsCap bounds how long a run's steps may take before watch gives up
// on it, whatever its timeout.
const stepsCap = 5 * time.Minute

// watch feeds snapshots from src to r every interval until every promise
// is settled (Run.Settled), the steps fail, timeout passes after the steps
// ended or ctx ends, and then stops the run. The timeout starts with the
// end of the steps because their length is the scenario's (a run with
// many held pictures takes a minute on a loaded host) while what is left
// to wait for is the kernel's; the steps' own waits are each bounded, and
// stepsCap bounds them all. feed (may be nil) hands the run's tracker the
// kernel's events before each snapshot is tracked. onSeen (may be nil) is
// called for each promise as it is kept. The error is about the
// collector: every snapshot failed.
func watch(ctx context.Context, r *Run, src snapshotter, feed func(*collect.Tracker), interval, timeout time.Duration, onSeen func(PromiseStatus)) error {
	defer r.Stop()
	var deadline <-chan time.Time // set once the steps end
	stepsEnd := r.stepsDone
	capT := time.NewTimer(stepsCap + timeout)
	defer capT.Stop()
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
		case <-stepsEnd:
			stepsEnd = nil
			t := time.NewTimer(timeout)
			defer t.Stop()
			deadline = t.C
			continue
		case <-deadline:
		case <-capT.C:
		case <-ctx.Done():
		}
		break
	}
	if good == 0 && lastErr != nil {
		return fmt.Errorf("demo %s: no snapshot: %w", r.sc.Name, lastErr)
	}
	return nil
}
