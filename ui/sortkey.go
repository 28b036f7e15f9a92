package ui

import (
	"cmp"
	"net/netip"
	"slices"

	"socktop/collect"
)

// sortKeyWords is the size of a row's sort key: the sort column, then the
// protocol, the local and the remote endpoint, bit-packed big-endian so
// comparing words in order compares the fields in order. It is computed
// once per row per rebuild, so the sort compares memory it already has
// instead of chasing a pointer per comparison (the cost that dominated at
// 100k rows).
const sortKeyWords = 6

type sortKey [sortKeyWords]uint64

// packer appends bit fields to a sortKey, most significant first.
type packer struct {
	k    *sortKey
	word int
	free int // free bits in k[word]
}

func (p *packer) put(v uint64, n int) {
	for n > 0 && p.word < sortKeyWords {
		take := min(n, p.free)
		bits := (v >> (n - take)) & (1<<take - 1)
		p.k[p.word] |= bits << (p.free - take)
		p.free -= take
		n -= take
		if p.free == 0 {
			p.word++
			p.free = 64
		}
	}
}

// cmpKeys compares the keys' words; most comparisons end at the first.
func cmpKeys(a, b *sortKey) int {
	for i := range sortKeyWords {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// putAddrPort packs an endpoint in netip.AddrPort.Compare's order: no
// address, then IPv4, then IPv6, then the address, then the port. The two
// class bits make the code prefix-free, so an IPv4 endpoint takes 50 bits
// and an IPv6 one 146. Zones are left to the full comparison.
func (p *packer) putAddrPort(ap netip.AddrPort) {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		p.put(0, 2)
		return
	case a.Is4():
		b := a.As4()
		p.put(1, 2)
		p.put(uint64(b[0])<<24|uint64(b[1])<<16|uint64(b[2])<<8|uint64(b[3]), 32)
	default:
		b := a.As16()
		var hi, lo uint64
		for i := range 8 {
			hi = hi<<8 | uint64(b[i])
			lo = lo<<8 | uint64(b[8+i])
		}
		p.put(2, 2)
		p.put(hi, 64)
		p.put(lo, 64)
	}
	p.put(uint64(ap.Port()), 16)
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

// sortKeyOf builds the sort key of a socket for a column. names ranks
// process names when the column is Process.
func sortKeyOf(col column, s *collect.Socket, names map[string]uint64) sortKey {
	var k sortKey
	p := packer{k: &k, free: 64}
	switch col {
	case colProto:
		p.put(uint64(s.Proto), 8)
		p.put(uint64(s.Family), 8)
	case colState:
		p.put(stateRank[s.State.Canonical()], 8)
	case colRecvQ:
		p.put(uint64(s.RecvQ), 32)
	case colSendQ:
		p.put(uint64(s.SendQ), 32)
	case colLocal:
		p.putAddrPort(s.Local)
	case colForeign:
		p.putAddrPort(s.Remote)
	case colProcess:
		name, pid := ownerName(s)
		p.put(names[name], 32)
		p.put(uint64(uint32(pid)), 32)
	case colTimer:
		p.put(uint64(s.Timer), 8)
		p.put(uint64(max(s.TimerLeft, 0)), 63)
	}
	p.put(uint64(s.Proto), 2)
	if col != colLocal {
		p.putAddrPort(s.Local)
	}
	if col != colForeign {
		p.putAddrPort(s.Remote)
	}
	return k
}

// processRanks ranks the process names of the rows, for the Process
// column's keys.
func processRanks(rows []row) map[string]uint64 {
	set := map[string]bool{}
	for _, r := range rows {
		n, _ := ownerName(r.s)
		set[n] = true
	}
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

// sortRows sorts rows by a column (then by key): the packed keys decide
// almost every comparison; equal keys fall back to the full comparison.
func sortRows(rows []row, col column, desc bool) {
	var names map[string]uint64
	if col == colProcess {
		names = processRanks(rows)
	}
	for i := range rows {
		rows[i].key = sortKeyOf(col, rows[i].s, names)
	}
	slices.SortFunc(rows, func(a, b row) int {
		c := cmpKeys(&a.key, &b.key)
		if c == 0 {
			c = cmpBy(col, a.s, b.s)
		}
		if desc {
			return -c
		}
		return c
	})
}
