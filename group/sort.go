package group

import (
	"cmp"
	"slices"
	"sort"

	"socktop/collect"
)

// Order is how groups are sorted.
type Order uint8

// The orders of the group table.
const (
	// ByCount puts the biggest groups first.
	ByCount Order = iota
	// ByKey sorts by the key: ports and states by number, addresses in
	// address order, processes by name then pid, namespaces by name.
	ByKey
	// ByRate puts the groups with the most throughput (send plus
	// receive) first, and those whose throughput is unknown last.
	ByRate
)

// Orders lists the orders in the order the sort key cycles through them.
var Orders = []Order{ByCount, ByKey, ByRate}

// String returns "count", "key" or "rate".
func (o Order) String() string {
	switch o {
	case ByCount:
		return "count"
	case ByKey:
		return "key"
	case ByRate:
		return "rate"
	}
	return "?"
}

// Sort sorts gs by o; reverse turns the order round. Ties go by key, so
// the order is the same on every refresh of the same table.
func Sort(gs []Group, o Order, reverse bool) {
	sort.Sort(&sorter{gs: gs, o: o, reverse: reverse})
}

// sorter compares groups in place: a Group is too big to copy into a
// comparison function on every call, which is what slices.SortFunc does.
type sorter struct {
	gs      []Group
	o       Order
	reverse bool
}

func (s *sorter) Len() int      { return len(s.gs) }
func (s *sorter) Swap(i, j int) { s.gs[i], s.gs[j] = s.gs[j], s.gs[i] }
func (s *sorter) Less(i, j int) bool {
	return compareGroups(&s.gs[i], &s.gs[j], s.o, s.reverse) < 0
}

func compareGroups(a, b *Group, o Order, reverse bool) int {
	c := 0
	switch o {
	case ByCount:
		c = cmp.Compare(b.Count, a.Count)
	case ByRate:
		switch ak, bk := a.RateKnown(), b.RateKnown(); {
		case ak && bk:
			c = cmp.Compare(b.Rate(), a.Rate())
		case ak != bk:
			// Unknown sorts after every known rate, however the
			// order is turned.
			if ak {
				return -1
			}
			return 1
		}
	}
	if c == 0 {
		c = compareKeys(&a.Key, &b.Key)
	}
	if reverse {
		c = -c
	}
	return c
}

// compareKeys orders keys of one By: the keyed groups first, then the
// one without a key, then the unknown one.
func compareKeys(a, b *Key) int {
	if c := cmp.Compare(a.Special, b.Special); c != 0 {
		return c
	}
	switch a.By {
	case ByPort:
		return cmp.Compare(a.Port, b.Port)
	case ByRemote:
		return a.Addr.Compare(b.Addr)
	case ByProcess:
		if c := cmp.Compare(a.Owner.Name, b.Owner.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.Owner.PID, b.Owner.PID)
	case ByState:
		return cmp.Compare(stateRank(a.State), stateRank(b.State))
	case ByContainer:
		if c := cmp.Compare(a.NetNS.Name, b.NetNS.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.NetNS.Inode, b.NetNS.Inode)
	}
	return 0
}

// stateOrder is the course notes' walk through the state diagram.
var stateOrder = []collect.State{
	collect.StateListen, collect.StateSynSent, collect.StateSynRecv, collect.StateEstablished,
	collect.StateFinWait1, collect.StateFinWait2, collect.StateCloseWait, collect.StateClosing,
	collect.StateLastAck, collect.StateTimeWait, collect.StateClosed, collect.StateUnconn,
}

func stateRank(s collect.State) int {
	if i := slices.Index(stateOrder, s); i >= 0 {
		return i
	}
	return len(stateOrder) + int(s)
}

// StateOrder returns the states in the course notes' order, for tables
// that show a column per state.
func StateOrder() []collect.State { return slices.Clone(stateOrder) }
