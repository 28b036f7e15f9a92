package demo

import (
	"socktop/collect"
	"socktop/collect/segments"
)

// Path returns the states the run's endpoint of role went through, as
// the tracker reported them; not written yet.
func (r *Run) Path(role Role) []collect.Step { return nil }

// Segments returns the TCP segments captured for the run; not written yet.
func (r *Run) Segments() []segments.Segment { return nil }
