package collect_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/internal/synth"
)

var diffSeed = flag.Uint64("diffseed", 0, "seed of TestDiffAgreesWithReference's random tables (0: a new one each run)")

// referenceDiff is Diff's contract written the plain way, with a map: pair
// each socket of cur with the first unpaired socket of prev with its Key
// and canonical state, then the rest with the first unpaired one with its
// Key; mark, and list what is gone and what moved. It is slow and obvious,
// which is its use.
func referenceDiff(prev, cur *collect.Snapshot) collect.Changes {
	var curS []collect.Socket
	var at time.Time
	if cur != nil {
		curS, at = cur.Sockets, cur.Taken
	}
	ch := collect.Changes{Marks: make([]collect.Mark, len(curS))}
	if prev == nil {
		for i := range ch.Marks {
			ch.Marks[i] = collect.MarkNew
		}
		return ch
	}
	byKey := make(map[collect.Key][]int, len(prev.Sockets))
	for j := range prev.Sockets {
		k := prev.Sockets[j].Key()
		byKey[k] = append(byKey[k], j)
	}
	used := make([]bool, len(prev.Sockets))
	pair := make([]int, len(curS))
	for i := range pair {
		pair[i] = -1
	}
	for _, sameState := range []bool{true, false} {
		for i := range curS {
			if pair[i] >= 0 {
				continue
			}
			for _, j := range byKey[curS[i].Key()] {
				if !used[j] && (!sameState || prev.Sockets[j].State.Canonical() == curS[i].State.Canonical()) {
					used[j], pair[i] = true, j
					break
				}
			}
		}
	}
	for i := range curS {
		c := &curS[i]
		if pair[i] < 0 {
			ch.Marks[i] = collect.MarkNew
			ch.Transitions = append(ch.Transitions, collect.Transition{At: at, Key: c.Key(), To: c.State.Canonical()})
			continue
		}
		p := &prev.Sockets[pair[i]]
		if p.State.Canonical() != c.State.Canonical() {
			ch.Transitions = append(ch.Transitions, collect.Transition{At: at, Key: c.Key(), From: p.State.Canonical(), To: c.State.Canonical()})
		}
		if p.State.Canonical() != c.State.Canonical() || p.RecvQ != c.RecvQ || p.SendQ != c.SendQ || p.Timer != c.Timer {
			ch.Marks[i] = collect.MarkChanged
		}
	}
	for j := range prev.Sockets {
		if !used[j] {
			p := &prev.Sockets[j]
			ch.Gone = append(ch.Gone, *p)
			ch.Transitions = append(ch.Transitions, collect.Transition{At: at, Key: p.Key(), From: p.State.Canonical()})
		}
	}
	return ch
}

// TestDiffAgreesWithReference diffs a chain of 20k-socket tables, each a
// random perturbation of the one before, with Diff and with referenceDiff,
// and requires the same marks, the same gone sockets in prev's order and
// the same transitions. The tables hold what the kernel can show: shared
// Keys (SO_REUSEPORT groups, TIME_WAIT beside a connection that reused its
// 4-tuple), IPv4 beside its IPv4-mapped twin, zones, UDP on a TCP tuple,
// NEW_SYN_RECV, dump orders that drift and runs of rows gone together. One seed is fixed; the other
// is new each run and logged (-diffseed replays it).
func TestDiffAgreesWithReference(t *testing.T) {
	t.Parallel()
	seed := *diffSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	for _, s := range []uint64{1, seed} {
		t.Run(fmt.Sprint("seed=", s), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(s, s^0xd1ff))
			g := &tableGen{r: r}
			prev := g.base(20_000)
			checkAgainstReference(t, nil, prev)
			var full *collect.Snapshot
			for round := 1; round <= 6; round++ {
				cur := g.perturb(prev)
				// A table four times smaller, then a large one again, so
				// the pooled scratch both shrinks and grows.
				switch round {
				case 4:
					full = cur
					cur = &collect.Snapshot{Taken: cur.Taken, Sockets: cur.Sockets[:len(cur.Sockets)/4]}
				case 5:
					cur = g.perturb(full)
					cur.Taken = prev.Taken.Add(time.Second)
				}
				if !checkAgainstReference(t, prev, cur) {
					t.Fatalf("round %d disagrees (go test ./collect -run TestDiffAgreesWithReference -diffseed %d)", round, s)
				}
				prev = cur
			}
			checkAgainstReference(t, prev, nil)
		})
	}
}

// checkAgainstReference reports every way Diff(prev, cur) differs from the
// reference, and whether they agreed.
//
// Where sockets share a Key and a canonical state (a SO_REUSEPORT group),
// the contract does not say which pairs with which, and Diff's in-order
// walk may choose another partner than the reference: there only what
// every choice gives is compared, per Key: the count of new rows and of
// gone ones, and the multisets of the transitions' From and of their To
// states. Everywhere else the results must be the same.
//
// DiffFrom is held to the same reference, with the origins a patch would
// give (originsOf): it must agree with it as Diff does.
func checkAgainstReference(t *testing.T, prev, cur *collect.Snapshot) bool {
	t.Helper()
	want := referenceDiff(prev, cur)
	ok := checkChanges(t, "Diff", collect.Diff(prev, cur), want, prev, cur)
	if prev != nil && cur != nil {
		origin, copies := originsOf(prev, cur)
		if copies == 0 {
			t.Errorf("no row of cur is a copy of one of prev: DiffFrom's pairing is not tested")
			return false
		}
		ok = checkChanges(t, "DiffFrom", collect.DiffFrom(prev, cur, origin), want, prev, cur) && ok
	}
	return ok
}

// originsOf is what a patch's PatchCounts.Origin says of cur: for each
// row, the index of the row of prev it is an unchanged copy of (the same
// socket, by cookie, with the same Key, state, queues and timer kind;
// its timer may have counted down), or -1; and how many rows are copies.
func originsOf(prev, cur *collect.Snapshot) ([]int32, int) {
	byCookie := make(map[uint64]int32, len(prev.Sockets))
	for j := range prev.Sockets {
		byCookie[prev.Sockets[j].Cookie] = int32(j)
	}
	origin := make([]int32, len(cur.Sockets))
	copies := 0
	for i := range cur.Sockets {
		c := &cur.Sockets[i]
		origin[i] = -1
		j, ok := byCookie[c.Cookie]
		if !ok {
			continue
		}
		p := &prev.Sockets[j]
		if p.Key() == c.Key() && p.State == c.State && p.RecvQ == c.RecvQ && p.SendQ == c.SendQ && p.Timer == c.Timer {
			origin[i] = j
			copies++
		}
	}
	return origin, copies
}

// checkChanges reports every way got, what computed Changes of prev
// and cur, differs from the reference's want, and whether they agreed.
func checkChanges(t *testing.T, what string, got, want collect.Changes, prev, cur *collect.Snapshot) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(what+": "+format, args...)
		ok = false
	}
	free := freeKeys(prev, cur)
	if len(got.Marks) != len(want.Marks) {
		fail("%d marks, reference %d", len(got.Marks), len(want.Marks))
		return false
	}
	// Counts that must match: per free Key its new rows, its gone rows,
	// its From states and its To states; elsewhere whole transitions.
	tally := make(map[tallyKey]int, len(got.Transitions)+len(want.Transitions))
	for i := range got.Marks {
		s := &cur.Sockets[i]
		if k := s.Key(); free[k] {
			if got.Marks[i] == collect.MarkNew {
				tally[tallyKey{k, tallyNew, 0, 0}]++
			}
			if want.Marks[i] == collect.MarkNew {
				tally[tallyKey{k, tallyNew, 0, 0}]--
			}
		} else if got.Marks[i] != want.Marks[i] {
			fail("mark %d of %d (%s): %v, reference %v", i, len(got.Marks), describe(s), got.Marks[i], want.Marks[i])
			break
		}
	}
	// Gone is in prev's order by contract; every synthetic socket has its
	// own cookie, so this says which socket of a Key went.
	gone := func(ss []collect.Socket, sign int) []uint64 {
		var out []uint64
		for i := range ss {
			if k := ss[i].Key(); free[k] {
				tally[tallyKey{k, tallyGone, 0, 0}] += sign
			} else {
				out = append(out, ss[i].Cookie)
			}
		}
		return out
	}
	if g, w := gone(got.Gone, 1), gone(want.Gone, -1); !slices.Equal(g, w) {
		fail("gone: %d sockets, reference %d; first difference at %d", len(g), len(w), firstDiff(g, w))
	}
	var at time.Time
	if cur != nil {
		at = cur.Taken
	}
	trans := func(ts []collect.Transition, sign int) {
		for _, x := range ts {
			if !x.At.Equal(at) {
				fail("transition at %v, want the time of cur %v", x.At, at)
			}
			if free[x.Key] {
				tally[tallyKey{x.Key, tallyFrom, x.From, 0}] += sign
				tally[tallyKey{x.Key, tallyTo, 0, x.To}] += sign
			} else {
				tally[tallyKey{x.Key, tallyMove, x.From, x.To}] += sign
			}
		}
	}
	trans(got.Transitions, 1)
	trans(want.Transitions, -1)
	var extra []string
	for k, n := range tally {
		if n != 0 {
			extra = append(extra, fmt.Sprintf("%+d %s", n, k))
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		fail("%d counts differ from the reference (+ more in Diff, - more in the reference):\n%s", len(extra), strings.Join(extra[:min(len(extra), 20)], "\n"))
	}
	if len(got.Transitions) == 0 && prev != nil && len(prev.Sockets) > 0 {
		fail("no transitions at all: the perturbation changed nothing")
	}
	if cur != nil {
		t.Logf(what+": %d sockets, %d marked changed, %d gone, %d transitions; %d Keys with a free pairing, where %d marks differ from the reference's choice",
			len(cur.Sockets), count(got.Marks, collect.MarkChanged), len(got.Gone), len(got.Transitions), len(free), differing(got.Marks, want.Marks))
	}
	return ok
}

// tallyKey is one count checkAgainstReference compares.
type tallyKey struct {
	k        collect.Key
	what     tallyWhat
	from, to collect.State
}

type tallyWhat uint8

const (
	tallyNew  tallyWhat = iota // new rows of a free Key
	tallyGone                  // gone rows of a free Key
	tallyFrom                  // transitions of a free Key from a state
	tallyTo                    // transitions of a free Key to a state
	tallyMove                  // one transition of any other Key
)

func (x tallyKey) String() string {
	what := [...]string{"new rows", "gone rows", "transitions from", "transitions to", "transitions"}[x.what]
	return fmt.Sprintf("%s %s>%s: %s %v -> %v", x.k.Proto, x.k.Local, x.k.Remote, what, x.from, x.to)
}

// freeKeys returns the Keys with two sockets in one canonical state, in
// prev or in cur: the Keys whose pairing the contract leaves free.
func freeKeys(prev, cur *collect.Snapshot) map[collect.Key]bool {
	free := map[collect.Key]bool{}
	for _, snap := range []*collect.Snapshot{prev, cur} {
		if snap == nil {
			continue
		}
		type ks struct {
			k  collect.Key
			st collect.State
		}
		seen := make(map[ks]bool, len(snap.Sockets))
		for i := range snap.Sockets {
			s := &snap.Sockets[i]
			x := ks{s.Key(), s.State.Canonical()}
			if seen[x] {
				free[x.k] = true
			}
			seen[x] = true
		}
	}
	return free
}

func count(marks []collect.Mark, m collect.Mark) int {
	n := 0
	for _, x := range marks {
		if x == m {
			n++
		}
	}
	return n
}

func differing(a, b []collect.Mark) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func firstDiff[T comparable](a, b []T) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func describe(s *collect.Socket) string {
	return fmt.Sprintf("%s %s %s>%s cookie %d", s.Proto, s.State, s.Local, s.Remote, s.Cookie)
}

// tableGen makes the tables of the property test; every socket it makes
// gets a cookie of its own.
type tableGen struct {
	r      *rand.Rand
	cookie uint64
	fresh  int // counter for new 4-tuples
}

func (g *tableGen) tag(s collect.Socket) collect.Socket {
	g.cookie++
	s.Cookie = g.cookie
	return s
}

// base is the synthetic proxy table plus the awkward rows: groups of
// SO_REUSEPORT listeners and UDP sockets with their own queues, TIME_WAIT
// sockets beside a connection on the same 4-tuple, an IPv4 listener beside
// its IPv4-mapped twin, link-local peers that differ by zone only, and UDP
// on a TCP 4-tuple.
func (g *tableGen) base(n int) *collect.Snapshot {
	snap := synth.Table(n, g.r.Uint64())
	socks := make([]collect.Socket, 0, n+n/10)
	for _, s := range snap.Sockets {
		socks = append(socks, g.tag(s))
		switch x := g.r.IntN(100); {
		case s.State == collect.StateListen:
			for range g.r.IntN(4) { // a reuseport group
				d := s
				d.RecvQ = uint32(g.r.IntN(3))
				socks = append(socks, g.tag(d))
			}
		case x < 3 && s.State == collect.StateTimeWait:
			d := s // the 4-tuple reused by a new connection
			d.State, d.Timer, d.TimerLeft = collect.StateEstablished, collect.TimerKeepalive, time.Second
			socks = append(socks, g.tag(d))
		case x < 4:
			d := s
			d.Proto = collect.UDP
			d.State = collect.StateEstablished
			socks = append(socks, g.tag(d))
		}
	}
	v4 := netip.MustParseAddr("127.0.0.1")
	mapped := netip.AddrFrom16(v4.As16())
	for p := uint16(0); p < 50; p++ {
		l := collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateListen,
			Local: netip.AddrPortFrom(v4, 7000+p), Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0)}
		m := l
		m.Family, m.Local, m.Remote = 6, netip.AddrPortFrom(mapped, 7000+p), netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		z := collect.Socket{Proto: collect.TCP, Family: 6, State: collect.StateEstablished,
			Local:  netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone("lo"), 7000+p),
			Remote: netip.AddrPortFrom(netip.MustParseAddr("fe80::2").WithZone("lo"), 40000)}
		z2 := z
		z2.Local = netip.AddrPortFrom(z.Local.Addr().WithZone("eth0"), 7000+p)
		u := collect.Socket{Proto: collect.UDP, Family: 4, State: collect.StateUnconn,
			Local: netip.AddrPortFrom(v4, 5353), Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), RecvQ: uint32(p % 3)}
		socks = append(socks, g.tag(l), g.tag(m), g.tag(z), g.tag(z2), g.tag(u))
	}
	snap.Sockets = socks
	return snap
}

// states a perturbed socket may move to; NEW_SYN_RECV and SYN_RECV are one
// state to Diff.
var perturbStates = []collect.State{
	collect.StateEstablished, collect.StateSynSent, collect.StateSynRecv, collect.StateNewSynRecv,
	collect.StateFinWait1, collect.StateFinWait2, collect.StateTimeWait, collect.StateCloseWait,
	collect.StateLastAck, collect.StateClosing, collect.StateClosed, collect.StateListen,
}

// perturb returns prev one refresh later: sockets gone, changed state,
// queues or timer kind, timers counting down (no change), new connections,
// new sockets on a Key already there, and a dump order that drifts: a few
// neighbours swapped and now and then a block moved elsewhere, which the
// in-order walk of Diff must survive.
func (g *tableGen) perturb(prev *collect.Snapshot) *collect.Snapshot {
	r := g.r
	cur := &collect.Snapshot{Taken: prev.Taken.Add(time.Second), Source: prev.Source}
	socks := make([]collect.Socket, 0, len(prev.Sockets)+len(prev.Sockets)/20)
	for _, s := range prev.Sockets {
		switch x := r.IntN(1000); {
		case x < 30: // gone
			continue
		case x < 80:
			if ns := perturbStates[r.IntN(len(perturbStates))]; ns != s.State {
				s = g.tag(s) // a new kernel object, as TIME_WAIT is
				s.State = ns
			}
		case x < 100:
			s.RecvQ += uint32(1 + r.IntN(100))
		case x < 110:
			s.SendQ = 0
		case x < 120:
			s.Timer = collect.Timer(r.IntN(5))
		case x < 135: // another socket with this Key
			d := s
			if r.IntN(2) == 0 {
				d.State = collect.StateTimeWait
			}
			d.RecvQ = uint32(r.IntN(2))
			socks = append(socks, g.tag(d))
		}
		s.TimerLeft = max(s.TimerLeft-time.Second, 0)
		socks = append(socks, s)
	}
	for range len(prev.Sockets) / 50 {
		g.fresh++
		socks = append(socks, g.tag(collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateSynSent,
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(g.fresh >> 8), byte(g.fresh)}), uint16(20000+g.fresh%30000)),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 8000)}))
	}
	// Insert the new ones across the table rather than only at its end.
	for i := len(socks) - len(prev.Sockets)/50; i < len(socks); i++ {
		j := r.IntN(i + 1)
		socks[i], socks[j] = socks[j], socks[i]
	}
	for i := 1; i < len(socks); i++ {
		if r.IntN(50) == 0 {
			socks[i-1], socks[i] = socks[i], socks[i-1]
		}
	}
	for range 3 {
		a := r.IntN(len(socks))
		b := min(a+r.IntN(200), len(socks))
		block := slices.Clone(socks[a:b])
		socks = slices.Delete(socks, a, b)
		at := r.IntN(len(socks) + 1)
		socks = slices.Insert(socks, at, block...)
	}
	// Runs of rows gone together, as TIME_WAIT sockets of one region of
	// the kernel's hash table expire: the in-step walk has to find where
	// the table goes on, past rows that may share a Key with later ones.
	for range 5 {
		a := r.IntN(len(socks))
		socks = slices.Delete(socks, a, min(a+10+r.IntN(300), len(socks)))
	}
	cur.Sockets = socks
	return cur
}
