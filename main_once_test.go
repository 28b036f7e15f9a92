package main

import (
	"math"
	"net/netip"
	"reflect"
	"runtime/debug"
	"testing"

	"socktop/collect"
	"socktop/filter"
)

// A one-shot command that is the whole process runs without the
// collector and with a memory limit of at least minOneShotHeap, unless
// the environment sets GOGC or GOMEMLIMIT, which then stand.
func TestOneShotGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	// Not in a process that runs many commands.
	oneShotGC()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent %d after oneShotGC in a test process, want it left at 100", p)
	}
	wholeProcess = true
	t.Cleanup(func() { wholeProcess = false })
	oneShotGC()
	if p := debug.SetGCPercent(100); p != -1 {
		t.Errorf("GC percent %d after oneShotGC, want -1 (off)", p)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l < minOneShotHeap || l == math.MaxInt64 {
		t.Errorf("memory limit %d after oneShotGC, want at least %d", l, minOneShotHeap)
	}
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Setenv(env, "200")
		oneShotGC()
		if p := debug.SetGCPercent(100); p != 100 {
			t.Errorf("%s set: GC percent %d after oneShotGC, want it left at 100", env, p)
		}
		if l := debug.SetMemoryLimit(math.MaxInt64); l != math.MaxInt64 {
			t.Errorf("%s set: memory limit %d after oneShotGC, want it left alone", env, l)
		}
		t.Setenv(env, "")
	}
}

// keepMatching keeps the rows the filter and -l keep, in their order, and
// leaves the table alone when neither asks for anything.
func TestKeepMatching(t *testing.T) {
	socks := func() []collect.Socket {
		return []collect.Socket{
			{Proto: collect.TCP, Family: 4, State: collect.StateListen, Local: netip.MustParseAddrPort("127.0.0.1:80")},
			{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:80"),
				Remote: netip.MustParseAddrPort("127.0.0.1:40000")},
			{Proto: collect.TCP, Family: 4, State: collect.StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:40000"),
				Remote: netip.MustParseAddrPort("127.0.0.1:80")},
			{Proto: collect.UDP, Family: 6, State: collect.StateUnconn, Local: netip.MustParseAddrPort("[::]:53")},
			{Proto: collect.TCP, Family: 6, State: collect.StateTimeWait, Local: netip.MustParseAddrPort("[::1]:443"),
				Remote: netip.MustParseAddrPort("[::1]:50000")},
		}
	}
	for _, c := range []struct {
		expr      string
		listening bool
		want      []int
	}{
		{"", false, []int{0, 1, 2, 3, 4}},
		{"", true, []int{0, 3}},
		{"sport = :80", false, []int{0, 1}},
		{"dport = :80 or sport = :443", false, []int{2, 4}},
		{"sport = :80", true, []int{0}},
		{"sport = :9", false, nil},
	} {
		f, err := filter.Parse(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		all := socks()
		snap := collect.Snapshot{Sockets: socks()}
		keepMatching(&snap, f, c.listening)
		var want []collect.Socket
		for _, i := range c.want {
			want = append(want, all[i])
		}
		if !reflect.DeepEqual(snap.Sockets, want) && (len(want) != 0 || len(snap.Sockets) != 0) {
			t.Errorf("%q, -l %v: kept %v, want %v", c.expr, c.listening, snap.Sockets, want)
		}
	}
}
