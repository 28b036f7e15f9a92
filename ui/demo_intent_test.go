package ui

import (
	"context"
	"testing"

	"socktop/collect"
	"socktop/filter"
)

// onPort is a loopback connection from an ephemeral port to port p.
func onPort(p uint16) *collect.Socket {
	s := tcpSock(collect.StateEstablished, 40000, p)
	return &s
}

// The demos' filter is built from their ports, and once no demo is left
// the user's own filter comes back as it was, not parsed again.
func TestDemoIntentFilter(t *testing.T) {
	st := DefaultStyles(true)
	d := newDemoState(context.Background(), &demoRegistry{}, &st)
	user, err := filter.Parse("tcp")
	if err != nil {
		t.Fatal(err)
	}
	cur := filterChange{f: user, text: "tcp"}
	sc := scenario(t, "polite-close")

	d.runs = []*demoRun{{sc: sc, ports: []uint16{8001}}}
	in := d.refilter(cur, demoIntent{})
	if in.filter == nil || in.filter.text != "sport = :8001 or dport = :8001" || !in.relayout {
		t.Fatalf("one run: intent %+v, want its port as the filter", in)
	}
	if !in.filter.f.Match(onPort(8001)) || in.filter.f.Match(onPort(8002)) {
		t.Fatalf("filter %q does not select port 8001 alone", in.filter.text)
	}
	cur = *in.filter

	d.runs = append(d.runs, &demoRun{sc: sc, ports: []uint16{8005}})
	in = d.refilter(cur, demoIntent{})
	if in.filter == nil || !in.filter.f.Match(onPort(8001)) || !in.filter.f.Match(onPort(8005)) {
		t.Fatalf("two runs: intent %+v, want both ports", in)
	}
	cur = *in.filter
	if in = d.refilter(cur, demoIntent{}); in.filter != nil {
		t.Errorf("the same ports again changed the filter to %q", in.filter.text)
	}

	d.runs = nil
	in = d.refilter(cur, demoIntent{})
	if in.filter == nil || in.filter.f != user || in.filter.text != "tcp" {
		t.Fatalf("no run left: intent %+v, want the user's tcp filter itself back", in)
	}
}

// A filter the user typed while a demo ran stays when the demo ends.
func TestDemoIntentKeepsUsersNewFilter(t *testing.T) {
	st := DefaultStyles(true)
	d := newDemoState(context.Background(), &demoRegistry{}, &st)
	d.runs = []*demoRun{{sc: scenario(t, "polite-close"), ports: []uint16{8001}}}
	d.refilter(filterChange{}, demoIntent{})
	udp, err := filter.Parse("udp")
	if err != nil {
		t.Fatal(err)
	}
	d.runs = nil
	if in := d.refilter(filterChange{f: udp, text: "udp"}, demoIntent{}); in.filter != nil {
		t.Errorf("the end of the demo replaced the user's udp with %q", in.filter.text)
	}
}

// The scenario list answers through the KeyMap: a scenario's key starts
// it and leaves the list, esc leaves it, an unbound key does nothing.
func TestDemoListKeys(t *testing.T) {
	h := newHarness(t, Config{NoColor: true})
	h.feed(fixture())
	sc := scenario(t, "polite-close")
	h.key("d")
	if h.key("z") != nil || h.m.mode != modeDemos {
		t.Fatalf("z in the list: mode %v, want the list still", h.m.mode)
	}
	if cmd := h.key(sc.Key); cmd == nil || h.m.mode != modeTable || h.m.demos.starting != 1 {
		t.Fatalf("%s in the list: cmd %v, mode %v, %d starting; want %s starting and the table",
			sc.Key, cmd != nil, h.m.mode, h.m.demos.starting, sc.Name)
	}
	h.key("d")
	h.key("esc")
	if h.m.mode != modeTable {
		t.Fatalf("esc in the list: mode %v", h.m.mode)
	}
	// Its footer names the start key, from the KeyMap.
	h.key("d")
	if !containsAll(h.screen(), "key start", "esc back") {
		t.Errorf("the list's footer:\n%s", h.screen())
	}
}
