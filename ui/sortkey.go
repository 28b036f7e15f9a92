package ui

import (
	"cmp"
	"net/netip"
	"slices"

	"socktop/collect"
)

// sortKey is a row's sort key: two words that compare, in order, like the
// sort column and then the socket's key (protocol, local, remote). It is
// built once per row per rebuild, so the sort compares memory it already
// holds instead of chasing a pointer per comparison, which is where a
// large table's sort spends its time. Endpoints are packed as the rank of the address
// among the table's distinct addresses (there are few: loopback, the
// machine's own addresses, peers) and the port.
type sortKey [2]uint64

// maxRanks bounds the distinct addresses the packed key can tell apart
// (15 bits); a table with more is sorted with the plain comparison.
const maxRanks = 1 << 15

// sorter holds the scratch space of sortRows between refreshes. Between
// two sorts it references no socket: tmp is cleared after each, and every
// buffer is sized by the table being sorted (see retain.go).
type sorter struct {
	idx        map[netip.Addr]uint32
	idxPeak    int // most entries idx has held
	addrs      []netip.Addr
	lidx, ridx []uint32
	rank       []uint64
	tmp        []row
	count      []int
}

// lastAddr remembers the previous lookup: neighbouring rows often share
// an address, and comparing is cheaper than hashing.
type lastAddr struct {
	a  netip.Addr
	i  uint32
	ok bool
}

// addrIndex returns the index of a in s.addrs, adding it when new.
func (s *sorter) addrIndex(a netip.Addr, last *lastAddr) uint32 {
	if last.ok && a == last.a {
		return last.i
	}
	i, ok := s.idx[a]
	if !ok {
		i = uint32(len(s.addrs))
		s.idx[a] = i
		s.addrs = append(s.addrs, a)
	}
	*last = lastAddr{a: a, i: i, ok: true}
	return i
}

// stateRank orders states by their printed name, as the State column reads.
var stateRank = func() [collect.NumStates]uint64 {
	var states []collect.State
	for s := range collect.State(collect.NumStates) {
		states = append(states, s)
	}
	slices.SortStableFunc(states, func(a, b collect.State) int {
		return cmp.Compare(a.Canonical().String(), b.Canonical().String())
	})
	var r [collect.NumStates]uint64
	for i, s := range states {
		r[s] = uint64(i)
	}
	return r
}()

// protoBit orders TCP before UDP in one bit.
func protoBit(p collect.Proto) uint64 {
	if p == collect.UDP {
		return 1
	}
	return 0
}

// processRanks ranks the process names of the rows, for the Process
// column's keys.
func processRanks(rows []row) map[string]uint64 {
	set := map[string]bool{}
	for _, r := range rows {
		n, _ := ownerName(r.s)
		set[n] = true
	}
	return rankNames(set)
}

// netnsRanks ranks the namespace names of the rows, for the NetNS
// column's keys.
func netnsRanks(rows []row) map[string]uint64 {
	set := map[string]bool{}
	for _, r := range rows {
		set[r.s.NetNS.Name] = true
	}
	return rankNames(set)
}

// rankNames numbers the names of set in order.
func rankNames(set map[string]bool) map[string]uint64 {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	ranks := make(map[string]uint64, len(names))
	for i, n := range names {
		ranks[n] = uint64(i)
	}
	return ranks
}

// primary packs the sort column's value of a socket in 64 bits.
func primary(col column, s *collect.Socket, names map[string]uint64) uint64 {
	switch col {
	case colProto:
		return uint64(s.Proto)<<8 | uint64(s.Family)
	case colState:
		return stateRank[s.State.Canonical()]
	case colRecvQ:
		return uint64(s.RecvQ)
	case colSendQ:
		return uint64(s.SendQ)
	case colProcess:
		name, pid := ownerName(s)
		return names[name]<<32 | uint64(uint32(pid))
	case colTimer:
		return uint64(s.Timer)<<56 | uint64(min(max(s.TimerLeft, 0), 1<<56-1))
	case colNetNS:
		return names[s.NetNS.Name]<<32 | uint64(s.NetNS.Inode)
	case colSendRate, colRecvRate:
		return rateRank(col, s)
	}
	return 0
}

// rateRank orders a socket by its rate in whole bytes per second, below
// every known rate the unknown ones (tcp_info, one snapshot so far), and
// below those the sockets without tcp_info (UDP, TIME_WAIT): a descending
// sort puts the busiest connections first.
func rateRank(col column, s *collect.Socket) uint64 {
	switch {
	case s.Rate == nil && s.Info == nil:
		return 0
	case s.Rate == nil:
		return 1
	}
	v := s.Rate.Send
	if col == colRecvRate {
		v = s.Rate.Recv
	}
	return uint64(min(max(v, 0), 1<<62)) + 2
}

// sortRows sorts rows by a column (then by key) and returns the sorted
// rows, which may live in the sorter's spare buffer: the caller keeps the
// returned slice and the sorter keeps the other one for next time.
func (s *sorter) sortRows(rows []row, col column, desc bool) []row {
	rows = s.sort(rows, col, desc)
	s.release(len(rows))
	return rows
}

// release empties the scratch space after a sort of n rows: the spare row
// buffer holds no pointer until the next sort, and buffers far larger
// than n are given back.
func (s *sorter) release(n int) {
	s.tmp = spareSlice(s.tmp, n)
	s.lidx = spareSlice(s.lidx, n)
	s.ridx = spareSlice(s.ridx, n)
	s.rank = spareSlice(s.rank, len(s.addrs))
	s.idxPeak = max(s.idxPeak, len(s.idx))
	if oversized(s.idxPeak, len(s.idx)) {
		s.idx, s.idxPeak = nil, 0
	}
	s.addrs = spareSlice(s.addrs, len(s.addrs))
}

// shrink gives back the buffers far larger than n rows need, when rows
// were ordered without a sort (rebuildPatched): release left them
// empty, so nothing needs clearing.
func (s *sorter) shrink(n int) {
	if oversized(cap(s.tmp), n) {
		s.tmp = nil
	}
	if oversized(cap(s.lidx), n) {
		s.lidx, s.ridx = nil, nil
	}
}

func (s *sorter) sort(rows []row, col column, desc bool) []row {
	n := len(rows)
	if s.idx == nil {
		s.idx = map[netip.Addr]uint32{}
	}
	clear(s.idx)
	s.addrs = s.addrs[:0]
	s.lidx = slices.Grow(s.lidx[:0], n)[:n]
	s.ridx = slices.Grow(s.ridx[:0], n)[:n]
	var lastL, lastR lastAddr
	for i := range rows {
		s.lidx[i] = s.addrIndex(rows[i].s.Local.Addr(), &lastL)
		s.ridx[i] = s.addrIndex(rows[i].s.Remote.Addr(), &lastR)
	}
	if len(s.addrs) > maxRanks {
		slices.SortFunc(rows, func(a, b row) int {
			if desc {
				return cmpBy(col, b.s, a.s)
			}
			return cmpBy(col, a.s, b.s)
		})
		return rows
	}
	// Rank the distinct addresses in netip.Addr order.
	order := make([]uint32, len(s.addrs))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return s.addrs[a].Compare(s.addrs[b]) })
	s.rank = slices.Grow(s.rank[:0], len(order))[:len(order)]
	for r, i := range order {
		s.rank[i] = uint64(r)
	}
	var names map[string]uint64
	switch col {
	case colProcess:
		names = processRanks(rows)
	case colNetNS:
		names = netnsRanks(rows)
	}
	for i := range rows {
		sk := rows[i].s
		l := s.rank[s.lidx[i]]<<16 | uint64(sk.Local.Port())
		r := s.rank[s.ridx[i]]<<16 | uint64(sk.Remote.Port())
		p := protoBit(sk.Proto)
		switch col {
		case colLocal:
			rows[i].key = sortKey{l<<32 | p<<31 | r, 0}
		case colForeign:
			rows[i].key = sortKey{r<<32 | p<<31 | l, 0}
		default:
			rows[i].key = sortKey{primary(col, sk, names), p<<63 | l<<31 | r}
		}
	}
	rows = s.radix(rows)
	// Equal keys (listeners sharing a port with SO_REUSEPORT) are ordered
	// by the full comparison.
	for i := 0; i < n; {
		j := i + 1
		for j < n && rows[j].key == rows[i].key {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(rows[i:j], func(a, b row) int { return cmpBy(col, a.s, b.s) })
		}
		i = j
	}
	if desc {
		slices.Reverse(rows)
	}
	return rows
}

// radixDigit is the digit width of the radix sort.
const radixDigit = 16

// radix sorts rows by key with a least-significant-digit radix sort (stable,
// linear), skipping the digits every row shares.
func (s *sorter) radix(rows []row) []row {
	n := len(rows)
	if n < 2 {
		return rows
	}
	s.tmp = slices.Grow(s.tmp[:0], n)[:n]
	if s.count == nil {
		s.count = make([]int, 1<<radixDigit)
	}
	tmp := s.tmp
	count := s.count
	for w := len(sortKey{}) - 1; w >= 0; w-- {
		for shift := 0; shift < 64; shift += radixDigit {
			clear(count)
			for i := range rows {
				count[(rows[i].key[w]>>shift)&(1<<radixDigit-1)]++
			}
			if count[(rows[0].key[w]>>shift)&(1<<radixDigit-1)] == n {
				continue
			}
			sum := 0
			for i, c := range count {
				count[i] = sum
				sum += c
			}
			for i := range rows {
				d := (rows[i].key[w] >> shift) & (1<<radixDigit - 1)
				tmp[count[d]] = rows[i]
				count[d]++
			}
			rows, tmp = tmp, rows
		}
	}
	s.tmp = tmp
	return rows
}
