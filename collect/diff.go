package collect

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Mark says how a row of the new snapshot differs from the previous one.
type Mark uint8

// Row marks, shown as TCPView's green (new) and yellow (changed).
const (
	// MarkSame: the socket was there before with the same state, queues
	// and timer kind; a timer counting down is not a change.
	MarkSame Mark = iota
	// MarkNew: no socket with this Key was in the previous snapshot.
	MarkNew
	// MarkChanged: the state, a queue or the timer kind changed.
	MarkChanged
)

// String returns same, new or changed.
func (m Mark) String() string {
	switch m {
	case MarkSame:
		return "same"
	case MarkNew:
		return "new"
	case MarkChanged:
		return "changed"
	}
	return "unknown"
}

// Transition is a state change of one connection. From is StateUnknown
// when the connection appeared, To is StateUnknown when it went away.
// States are canonical (SYN_RECV, never NEW_SYN_RECV).
type Transition struct {
	At       time.Time
	Key      Key
	From, To State
	// Source says how the change was learnt. A Kernel transition's At is
	// the kernel's timestamp, on the wall clock and with a monotonic
	// reading, so it orders against Snapshot.Taken.
	Source Origin
	// Cookie is the socket's cookie when the source knew it (a dump row,
	// a BPF event), and 0 otherwise.
	Cookie uint64
	// Index is the socket's position in the Sockets of the snapshot the
	// Changes came from, or -1 when it went away; Gone is then its
	// position in Changes.Gone, and -1 otherwise. Changes.Socket resolves
	// either.
	Index, Gone int32
}

// Changes is the difference between two consecutive snapshots.
type Changes struct {
	// Marks is parallel to cur.Sockets.
	Marks []Mark
	// Gone holds the sockets of prev that have no counterpart in cur, in
	// prev's order.
	Gone []Socket
	// Transitions lists every state change of a Key, every appearance and
	// every disappearance: first in cur's order, then the gone ones in
	// Gone's order. Kernel transitions, when the tracker was given
	// events, come in the kernel's order and replace the sampled ones of
	// the same connections.
	Transitions []Transition
	// Closed lists the connections the kernel destroyed since the
	// previous Update, with what the tracker remembered of them. A socket
	// that was never bound nor connected is not listed.
	Closed []ClosedConn
	// Lost counts the kernel events and destroy records lost since the
	// previous Update (a full ring buffer or receive buffer): the
	// transitions above may miss steps when it is not zero.
	Lost uint64
	// Prev, when not nil, is parallel to cur.Sockets: the index of the
	// prev row each row was paired with, or -1 for a new one. A
	// Tracker's Update (or UpdateFrom without origins) fills it in an
	// array of its own, which the next Update writes over; Diff,
	// DiffFrom and an UpdateFrom with origins leave it nil.
	Prev []int32
}

// Socket returns the socket t happened to: cur.Sockets[t.Index], or
// c.Gone[t.Gone] for a socket that went away. cur is the snapshot c was
// computed for; nil is returned when t points at neither.
func (c *Changes) Socket(cur *Snapshot, t *Transition) *Socket {
	switch {
	case t.Index >= 0 && cur != nil && int(t.Index) < len(cur.Sockets):
		return &cur.Sockets[t.Index]
	case t.Index < 0 && t.Gone >= 0 && int(t.Gone) < len(c.Gone):
		return &c.Gone[t.Gone]
	}
	return nil
}

// Diff compares two consecutive snapshots. Sockets are paired by Key, so a
// TIME_WAIT socket that replaced the FIN_WAIT_2 socket of the same 4-tuple
// is one connection moving on, not one gone and one new. When several
// sockets share a Key (SO_REUSEPORT, or a TIME_WAIT next to a new
// connection that reused its 4-tuple) they are paired first with a socket
// in the same state, then in order.
//
// prev may be nil: every row is new and no transitions are logged, since
// the first snapshot shows what exists rather than what happened. A nil cur
// is read as an empty snapshot.
func Diff(prev, cur *Snapshot) Changes {
	return diffFrom(prev, cur, nil, nil)
}

// DiffFrom is Diff for a cur whose rows are known to come from prev's:
// origin, parallel to cur.Sockets, holds for each row the index of the
// prev row it is an unchanged copy of (a TIME_WAIT timer counted down
// aside), or -1 for a row that is not (PatchCounts.Origin). The
// copies are paired with their rows without a comparison, and only the
// others are matched by Key, so a patch of a large table costs what
// changed rather than a pass over both tables. An origin of another
// length is ignored: the result is Diff's.
func DiffFrom(prev, cur *Snapshot, origin []int32) Changes {
	if prev == nil || cur == nil || len(origin) != len(cur.Sockets) {
		origin = nil
	}
	return diffFrom(prev, cur, origin, nil)
}

// diffFrom is DiffFrom; with pairs not nil, it also copies the pairing
// into *pairs' array (grown as needed) and sets Changes.Prev to it.
func diffFrom(prev, cur *Snapshot, origin []int32, pairs *[]int32) Changes {
	var curS []Socket
	var at time.Time
	if cur != nil {
		curS, at = cur.Sockets, cur.Taken
	}
	ch := Changes{Marks: make([]Mark, len(curS))}
	if prev == nil {
		for i := range ch.Marks {
			ch.Marks[i] = MarkNew
		}
		return ch
	}
	prevS := prev.Sockets

	d := differs.Get().(*differ)
	defer func() {
		d.fit(max(len(prevS), len(curS)))
		differs.Put(d)
	}()
	var pair []int32
	if origin != nil {
		pair = d.matchFrom(prevS, curS, ch.Marks, origin)
	} else {
		pair = d.match(prevS, curS, ch.Marks)
	}
	if pairs != nil {
		if c := cap(*pairs); c < len(pair) || c > differShrink*len(pair)+differFloor {
			*pairs = make([]int32, len(pair))
		}
		*pairs = (*pairs)[:len(pair)]
		copy(*pairs, pair)
		ch.Prev = *pairs
	}

	// Size the results first: when everything changed (a restart, a
	// flood) they hold 100k rows, and growing them by appends would copy
	// several times as much.
	nTrans, nGone := 0, 0
	for i := range curS {
		if d.done[i] {
			continue
		}
		if j := pair[i]; j < 0 || prevS[j].State.Canonical() != curS[i].State.Canonical() {
			nTrans++
		}
	}
	for j := range prevS {
		if !d.used[j] {
			nGone++
		}
	}
	if nGone > 0 {
		ch.Gone = make([]Socket, 0, nGone)
	}
	if nTrans+nGone > 0 {
		ch.Transitions = make([]Transition, 0, nTrans+nGone)
	}

	for i := range curS {
		if d.done[i] {
			continue
		}
		c := &curS[i]
		j := pair[i]
		if j < 0 {
			ch.Marks[i] = MarkNew
			ch.Transitions = append(ch.Transitions, Transition{At: at, Key: c.Key(), To: c.State.Canonical(), Source: Sampled, Index: int32(i), Gone: -1})
			continue
		}
		p := &prevS[j]
		from, to := p.State.Canonical(), c.State.Canonical()
		if from != to {
			ch.Transitions = append(ch.Transitions, Transition{At: at, Key: c.Key(), From: from, To: to, Source: Sampled, Index: int32(i), Gone: -1})
		}
		ch.Marks[i] = markOf(p, c)
	}
	for j := range prevS {
		if !d.used[j] {
			p := &prevS[j]
			ch.Transitions = append(ch.Transitions, Transition{At: at, Key: p.Key(), From: p.State.Canonical(), Source: Sampled, Index: -1, Gone: int32(len(ch.Gone))})
			ch.Gone = append(ch.Gone, *p)
		}
	}
	return ch
}

// markOf compares two sockets of the same Key. The countdown of a timer is
// not a change; its kind is.
func markOf(p, c *Socket) Mark {
	if p.State.Canonical() != c.State.Canonical() || p.RecvQ != c.RecvQ || p.SendQ != c.SendQ || p.Timer != c.Timer {
		return MarkChanged
	}
	return MarkSame
}

// dkey is a Key packed into plain words for hashing. The zone is left out:
// the table compares whole Keys, so two link-local peers that differ only
// by zone share a hash but never a chain.
type dkey struct {
	lhi, llo, rhi, rlo uint64
	meta               uint64
}

func dkeyOf(s *Socket) dkey {
	l, r := s.Local.Addr(), s.Remote.Addr()
	lb, rb := l.As16(), r.As16()
	meta := uint64(s.Local.Port())<<48 | uint64(s.Remote.Port())<<32 | uint64(s.Proto)<<8
	meta |= addrKind(l) | addrKind(r)<<2
	// Bits 16-31 are free: the low half of the namespace, as Key has it.
	meta |= uint64(keyNetNS(s.NetNS.Inode)&0xffff) << 16
	return dkey{
		lhi: binary.BigEndian.Uint64(lb[:8]), llo: binary.BigEndian.Uint64(lb[8:]),
		rhi: binary.BigEndian.Uint64(rb[:8]), rlo: binary.BigEndian.Uint64(rb[8:]),
		meta: meta,
	}
}

// addrKind tells apart the invalid address, IPv4 and IPv6, whose As16
// forms can coincide (an IPv4 address and its IPv4-mapped IPv6 twin).
func addrKind(a netip.Addr) uint64 {
	switch {
	case !a.IsValid():
		return 0
	case a.Is4():
		return 1
	}
	return 2
}

// slot is an entry of differ's open-addressing table: one chain of prev
// sockets sharing a Key, linked in prev order through differ.next. first
// is the first socket's index plus one (0: empty slot), head the first not
// yet paired (-1: none), h the top of the hash, to skip most other Keys
// without reading their sockets.
type slot struct {
	h     uint32
	first int32
	head  int32
}

// differ is Diff's scratch space, pooled so that a refresh every second
// does not allocate a 100k-entry index again. The index is a plain
// open-addressing table pointing into prev: a Go map of 40-byte keys is
// several times larger, and every probe then costs a cache miss more.
type differ struct {
	seed    uint64
	slots   []slot
	next    []int32 // prev index -> next prev index in its chain, or -1
	tail    []int32 // first prev index of a chain -> its last
	used    []bool
	done    []bool // cur index -> finished by the in-step walk
	pair    []int32
	chainOf []int32
}

var differs = sync.Pool{New: func() any { return &differ{seed: rand.Uint64() | 1} }}

// Scratch sized for a table this many times larger than the last diff's,
// and above differFloor rows, is given back, so that one burst of 100k
// sockets does not keep its index for the rest of the run.
const (
	differShrink = 4
	differFloor  = 4096
)

// fit drops d's buffers, after a diff of n rows (the larger of the two
// snapshots), when they are far larger than n. They hold indices only,
// never a pointer into a snapshot.
func (d *differ) fit(n int) {
	if c := max(cap(d.used), cap(d.done), cap(d.slots)/2); c > differFloor && c > differShrink*n {
		*d = differ{seed: d.seed}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// hash mixes the key with a per-process seed, so that peers choosing their
// addresses and ports cannot make every key collide.
func (d *differ) hash(k *dkey) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := d.seed ^ k.meta
	h = (h ^ k.lhi) * m
	h ^= h >> 32
	h = (h ^ k.llo) * m
	h ^= h >> 29
	h = (h ^ k.rhi) * m
	h ^= h >> 32
	h = (h ^ k.rlo) * m
	h ^= h >> 29
	return h
}

// match pairs cur with prev; the result, parallel to cur, holds prev
// indices or -1, and d.used marks the prev sockets taken. Pairs found by
// the in-step walk are finished on the spot, while both sockets are in
// cache: their mark is written and d.done set, as they have no transition.
func (d *differ) match(prev, cur []Socket, marks []Mark) []int32 {
	pair := d.reset(len(prev), len(cur))

	// Fast path: the kernel dumps in a stable order, so cur[i] is nearly
	// always the socket after the one cur[i-1] paired with, or a few
	// further on when sockets left in between. Pairing those by walking
	// both tables in step touches memory in order and hashes nothing.
	// Only a match with the same state is taken here, so the preference
	// for same-state partners below still holds.
	//
	// A row not found next to the walk's position is either new or comes
	// after a run of prev rows that left (TIME_WAIT sockets of one hash
	// region expiring together): the walk then looks further ahead, so
	// that one such run does not leave every later row to the hash table.
	// New rows come in runs too, so it looks ahead at the 1st, 2nd, 4th,
	// 8th... row of a run not found, and with a budget of one comparison
	// per prev row: a table with nothing in common costs at most twice
	// the walk.
	const window, ahead = 4, 256
	hint, left, budget, lost := 0, 0, len(prev), 0
	for i := range cur {
		c := &cur[i]
		pair[i] = -1
		end := min(hint+window, len(prev))
		found := false
		for j := hint; j < end; j++ {
			if !d.used[j] && sameKey(&prev[j], c) {
				hint, found = d.step(prev, c, i, j, pair, marks), true
				break
			}
		}
		if lost++; !found && budget > 0 && lost&(lost-1) == 0 {
			far := min(end+min(ahead, budget), len(prev))
			budget -= far - end
			for j := end; j < far; j++ {
				if !d.used[j] && sameKey(&prev[j], c) {
					hint, found = d.step(prev, c, i, j, pair, marks), true
					break
				}
			}
		}
		if found {
			lost = 0
		}
		if pair[i] < 0 {
			left++
		}
	}
	if left == 0 {
		return pair
	}
	d.matchRest(prev, cur, pair)
	return pair
}

// reset readies the scratch for prev and cur tables of these lengths:
// no prev row used, no cur row done. It returns the pairs' array.
func (d *differ) reset(prev, cur int) []int32 {
	d.used = grow(d.used, prev)
	clear(d.used)
	d.done = grow(d.done, cur)
	clear(d.done)
	d.pair = grow(d.pair, cur)
	return d.pair
}

// matchFrom is match for a cur whose rows origin says are copies of
// prev's (see DiffFrom): those are paired and finished at once, marked
// the same. A patch puts the row it asked the kernel for again where
// the row it replaces was, so each other row is first looked for, as
// match's in-step walk would, among the few prev rows after the copy
// before it; what is not found there goes through the hash passes.
func (d *differ) matchFrom(prev, cur []Socket, marks []Mark, origin []int32) []int32 {
	pair := d.reset(len(prev), len(cur))
	for i, o := range origin {
		pair[i] = -1
		if o >= 0 && int(o) < len(prev) && !d.used[o] {
			d.used[o], pair[i], d.done[i], marks[i] = true, o, true, MarkSame
		}
	}
	const window = 4
	hint, left := 0, 0
	for i := range cur {
		if d.done[i] {
			hint = int(pair[i]) + 1
			continue
		}
		c := &cur[i]
		for j, end := hint, min(hint+window, len(prev)); j < end; j++ {
			if !d.used[j] && sameKey(&prev[j], c) {
				hint = d.step(prev, c, i, j, pair, marks)
				break
			}
		}
		if pair[i] < 0 {
			left++
		}
	}
	if left > 0 {
		d.matchRest(prev, cur, pair)
	}
	return pair
}

// matchRest pairs the cur rows still unpaired through a hash table over
// the prev sockets not taken yet. Pass 1: same Key and same state; pass
// 2: same Key, in order.
func (d *differ) matchRest(prev, cur []Socket, pair []int32) {
	d.index(prev)
	chainOf := grow(d.chainOf, len(cur))
	d.chainOf = chainOf
	for i := range cur {
		chainOf[i] = -1
		if pair[i] >= 0 {
			continue
		}
		c := &cur[i]
		x := d.lookup(prev, c)
		chainOf[i] = x
		if x >= 0 {
			pair[i] = d.take(x, prev, c, true)
		}
	}
	for i := range cur {
		if pair[i] < 0 && chainOf[i] >= 0 {
			pair[i] = d.take(chainOf[i], prev, &cur[i], false)
		}
	}
}

// step pairs cur[i] with prev[j], which has its Key, when their states
// agree, and returns where the in-step walk goes on. A state change is left
// to the hash passes, but it still tells where the walk has got to.
func (d *differ) step(prev []Socket, c *Socket, i, j int, pair []int32, marks []Mark) int {
	p := &prev[j]
	if p.State.Canonical() == c.State.Canonical() {
		d.used[j], pair[i] = true, int32(j)
		d.done[i], marks[i] = true, markOf(p, c)
	}
	return j + 1
}

func sameKey(a, b *Socket) bool {
	return a.Local == b.Local && a.Remote == b.Remote && a.Proto == b.Proto &&
		(a.NetNS.Inode == b.NetNS.Inode || keyNetNS(a.NetNS.Inode) == keyNetNS(b.NetNS.Inode))
}

// index builds the chains of the prev sockets not yet used, and the table
// over them.
func (d *differ) index(prev []Socket) {
	n := 0
	for j := range prev {
		if !d.used[j] {
			n++
		}
	}
	size := 64
	for size < 2*n {
		size <<= 1
	}
	// Only the rows the in-step walk left are indexed, usually a few: a
	// table sized for a diff that went wrong (a restart, a flood) is let
	// go rather than cleared at every diff after it.
	if cap(d.slots) > differFloor && cap(d.slots) > differShrink*2*size {
		d.slots = nil
	}
	d.slots = grow(d.slots, size)
	clear(d.slots)
	d.next = grow(d.next, len(prev))
	d.tail = grow(d.tail, len(prev))
	mask := uint64(size - 1)
	for j := range prev {
		d.next[j] = -1
		if d.used[j] {
			continue
		}
		p := &prev[j]
		k := dkeyOf(p)
		h := d.hash(&k)
		top := uint32(h >> 32)
		for x := h & mask; ; x = (x + 1) & mask {
			sl := &d.slots[x]
			if sl.first == 0 {
				*sl = slot{h: top, first: int32(j) + 1, head: int32(j)}
				d.tail[j] = int32(j)
				break
			}
			if f := sl.first - 1; sl.h == top && sameKey(&prev[f], p) {
				d.next[d.tail[f]] = int32(j)
				d.tail[f] = int32(j)
				break
			}
		}
	}
}

// lookup returns the slot of c's Key, or -1.
func (d *differ) lookup(prev []Socket, c *Socket) int32 {
	k := dkeyOf(c)
	h := d.hash(&k)
	top := uint32(h >> 32)
	mask := uint64(len(d.slots) - 1)
	for x := h & mask; ; x = (x + 1) & mask {
		sl := &d.slots[x]
		if sl.first == 0 {
			return -1
		}
		if sl.h == top && sameKey(&prev[sl.first-1], c) {
			return int32(x)
		}
	}
}

// take pairs c with the first unpaired prev socket of slot x (all have c's
// Key), if sameState only one in the same canonical state; it returns its
// index or -1.
func (d *differ) take(x int32, prev []Socket, c *Socket, sameState bool) int32 {
	sl := &d.slots[x]
	for sl.head >= 0 && d.used[sl.head] {
		sl.head = d.next[sl.head]
	}
	want := c.State.Canonical()
	for j := sl.head; j >= 0; j = d.next[j] {
		if d.used[j] || sameState && prev[j].State.Canonical() != want {
			continue
		}
		d.used[j] = true
		return j
	}
	return -1
}
