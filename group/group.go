package group

import (
	"socktop/collect"
)

// Group is the sockets that share one Key.
type Group struct {
	Key Key
	// Count is how many sockets the group has.
	Count int
	// States counts the group's sockets per canonical state.
	States [collect.NumStates]int
	// Owners are the distinct processes holding the group's sockets, in
	// the order first met, at most MaxOwners of them; OwnerCount is how
	// many there are in all.
	Owners     []collect.Owner
	OwnerCount int
	// Rated is how many of the group's sockets have a Rate; Send and
	// Recv are the sums of their rates, in bytes per second. With Rated
	// 0 the group's throughput is unknown, not 0.
	Rated      int
	Send, Recv float64
}

// MaxOwners bounds a group's Owners list: a port shared by a thousand
// workers names the first few and counts the rest.
const MaxOwners = 8

// RateKnown reports whether any of the group's sockets has a rate, so
// that Send and Recv mean something.
func (g *Group) RateKnown() bool { return g.Rated > 0 }

// Rate is the group's total throughput, send plus receive; meaningful
// only when RateKnown.
func (g *Group) Rate() float64 { return g.Send + g.Recv }

// ownerSlot is one owner within one group, for counting distinct owners.
type ownerSlot struct {
	group int32
	owner collect.Owner
}

// Grouper counts sockets into groups. It keeps its maps and group slice
// from one call to the next, so that grouping every refresh allocates
// nothing once it has seen a table of the size. The zero value is ready
// to use; a Grouper is not safe for concurrent use.
type Grouper struct {
	index map[Key]int32
	// byPort and byState index the groups of those keys directly (the
	// index plus one, 0 for none), which is several times faster than the
	// map on a table of many ports; byPort's last entry is the Unix
	// sockets' group.
	byPort  []int32
	byState [collect.NumStates]int32
	seen    map[ownerSlot]struct{}
	groups  []Group
	by      By
}

// Group counts socks by by, in one pass. The groups come in the order
// first met (see Sort); they and their Owners are the Grouper's and are
// valid until its next Group or Reset.
func (gr *Grouper) Group(socks []collect.Socket, by By) []Group {
	gr.Reset(by)
	for i := range socks {
		gr.Add(&socks[i])
	}
	return gr.groups
}

// Reset starts a new count by by, forgetting the previous one's groups;
// Add then counts sockets one at a time, for a caller whose sockets are
// not in one slice (the live view's filtered rows).
func (gr *Grouper) Reset(by By) {
	if gr.index == nil {
		gr.index = map[Key]int32{}
		gr.seen = map[ownerSlot]struct{}{}
	}
	gr.reset()
	gr.by = by
	if by == ByPort && gr.byPort == nil {
		gr.byPort = make([]int32, 1<<16+1)
	}
}

// Groups returns the groups counted since Reset, in the order first met.
func (gr *Grouper) Groups() []Group { return gr.groups }

// Add counts s into its group, or by process into each of its owners'.
func (gr *Grouper) Add(s *collect.Socket) {
	switch gr.by {
	case ByPort:
		gr.add(gr.portSlot(s), s, true)
	case ByState:
		gr.add(gr.stateSlot(s), s, true)
	case ByProcess:
		switch {
		case len(s.Owners) > 0:
			for j, o := range s.Owners {
				if ownedEarlier(s.Owners[:j], o) {
					continue // one process holding two descriptors counts once
				}
				gr.add(gr.slot(Key{By: ByProcess, Owner: o}), s, false)
			}
		case !s.Known(collect.FieldOwners):
			gr.add(gr.slot(Key{By: ByProcess, Special: UnknownKey}), s, false)
		default:
			gr.add(gr.slot(Key{By: ByProcess, Special: NoKey}), s, false)
		}
	case ByRemote, ByContainer:
		gr.add(gr.slot(keyOf(s, gr.by)), s, true)
	}
}

func ownedEarlier(earlier []collect.Owner, o collect.Owner) bool {
	for _, e := range earlier {
		if e == o {
			return true
		}
	}
	return false
}

// reset forgets the previous call's groups; the direct indexes are
// cleared by the groups they name, not by their whole length.
func (gr *Grouper) reset() {
	for i := range gr.groups {
		k := &gr.groups[i].Key
		switch k.By {
		case ByPort:
			gr.byPort[portIndex(k)] = 0
		case ByState:
			gr.byState[k.State] = 0
		}
	}
	clear(gr.index)
	clear(gr.seen)
	gr.groups = gr.groups[:0]
}

func portIndex(k *Key) int {
	if k.Special == NoKey {
		return 1 << 16
	}
	return int(k.Port)
}

func (gr *Grouper) portSlot(s *collect.Socket) int32 {
	k := keyOf(s, ByPort)
	pi := portIndex(&k)
	if i := gr.byPort[pi]; i > 0 {
		return i - 1
	}
	i := gr.newGroup(k)
	gr.byPort[pi] = i + 1
	return i
}

func (gr *Grouper) stateSlot(s *collect.Socket) int32 {
	st := s.State.Canonical()
	if int(st) >= len(gr.byState) {
		st = collect.StateUnknown
	}
	if i := gr.byState[st]; i > 0 {
		return i - 1
	}
	i := gr.newGroup(Key{By: ByState, State: st})
	gr.byState[st] = i + 1
	return i
}

// slot is the index of k's group, made on first sight. A reused Group
// keeps its Owners' backing array.
func (gr *Grouper) slot(k Key) int32 {
	if i, ok := gr.index[k]; ok {
		return i
	}
	i := gr.newGroup(k)
	gr.index[k] = i
	return i
}

// newGroup appends an empty group of key k, reusing the Owners array a
// group of an earlier call left in the slot.
func (gr *Grouper) newGroup(k Key) int32 {
	i := int32(len(gr.groups))
	if len(gr.groups) < cap(gr.groups) {
		gr.groups = gr.groups[:i+1]
		owners := gr.groups[i].Owners[:0]
		gr.groups[i] = Group{Key: k, Owners: owners}
	} else {
		gr.groups = append(gr.groups, Group{Key: k})
	}
	return i
}

// add counts s into group i; owners says whether s's owners are the
// group's (by process, the group is one owner's and names only it).
func (gr *Grouper) add(i int32, s *collect.Socket, owners bool) {
	g := &gr.groups[i]
	g.Count++
	if st := s.State.Canonical(); int(st) < len(g.States) {
		g.States[st]++
	}
	if s.Rate != nil {
		g.Rated++
		g.Send += s.Rate.Send
		g.Recv += s.Rate.Recv
	}
	if !owners {
		if g.OwnerCount == 0 && g.Key.Special == Keyed {
			g.Owners = append(g.Owners, g.Key.Owner)
			g.OwnerCount = 1
		}
		return
	}
	for _, o := range s.Owners {
		// A group with few owners has them all in its list, which is
		// faster to look through than the map; the map takes over, with
		// the list's owners, once there are more.
		if g.OwnerCount < MaxOwners {
			if !ownedEarlier(g.Owners, o) {
				g.Owners = append(g.Owners, o)
				g.OwnerCount++
			}
			continue
		}
		if g.OwnerCount == MaxOwners && ownedEarlier(g.Owners, o) {
			continue
		}
		if g.OwnerCount == MaxOwners {
			for _, e := range g.Owners {
				gr.seen[ownerSlot{group: i, owner: e}] = struct{}{}
			}
		}
		slot := ownerSlot{group: i, owner: o}
		if _, ok := gr.seen[slot]; ok {
			continue
		}
		gr.seen[slot] = struct{}{}
		g.OwnerCount++
	}
}

// Count groups socks by by with a Grouper of its own, for one-off use
// (the headless forms); the groups are sorted by count.
func Count(socks []collect.Socket, by By) []Group {
	var gr Grouper
	gs := gr.Group(socks, by)
	Sort(gs, ByCount, false)
	return gs
}
