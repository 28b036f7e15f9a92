package group

import (
	"net/netip"
	"testing"

	"socktop/collect"
	"socktop/filter"
	"socktop/internal/synth"
)

var (
	lo4   = netip.MustParseAddr("127.0.0.1")
	peer4 = netip.MustParseAddr("10.0.0.5")
	peer6 = netip.MustParseAddr("2001:db8::7")
	any4  = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	nginx = collect.Owner{PID: 812, Name: "nginx"}
	work  = collect.Owner{PID: 813, Name: "nginx"}
	curl  = collect.Owner{PID: 900, Name: "curl"}
)

// table is a small host: a listener on :80 with two accepted
// connections (one shared by two workers after fork, one held twice by
// the same process), a TIME_WAIT on :80, an outgoing connection from
// port 80 to elsewhere, a UDP socket whose owners are unknown, and a Unix
// socket in a container's namespace.
func table() []collect.Socket {
	ap := netip.AddrPortFrom
	cont := collect.NetNS{Inode: 4026532999, Name: "docker:3f4e5d6c7b8a"}
	return []collect.Socket{
		{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: ap(lo4, 80), Remote: any4, Owners: []collect.Owner{nginx, work}},
		{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: ap(lo4, 80), Remote: ap(peer4, 40000),
			Owners: []collect.Owner{nginx, work}, Rate: &collect.Rate{Send: 100, Recv: 10}},
		{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: ap(lo4, 80), Remote: ap(peer4, 40001),
			Owners: []collect.Owner{work, work}, Rate: &collect.Rate{Send: 1, Recv: 2}},
		{Proto: collect.TCP, Family: 4, State: collect.StateTimeWait, Local: ap(lo4, 80), Remote: ap(peer4, 40002)},
		{Proto: collect.TCP, Family: 6, State: collect.StateNewSynRecv, Local: ap(netip.IPv6Loopback(), 443), Remote: ap(peer6, 5000)},
		{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: ap(lo4, 33000), Remote: ap(peer4, 80), Owners: []collect.Owner{curl}},
		{Proto: collect.UDP, Family: 4, State: collect.StateUnconn, Local: ap(lo4, 53), Remote: any4, Unknown: collect.FieldOwners},
		{Proto: collect.Unix, State: collect.StateEstablished, Path: "/run/x.sock", NetNS: cont, Owners: []collect.Owner{curl}},
	}
}

// byKey indexes groups by their shown key, for the tests to look up.
func byKey(t *testing.T, gs []Group) map[string]Group {
	t.Helper()
	m := map[string]Group{}
	for _, g := range gs {
		k := g.Key.String()
		if _, dup := m[k]; dup {
			t.Fatalf("two groups shown as %q", k)
		}
		m[k] = g
	}
	return m
}

func TestGroupCounts(t *testing.T) {
	type want struct {
		count, owners int
		states        map[collect.State]int
	}
	cases := []struct {
		by   By
		want map[string]want
	}{
		{ByPort, map[string]want{
			":80":    {4, 2, map[collect.State]int{collect.StateListen: 1, collect.StateEstablished: 2, collect.StateTimeWait: 1}},
			":443":   {1, 0, map[collect.State]int{collect.StateSynRecv: 1}},
			":33000": {1, 1, nil},
			":53":    {1, 0, map[collect.State]int{collect.StateUnconn: 1}},
			"-":      {1, 1, nil},
		}},
		{ByRemote, map[string]want{
			"10.0.0.5":    {4, 3, nil},
			"2001:db8::7": {1, 0, nil},
			"*":           {3, 3, nil},
		}},
		{ByProcess, map[string]want{
			"nginx/812": {2, 1, nil},
			"nginx/813": {3, 1, nil},
			"curl/900":  {2, 1, nil},
			"-":         {2, 0, map[collect.State]int{collect.StateTimeWait: 1, collect.StateSynRecv: 1}},
			"?":         {1, 0, nil},
		}},
		{ByState, map[string]want{
			"LISTEN":      {1, 2, nil},
			"ESTABLISHED": {4, 3, nil},
			"TIME_WAIT":   {1, 0, nil},
			"SYN_RECV":    {1, 0, nil},
			"UNCONN":      {1, 0, nil},
		}},
		{ByContainer, map[string]want{
			"netns:0":             {7, 3, nil},
			"docker:3f4e5d6c7b8a": {1, 1, nil},
		}},
	}
	var gr Grouper
	for _, c := range cases {
		t.Run(c.by.String(), func(t *testing.T) {
			got := byKey(t, gr.Group(table(), c.by))
			if len(got) != len(c.want) {
				t.Errorf("groups %v, want %d of them", keys(got), len(c.want))
			}
			for k, w := range c.want {
				g, ok := got[k]
				if !ok {
					t.Errorf("no group %q among %v", k, keys(got))
					continue
				}
				if g.Count != w.count || g.OwnerCount != w.owners || len(g.Owners) != w.owners {
					t.Errorf("%s: count %d owners %d %v, want %d and %d", k, g.Count, g.OwnerCount, g.Owners, w.count, w.owners)
				}
				sum := 0
				for st, n := range g.States {
					sum += n
					if w.states != nil && n != w.states[collect.State(st)] {
						t.Errorf("%s: %d in %v, want %d", k, n, collect.State(st), w.states[collect.State(st)])
					}
				}
				if sum != g.Count {
					t.Errorf("%s: states add up to %d, count %d", k, sum, g.Count)
				}
			}
		})
	}
}

func keys(m map[string]Group) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A group's throughput is the sum of the rates its members have, and
// unknown (not 0) when none has one.
func TestGroupRates(t *testing.T) {
	got := byKey(t, Count(table(), ByPort))
	g := got[":80"]
	if !g.RateKnown() || g.Rated != 2 || g.Send != 101 || g.Recv != 12 {
		t.Errorf(":80 rates: rated %d send %v recv %v, want 2, 101, 12", g.Rated, g.Send, g.Recv)
	}
	if g := got[":443"]; g.RateKnown() {
		t.Errorf(":443 has no rated member but RateKnown (send %v)", g.Send)
	}
}

func TestSort(t *testing.T) {
	var gr Grouper
	gs := gr.Group(table(), ByPort)
	order := func() []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.Key.String())
		}
		return out
	}
	for _, c := range []struct {
		o       Order
		reverse bool
		want    []string
	}{
		{ByCount, false, []string{":80", ":53", ":443", ":33000", "-"}},
		{ByKey, false, []string{":53", ":80", ":443", ":33000", "-"}},
		{ByKey, true, []string{"-", ":33000", ":443", ":80", ":53"}},
		// Unknown rates go last both ways round.
		{ByRate, false, []string{":80", ":53", ":443", ":33000", "-"}},
		{ByRate, true, []string{":80", "-", ":33000", ":443", ":53"}},
	} {
		Sort(gs, c.o, c.reverse)
		if got := order(); !equal(got, c.want) {
			t.Errorf("sort by %v reverse %v: %v, want %v", c.o, c.reverse, got, c.want)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Drilling down from a group selects exactly its sockets: every group's
// filter, parsed as the prompt parses it, matches as many sockets as the
// group counts, and the groups without one are the ones no expression
// can pick out.
func TestDrillDownFilter(t *testing.T) {
	socks := append(table(), synth.Table(3000, 7).Sockets...)
	for _, by := range Bys {
		for _, g := range Count(socks, by) {
			text, ok := g.Key.Filter()
			if !ok {
				if g.Key.Special == Keyed && by != ByContainer {
					t.Errorf("%v group %s has no filter", by, g.Key)
				}
				continue
			}
			f, err := filter.Parse(text)
			if err != nil {
				t.Errorf("%v group %s: filter %q: %v", by, g.Key, text, err)
				continue
			}
			n := 0
			for i := range socks {
				if f.Match(&socks[i]) {
					n++
				}
			}
			if n != g.Count {
				t.Errorf("%v group %s: %q selects %d sockets, the group has %d", by, g.Key, text, n, g.Count)
			}
		}
	}
}

// Grouping every refresh allocates nothing once the Grouper has seen a
// table of the size.
func TestGrouperSteadyStateAllocs(t *testing.T) {
	socks := synth.Table(5000, 1).Sockets
	var gr Grouper
	for _, by := range Bys {
		gr.Group(socks, by)
		if n := testing.AllocsPerRun(5, func() { gr.Group(socks, by) }); n != 0 {
			t.Errorf("by %v: %v allocations per call in the steady state", by, n)
		}
	}
}

func TestParseBy(t *testing.T) {
	for _, b := range Bys {
		if got, err := ParseBy(b.String()); err != nil || got != b {
			t.Errorf("ParseBy(%q) = %v, %v", b.String(), got, err)
		}
	}
	if _, err := ParseBy("host"); err == nil {
		t.Error("ParseBy(host) is not an error")
	}
}

// Owners are counted once each however many sockets they hold, past
// the few a group lists.
func TestGroupManyOwners(t *testing.T) {
	var socks []collect.Socket
	for round := 0; round < 3; round++ {
		for pid := 1; pid <= 3*MaxOwners; pid++ {
			socks = append(socks, collect.Socket{Proto: collect.TCP, Family: 4, State: collect.StateEstablished,
				Local: netip.AddrPortFrom(lo4, 80), Remote: netip.AddrPortFrom(peer4, uint16(1000*round+pid)),
				Owners: []collect.Owner{{PID: pid, Name: "worker"}}})
		}
	}
	g := Count(socks, ByPort)
	if len(g) != 1 || g[0].Count != 9*MaxOwners || g[0].OwnerCount != 3*MaxOwners || len(g[0].Owners) != MaxOwners {
		t.Fatalf("groups %+v, want one of %d sockets, %d owners, %d listed", g, 9*MaxOwners, 3*MaxOwners, MaxOwners)
	}
}
