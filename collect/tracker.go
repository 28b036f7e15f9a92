package collect

import "slices"

// Origin says how a transition was learnt.
type Origin uint8

// Origins of a transition. The zero value is OriginUnknown, so a
// Transition made by hand never claims a source it does not have.
const (
	// OriginUnknown: nobody said how the transition was learnt.
	OriginUnknown Origin = iota
	// Sampled: inferred from two snapshots a refresh apart. A sampled
	// change may hide the states in between, so it can be a jump.
	Sampled
	// Kernel: reported by the kernel as it happened (the
	// sock:inet_sock_set_state tracepoint), with the kernel's timestamp.
	// A kernel transition is one step of the state diagram.
	Kernel
)

// String returns "sampled", "kernel" or "unknown".
func (o Origin) String() string {
	switch o {
	case Sampled:
		return "sampled"
	case Kernel:
		return "kernel"
	}
	return "unknown"
}

// Tracker turns consecutive snapshots, and the kernel's state events and
// destroy records when it is given them (AddEvents, AddClosed), into one
// stream of Changes: the live view and the demo runs read the same ones,
// so they cannot disagree about what happened. It also keeps each
// connection's path (Path). The zero value is ready to use. A Tracker is
// not safe for concurrent use.
//
// Between two Updates it keeps the last snapshot given (not a copy) and
// copies of the sockets a partial snapshot lacked, without their tcp_info
// and with owners of their own, so that no older snapshot stays reachable
// through it.
type Tracker struct {
	prev *Snapshot
	// held are sockets a partial snapshot did not list: maybe still there,
	// maybe gone. They are compared with the next snapshot that lists
	// them, and gone only once a complete snapshot lacks them too.
	held []Socket

	// Kernel input since the last Update, see AddEvents and AddClosed.
	events []StateEvent
	closed []Closed
	lost   uint64
	kern   kernelState
	// pairs is the array Changes.Prev is given in.
	pairs []int32
}

// Update returns the changes from the previous snapshot to cur, and keeps
// cur for the next call. The first snapshot marks every row new and has no
// transitions, like Diff(nil, cur): it shows what exists rather than what
// happened.
//
// A partial snapshot (an interrupted dump, a family that failed) says
// nothing about the sockets it lacks: they are neither gone (no X -> -)
// nor new when they are listed again (no - -> X); a change of state in
// the meantime is one transition, from the state last seen. A nil cur is
// read as an empty, complete snapshot.
//
// The kernel input due at cur.Taken is merged in (see merge): its exact
// transitions come first and replace the sampled ones of the same
// connections, Changes.Closed holds the destroy records, Changes.Lost
// the losses handed in since the last Update.
func (t *Tracker) Update(cur *Snapshot) Changes {
	return t.UpdateFrom(cur, nil, nil)
}

// UpdateFrom is Update for a cur made from of's rows, as a patch makes
// its table (PatchCounts.Origin): when of is the tracker's
// previous snapshot, the rows origin says are copies are paired with
// theirs without a comparison (DiffFrom). Otherwise it is Update.
func (t *Tracker) UpdateFrom(cur *Snapshot, origin []int32, of *Snapshot) Changes {
	if cur == nil {
		cur = &Snapshot{}
	}
	if of == nil || of != t.prev || len(origin) != len(cur.Sockets) {
		origin = nil
	}
	// The pairing is handed out for a table without origins (a walk's):
	// a patch's caller has its origins already.
	var pairs *[]int32
	if origin == nil {
		pairs = &t.pairs
	}
	ch := diffFrom(t.prev, cur, origin, pairs)
	if t.prev != nil && (len(t.held) > 0 || cur.Partial && len(ch.Gone) > 0) {
		t.reconcile(cur, &ch)
	}
	t.merge(cur, &ch)
	t.prev = cur
	return ch
}

// Rebase makes the next Update a first snapshot again, as if none had
// been given: every row new, no sampled transition, nothing gone. It is
// for a caller that changed what its source lists (a new kernel filter):
// a socket the old listing had and the new one lacks has not gone, and
// one only the new listing has has not appeared. The previous snapshot
// and the held sockets are forgotten; the kernel input, its exact
// transitions and the paths are kept, since they do not depend on what
// the source lists.
func (t *Tracker) Rebase() {
	t.prev = nil
	clear(t.held)
	t.held = nil
}

// reconcile applies the partial-snapshot rule to ch, Diff's changes from
// the previous snapshot to cur: a held socket that cur lists is paired
// with it rather than new; one cur lacks stays held if cur is partial and
// is gone otherwise; and what a partial cur lacks is held rather than gone.
func (t *Tracker) reconcile(cur *Snapshot, ch *Changes) {
	held := t.held
	var paired map[int32]int32 // cur index -> held index
	var used []bool
	if len(held) > 0 {
		byKey := make(map[Key][]int32, len(held))
		for h := range held {
			k := held[h].Key()
			byKey[k] = append(byKey[k], int32(h))
		}
		paired = map[int32]int32{}
		used = make([]bool, len(held))
		for i := range cur.Sockets {
			if ch.Marks[i] != MarkNew {
				continue
			}
			c := &cur.Sockets[i]
			hs := byKey[c.Key()]
			for n, h := range hs {
				if !used[h] {
					used[h], paired[int32(i)] = true, h
					ch.Marks[i] = markOf(&held[h], c)
					byKey[c.Key()] = hs[n+1:]
					break
				}
			}
		}
	}

	// Filtering in place is safe: an entry is only ever written at or
	// before the one being read.
	kept := ch.Transitions[:0]
	for _, tr := range ch.Transitions {
		if tr.Index >= 0 {
			if h, ok := paired[tr.Index]; ok {
				if from := held[h].State.Canonical(); from != tr.To {
					tr.From = from
				} else {
					continue
				}
			}
		} else if cur.Partial {
			continue // held below, not gone
		}
		kept = append(kept, tr)
	}
	ch.Transitions = kept

	var next []Socket
	if cur.Partial {
		for h := range held {
			if !used[h] {
				next = append(next, held[h])
			}
		}
		for i := range ch.Gone {
			next = append(next, holdCopy(&ch.Gone[i]))
		}
		ch.Gone = nil
	} else {
		for h := range held {
			if used[h] {
				continue
			}
			p := &held[h]
			ch.Transitions = append(ch.Transitions, Transition{At: cur.Taken, Key: p.Key(), From: p.State.Canonical(),
				Source: Sampled, Index: -1, Gone: int32(len(ch.Gone))})
			ch.Gone = append(ch.Gone, *p)
		}
	}
	t.held = next
}

// holdCopy returns s with owners of its own and no tcp_info, so a held
// socket keeps nothing of the snapshot it came from.
func holdCopy(s *Socket) Socket {
	c := *s
	c.Owners = slices.Clone(s.Owners)
	c.Info = nil
	return c
}
