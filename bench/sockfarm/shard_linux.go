package main

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// twLife is TCP_TIMEWAIT_LEN, fixed in the kernel.
const twLife = 60 * time.Second

// shard holds the sockets of one process.
type shard struct {
	plan shardPlan

	pairL4, pairL6 []listener
	twL4, twL6     []listener
	spare          []listener
	pairFDs        []int // client, server, client, server, ...

	churn4, churn6 *twChurn
	diag           *diagConn
	// twPeriod is how long a TIME_WAIT socket is kept before churn
	// replaces it; zero means the kernel's own 60 s. Tests shorten it.
	twPeriod time.Duration

	stop chan struct{}
	wg   sync.WaitGroup
}

// listeners returns every listening address of the shard.
func (s *shard) listeners() []netip.AddrPort {
	var out []netip.AddrPort
	for _, ls := range [][]listener{s.pairL4, s.pairL6, s.twL4, s.twL6, s.spare} {
		for _, l := range ls {
			out = append(out, l.addr)
		}
	}
	return out
}

func openListeners(family, n int) ([]listener, error) {
	out := make([]listener, 0, n)
	for range n {
		l, err := openListener(family)
		if err != nil {
			for _, l := range out {
				unix.Close(l.fd)
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func listenersFor(pairs int) int {
	if pairs == 0 {
		return 0
	}
	return ceilDiv(pairs, tuplesPerListener)
}

// build opens the listeners, the established pairs and the TIME_WAIT
// sockets. Pairs and TIME_WAIT use different listeners, so they are built
// at the same time on the two goroutines.
func (s *shard) build() error {
	p := s.plan
	var err error
	open := func(dst *[]listener, family, n int) {
		if err != nil {
			return
		}
		*dst, err = openListeners(family, n)
	}
	open(&s.pairL4, 4, listenersFor(p.Pairs4))
	open(&s.pairL6, 6, listenersFor(p.Pairs6))
	open(&s.twL4, 4, listenersFor(2*p.TW4))
	open(&s.twL6, 6, listenersFor(2*p.TW6))
	open(&s.spare, 4, p.Spare)
	if err != nil {
		s.close()
		return err
	}
	if p.TW4+p.TW6 > 0 {
		s.diag, err = newDiagConn()
		if err != nil {
			s.close()
			return err
		}
		period := s.twPeriod
		if period <= 0 || period > twLife {
			period = twLife
		}
		s.churn4 = &twChurn{cur: tupleCursor{ls: s.twL4}, target: p.TW4, period: period}
		s.churn6 = &twChurn{cur: tupleCursor{ls: s.twL6}, target: p.TW6, period: period}
	}
	var twErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range []*twChurn{s.churn4, s.churn6} {
			if c != nil && twErr == nil {
				twErr = c.fill()
			}
		}
	}()
	pairErr := s.buildPairs(s.pairL4, p.Pairs4)
	if pairErr == nil {
		pairErr = s.buildPairs(s.pairL6, p.Pairs6)
	}
	<-done
	if err := errors.Join(pairErr, twErr); err != nil {
		s.close()
		return err
	}
	return nil
}

func (s *shard) buildPairs(ls []listener, n int) error {
	if n == 0 {
		return nil
	}
	cur := tupleCursor{ls: ls}
	for i := range n {
		if i%1024 == 0 && stopping() {
			return errStopped
		}
		cfd, sfd, _, _, err := cur.connectNext()
		if err != nil {
			return err
		}
		s.pairFDs = append(s.pairFDs, cfd, sfd)
	}
	return nil
}

// startChurn keeps the TIME_WAIT count steady: every socket that reaches
// the end of its 60 s is destroyed and replaced by a fresh one.
func (s *shard) startChurn(logf func(string, ...any)) {
	if s.churn4 == nil {
		return
	}
	s.stop = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				for _, c := range []*twChurn{s.churn4, s.churn6} {
					if err := c.rotate(now, s.diag); err != nil {
						logf("sockfarm: TIME_WAIT churn: %v", err)
					}
				}
			}
		}
	}()
}

// close ends everything the shard opened: pairs with a reset (no TIME_WAIT
// left behind), TIME_WAIT sockets with SOCK_DESTROY, then the listeners.
func (s *shard) close() error {
	if s.stop != nil {
		close(s.stop)
		s.wg.Wait()
		s.stop = nil
	}
	for i := 0; i+1 < len(s.pairFDs); i += 2 {
		abort(s.pairFDs[i])
		unix.Close(s.pairFDs[i+1])
	}
	s.pairFDs = nil
	var errs []error
	if s.diag != nil {
		for _, c := range []*twChurn{s.churn4, s.churn6} {
			errs = append(errs, c.clear(s.diag))
		}
		s.diag.close()
		s.diag = nil
	}
	for _, ls := range [][]listener{s.pairL4, s.pairL6, s.twL4, s.twL6, s.spare} {
		for _, l := range ls {
			unix.Close(l.fd)
		}
	}
	s.pairL4, s.pairL6, s.twL4, s.twL6, s.spare = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

type twEntry struct {
	local, remote netip.AddrPort
	created       time.Time
	due           time.Time // when churn replaces it
}

// twChurn owns the TIME_WAIT sockets of one family, oldest first. Its tuple
// space is at least twice the target, so a tuple comes back only long after
// its last TIME_WAIT ended.
type twChurn struct {
	cur    tupleCursor
	target int
	period time.Duration // replacement age, at most twLife
	q      []twEntry
	noKill bool // SOCK_DESTROY was refused: let the kernel expire them
}

// makeOne connects a pair and closes the client first, which leaves the
// client end in TIME_WAIT (the server end goes LAST_ACK, then away).
func (c *twChurn) makeOne(now time.Time) error {
	cfd, sfd, l, port, err := c.cur.connectNext()
	if err != nil {
		return err
	}
	unix.Close(cfd)
	unix.Close(sfd)
	caddr := clientAddr4
	if l.addr.Addr().Is6() {
		caddr = loop6
	}
	c.q = append(c.q, twEntry{local: netip.AddrPortFrom(caddr, uint16(port)), remote: l.addr, created: now, due: now.Add(c.period)})
	return nil
}

// fill creates the first generation. Built in a burst, it would also
// expire in a burst every minute, a CPU spike in the middle of whatever is
// being measured; so the first generation is replaced early, spread evenly
// over its first minute, and the churn runs at a steady target/60 per
// second from then on.
func (c *twChurn) fill() error {
	start := time.Now()
	for len(c.q) < c.target {
		i := len(c.q)
		if i%1024 == 0 && stopping() {
			return errStopped
		}
		if err := c.makeOne(time.Now()); err != nil {
			return err
		}
		c.q[i].due = start.Add(c.period * time.Duration(i+1) / time.Duration(c.target))
	}
	return nil
}

func (c *twChurn) rotate(now time.Time, d *diagConn) error {
	for len(c.q) > 0 && !now.Before(c.q[0].due) {
		e := c.q[0]
		if c.noKill && now.Sub(e.created) < twLife {
			// Without SOCK_DESTROY a socket can only be replaced once
			// the kernel has let it go.
			return nil
		}
		c.q = c.q[1:]
		if !c.noKill {
			if err := d.destroy(e.local, e.remote); err != nil {
				c.noKill = true
				return fmt.Errorf("%w (TIME_WAIT sockets will now expire by themselves, the count may overshoot)", err)
			}
		}
		if err := c.makeOne(now); err != nil {
			return err
		}
	}
	return nil
}

func (c *twChurn) clear(d *diagConn) error {
	var first error
	for _, e := range c.q {
		if err := d.destroy(e.local, e.remote); err != nil && first == nil {
			first = err
		}
	}
	c.q = nil
	return first
}
