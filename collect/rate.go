package collect

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// RateTracker turns the tcp_info byte counters of successive snapshots
// into Socket.Rate: the deltas of bytes_acked and bytes_received of one
// connection over the time between the snapshots' Taken stamps. A
// connection is its socket cookie and network namespace: the kernel gives
// each socket a cookie of its own for its lifetime, so a new connection on
// the same 4-tuple (a reused port) is told apart and its counters start
// again. It remembers only the connections of the last snapshot it was
// given, so its memory follows the table down as well as up. Its zero
// value is ready; it is safe for concurrent use.
//
// The previous snapshot's counters are kept sorted by cookie, and each
// snapshot's are sorted (a radix sort) and merged with them: at 100k
// connections a hash map's random probes miss the cache on every socket,
// where the sort and the merge walk memory in order (docs/performance.md).
type RateTracker struct {
	mu sync.Mutex
	// last is the previous snapshot's counters in rateEntry order, taken
	// at lastAt; cur and tmp are the buffers of the next one.
	last, cur, tmp []rateEntry
	lastAt         time.Time
	slab           []Rate
}

// rateEntry is one connection's counters at one snapshot, and the index
// of its socket in that snapshot.
type rateEntry struct {
	cookie          uint64
	netns           uint32 // a kernel before 5.12 numbers cookies per namespace
	idx             int32
	acked, received uint64
}

// rateSlabSize is how many Rates one allocation hands out.
const rateSlabSize = 256

// Fill sets the Rate of every socket of snap that has tcp_info and was
// in the previous snapshot given to Fill with tcp_info too; the others'
// Rate is nil (unknown). A counter that went backwards, or a snapshot
// not taken after the previous one, gives no rate either.
func (r *RateTracker) Fill(snap *Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Sized by the previous snapshot's count, which the table rarely
	// moves far from between two refreshes.
	cur := fitEntries(r.cur, len(r.last))
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		s.Rate = nil
		if s.Info != nil && s.Known(FieldCookie) {
			cur = append(cur, rateEntry{cookie: s.Cookie, netns: s.NetNS.Inode, idx: int32(i),
				acked: s.Info.BytesAcked, received: s.Info.BytesReceived})
		}
	}
	n := len(cur)
	cur, spare := sortEntries(cur, fitEntries(r.tmp, n)[:n])
	if dt := snap.Taken.Sub(r.lastAt).Seconds(); dt > 0 && len(r.last) > 0 {
		prev := r.last
		j := 0
		for k := range cur {
			c := &cur[k]
			for j < len(prev) && cmpEntry(&prev[j], c) < 0 {
				j++
			}
			if j == len(prev) {
				break
			}
			if p := &prev[j]; cmpEntry(p, c) == 0 && c.acked >= p.acked && c.received >= p.received {
				rt := r.newRate()
				rt.Send = float64(c.acked-p.acked) / dt
				rt.Recv = float64(c.received-p.received) / dt
				snap.Sockets[c.idx].Rate = rt
			}
		}
	}
	r.cur, r.tmp = r.last, spare
	r.last, r.lastAt = cur, snap.Taken
}

// cmpEntry orders entries by cookie, then namespace.
func cmpEntry(a, b *rateEntry) int {
	if c := cmp.Compare(a.cookie, b.cookie); c != 0 {
		return c
	}
	return cmp.Compare(a.netns, b.netns)
}

// fitEntries returns s emptied with room for n, in a new array when the
// old one is far larger than n (the table shrank) or too small.
func fitEntries(s []rateEntry, n int) []rateEntry {
	if cap(s) < n || cap(s) > 1024 && cap(s) > 2*n {
		return make([]rateEntry, 0, n+n/8)
	}
	return s[:0]
}

// sortEntries sorts s by cookie then namespace, using tmp (as long as s)
// as scratch, and returns the sorted entries, in s or in tmp, and the
// other buffer. It is a
// least-significant-digit radix sort on the cookie, skipping the digits
// every cookie shares (cookies come from one counter, so the high ones
// rarely differ); the rare equal cookies (namespaces of an old kernel)
// are then ordered by namespace.
func sortEntries(s, tmp []rateEntry) (sorted, spare []rateEntry) {
	const digit = 11
	if len(s) < 2 {
		return s, tmp
	}
	var count [1 << digit]int
	lo, hi := s[0].cookie, s[0].cookie
	for i := range s {
		lo, hi = min(lo, s[i].cookie), max(hi, s[i].cookie)
	}
	for shift := 0; shift < 64 && hi>>shift != lo>>shift; shift += digit {
		clear(count[:])
		for i := range s {
			count[(s[i].cookie>>shift)&(1<<digit-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for i := range s {
			d := (s[i].cookie >> shift) & (1<<digit - 1)
			tmp[count[d]] = s[i]
			count[d]++
		}
		s, tmp = tmp, s
	}
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j].cookie == s[i].cookie {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(s[i:j], func(a, b rateEntry) int { return cmpEntry(&a, &b) })
		}
		i = j
	}
	return s, tmp
}

// Forget drops every connection's counters, so that the next Fill gives
// no rates: after tcp_info was turned off, the counters are stale.
func (r *RateTracker) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.cur, r.tmp, r.slab, r.lastAt = nil, nil, nil, nil, time.Time{}
}

// Len returns how many connections the tracker remembers.
func (r *RateTracker) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.last)
}

// has reports whether the tracker remembers the connection with this
// cookie in this namespace.
func (r *RateTracker) has(cookie uint64, netns uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := rateEntry{cookie: cookie, netns: netns}
	_, ok := slices.BinarySearchFunc(r.last, &want, func(e rateEntry, t *rateEntry) int { return cmpEntry(&e, t) })
	return ok
}

// capacity returns the most entries the tracker's buffers have room for.
func (r *RateTracker) capacity() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(cap(r.last), cap(r.cur), cap(r.tmp))
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
