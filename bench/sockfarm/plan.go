package main

import (
	"errors"
	"fmt"
	"math"
)

// Port layout. Listeners take ports from listenPortBase upwards (skipping
// ports someone else holds); clients bind explicit ports in the client range,
// so the farm never competes for the kernel's ephemeral ports and its
// sockets are easy to tell apart from everybody else's.
const (
	listenPortBase = 40000
	listenPortMax  = 60999
	clientPortLo   = 61000
	clientPortHi   = 65535
	// tuplesPerListener is how many client ports one listener is planned
	// to serve. The client range has 4536 ports; the margin absorbs ports
	// that turn out to be taken.
	tuplesPerListener = 4000
	// fdReserve is kept free in every process for the runtime, pipes and
	// the ss child used for counting.
	fdReserve = 128
)

var errPlan = errors.New("sockfarm: bad plan")

// shardPlan is the work of one process: established pairs per family and,
// for the parent only, TIME_WAIT sockets per family.
type shardPlan struct {
	Pairs4, Pairs6 int
	TW4, TW6       int
	Spare          int // listeners with no connections, to make the count exact
}

// listeners returns how many listening sockets the shard opens per family.
// TIME_WAIT churn rotates through twice its steady count of tuples, so that
// a tuple is reused only long after its TIME_WAIT expired.
func (s shardPlan) listeners() (l4, l6 int) {
	need := func(pairs, tw int) int {
		n := 0
		if pairs > 0 {
			n += ceilDiv(pairs, tuplesPerListener)
		}
		if tw > 0 {
			n += ceilDiv(2*tw, tuplesPerListener)
		}
		return n
	}
	return need(s.Pairs4, s.TW4) + s.Spare, need(s.Pairs6, s.TW6)
}

// sockets is the number of lines the shard adds to `ss -tan`.
func (s shardPlan) sockets() int {
	l4, l6 := s.listeners()
	return 2*(s.Pairs4+s.Pairs6) + s.TW4 + s.TW6 + l4 + l6
}

// fds is the number of descriptors the shard holds.
func (s shardPlan) fds() int {
	l4, l6 := s.listeners()
	return 2*(s.Pairs4+s.Pairs6) + l4 + l6
}

// farmPlan splits a table of n sockets (ss -tan lines) with a TIME_WAIT
// fraction tw over the parent (index 0: TIME_WAIT churn, and the pairs too
// when they fit) and child processes (pairs only) so that no process needs
// more than fdLimit descriptors.
type farmPlan struct {
	N      int
	Shards []shardPlan
}

// total is the number of ss lines the plan produces.
func (p farmPlan) total() int {
	t := 0
	for _, s := range p.Shards {
		t += s.sockets()
	}
	return t
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func split2(n int) (a, b int) { return n / 2, n - n/2 }

// makePlan builds the plan. It fails when n is too small to hold the
// requested shape or fdLimit leaves no room for a single pair.
func makePlan(n int, tw float64, fdLimit int) (farmPlan, error) {
	if tw < 0 || tw >= 1 || math.IsNaN(tw) {
		return farmPlan{}, fmt.Errorf("%w: TIME_WAIT fraction %v is not in [0,1)", errPlan, tw)
	}
	return makePlanCount(n, int(math.Round(float64(n)*tw)), fdLimit)
}

// makePlanCount is makePlan with the TIME_WAIT sockets given as a count.
func makePlanCount(n, twN, fdLimit int) (farmPlan, error) {
	if twN < 0 || twN >= n {
		return farmPlan{}, fmt.Errorf("%w: %d TIME_WAIT sockets in a table of %d", errPlan, twN, n)
	}
	if n < 4 {
		return farmPlan{}, fmt.Errorf("%w: n=%d is too small (at least 4)", errPlan, n)
	}
	perShard := (fdLimit - fdReserve) / 2
	if perShard < 8 {
		return farmPlan{}, fmt.Errorf("%w: open-file limit %d leaves no room for sockets", errPlan, fdLimit)
	}
	parent := shardPlan{}
	parent.TW4, parent.TW6 = split2(twN)
	// The number of listeners depends on the number of pairs, and the
	// number of pairs on what is left after the listeners: start from the
	// most pairs that could fit, step down until the plan fits, and fill
	// the remainder (usually 0 or 1) with spare listeners.
	for pairs := (n - twN) / 2; pairs >= 0; pairs-- {
		p := farmPlan{N: n, Shards: layout(parent, pairs, fdLimit-fdReserve)}
		if got := p.total(); got <= n {
			p.Shards[0].Spare += n - got
			return p, nil
		}
	}
	return farmPlan{}, fmt.Errorf("%w: n=%d is too small for %d TIME_WAIT sockets and their listeners", errPlan, n, twN)
}

// layout places pairs in the parent when they fit in maxFDs descriptors,
// else in children of as many pairs as fit (each child also opens its own
// listeners).
func layout(parent shardPlan, pairs, maxFDs int) []shardPlan {
	cand := parent
	cand.Pairs4, cand.Pairs6 = split2(pairs)
	if cand.fds() <= maxFDs {
		return []shardPlan{cand}
	}
	shards := []shardPlan{parent}
	perShard := maxFDs / 2
	// Leave room for the listeners of each child.
	per := perShard - ceilDiv(perShard, tuplesPerListener) - 2
	for pairs > 0 {
		k := min(per, pairs)
		s := shardPlan{}
		s.Pairs4, s.Pairs6 = split2(k)
		shards = append(shards, s)
		pairs -= k
	}
	return shards
}
