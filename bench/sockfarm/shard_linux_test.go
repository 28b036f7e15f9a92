package main

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"socktop/internal/waitfor"
)

// timeWaitOf returns the TIME_WAIT 4-tuples ss shows towards the listeners.
func timeWaitOf(t *testing.T, listen []netip.AddrPort) map[string]bool {
	t.Helper()
	out, err := exec.Command("ss", "-tanH", "state", "time-wait").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	is := map[netip.AddrPort]bool{}
	for _, a := range listen {
		is[a] = true
	}
	got := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		// With a state filter ss leaves the State column out.
		if peer, err := netip.ParseAddrPort(f[3]); err == nil && is[peer] {
			got[f[2]+" "+f[3]] = true
		}
	}
	return got
}

func TestChurnKeepsTimeWaitSteady(t *testing.T) {
	// A 1 s period instead of 60 s: every TIME_WAIT socket is replaced
	// (SOCK_DESTROY, then a new pair closed) within the test.
	s := &shard{plan: shardPlan{TW4: 10, TW6: 10}, twPeriod: time.Second}
	if err := s.build(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	listen := s.listeners()
	before := timeWaitOf(t, listen)
	if len(before) != 20 {
		t.Fatalf("after build ss shows %d TIME_WAIT sockets, want 20: %v", len(before), before)
	}
	s.startChurn(t.Logf)
	// Every first-generation socket is due within the period; on a loaded
	// host the churn may run late, so the test waits until ss shows most
	// of them replaced, the count steady, rather than for a fixed time.
	// Between a SOCK_DESTROY and its replacement ss may show 19, so the
	// count is asked of the same look that shows the replacement.
	var after map[string]bool
	kept := 0
	waitfor.UntilShow(t, 60*time.Second, "the churn to replace half the TIME_WAIT sockets: 20, at most 10 from before", func() bool {
		after = timeWaitOf(t, listen)
		kept = 0
		for k := range after {
			if before[k] {
				kept++
			}
		}
		return len(after) == 20 && kept <= 10
	}, func() string {
		return fmt.Sprintf("ss shows %d TIME_WAIT sockets, %d of them from before", len(after), kept)
	})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if left := timeWaitOf(t, listen); len(left) != 0 {
		t.Errorf("after close ss still shows %d TIME_WAIT sockets", len(left))
	}
}
