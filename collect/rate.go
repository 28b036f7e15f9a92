package collect

import (
	"sync"
	"time"
)

// RateTracker turns the tcp_info byte counters of successive snapshots
// into Socket.Rate: the deltas of bytes_acked and bytes_received of one
// connection over the time between the snapshots' Taken stamps. A
// connection is its socket cookie and network namespace: the kernel gives
// each socket a cookie of its own for its lifetime, so a new connection on
// the same 4-tuple (a reused port) is told apart and its counters start
// again, and the 4-tuple adds nothing to the cookie but hashing cost. It remembers only the connections of the last
// snapshot it was given, so its memory follows the table down as well as
// up. Its zero value is ready; it is safe for concurrent use.
type RateTracker struct {
	mu sync.Mutex
	// last holds the counters of the previous snapshot; spare is the map
	// the next one fills, kept empty to reuse its buckets.
	last, spare rateMap
	slab        []Rate
}

// rateMap is one snapshot's counters, the time it was taken, and the
// most entries the map has held: a Go map keeps its buckets when
// emptied, so one far larger than the table is replaced.
type rateMap struct {
	m    map[rateKey]rateMark
	at   time.Time
	peak int
}

// rateKey is one connection: its cookie and its namespace's inode (a
// kernel before 5.12 numbers cookies per namespace). Two words, so the
// map hashes them as memory.
type rateKey struct {
	cookie, netns uint64
}

// rateMark is one connection's counters at one snapshot.
type rateMark struct {
	acked, received uint64
}

// rateSlabSize is how many Rates one allocation hands out.
const rateSlabSize = 256

// rateShrinkMin is the map size below which a map is never replaced.
const rateShrinkMin = 1024

// Fill sets the Rate of every socket of snap that has tcp_info and was
// in the previous snapshot given to Fill with tcp_info too; the others'
// Rate is nil (unknown). A counter that went backwards, or a snapshot
// not taken after the previous one, gives no rate either.
func (r *RateTracker) Fill(snap *Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := range snap.Sockets {
		if snap.Sockets[i].Info != nil {
			n++
		}
	}
	next := &r.spare
	if next.m == nil || next.peak > rateShrinkMin && next.peak > 2*n {
		next.m, next.peak = make(map[rateKey]rateMark, n), 0
	}
	next.at = snap.Taken
	dt := snap.Taken.Sub(r.last.at).Seconds()
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		s.Rate = nil
		if s.Info == nil || !s.Known(FieldCookie) {
			continue
		}
		k := rateKey{cookie: s.Cookie, netns: uint64(s.NetNS.Inode)}
		cur := rateMark{acked: s.Info.BytesAcked, received: s.Info.BytesReceived}
		if prev, ok := r.last.m[k]; ok {
			if dt > 0 && cur.acked >= prev.acked && cur.received >= prev.received {
				s.Rate = r.newRate()
				s.Rate.Send = float64(cur.acked-prev.acked) / dt
				s.Rate.Recv = float64(cur.received-prev.received) / dt
			}
		}
		next.m[k] = cur
	}
	next.peak = max(next.peak, len(next.m))
	clear(r.last.m)
	r.last, r.spare = r.spare, r.last
}

// Forget drops every connection's counters, so that the next Fill gives
// no rates: after tcp_info was turned off, the counters are stale.
func (r *RateTracker) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.spare, r.slab = rateMap{}, rateMap{}, nil
}

// Len returns how many connections the tracker remembers.
func (r *RateTracker) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.last.m) + len(r.spare.m)
}

// newRate hands out a Rate from a slab, so a snapshot's rates cost one
// allocation per slab rather than one per connection.
func (r *RateTracker) newRate() *Rate {
	if len(r.slab) == 0 {
		r.slab = make([]Rate, rateSlabSize)
	}
	p := &r.slab[0]
	r.slab = r.slab[1:]
	return p
}
