package demo

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/collect/segments"
)

// checkPaths checks that a finished run checked its path promises exactly
// and kept them, and that each side's Path comes from the kernel. It
// returns why it could not (the run had no kernel events), for the
// caller's skip.
func checkPaths(t *testing.T, r *Run, out, stderr string) string {
	t.Helper()
	if !strings.Contains(out, "checked: "+r.Checked()) {
		t.Errorf("the output does not say how the run was checked (%q):\n%s", r.Checked(), out)
	}
	if !r.checks.Events.Exact() {
		return "paths not checked exactly: events.Open gave mode " + string(r.checks.Events) + ": " + strings.TrimSpace(stderr)
	}
	lostSkip := ""
	for _, st := range r.Status() {
		if len(st.Path) == 0 {
			continue
		}
		if st.Unchecked && r.Lost() > 0 && !st.Seen {
			// The host lost kernel events (a table of hundreds of
			// thousands churning beside the test): the runner says the
			// path is unchecked, and so does the test, rather than pass it.
			lostSkip = fmt.Sprintf("%s: %d kernel events lost host-wide: %s left unchecked", r.sc.Name, r.Lost(), st.Promise)
			continue
		}
		if st.Unchecked || !st.Seen {
			t.Errorf("%s: path promise %s not kept (%s); client path %s, server path %s; %d kernel events lost meanwhile",
				r.sc.Name, st.Promise, st.Note, stepsText(r.Path(Client)), stepsText(r.Path(Server)), r.Lost())
		}
	}
	if lostSkip != "" {
		return lostSkip
	}
	if r.sc.Name == "udp" || r.sc.Name == "udp-refused" { // no TCP connection
		return ""
	}
	for _, role := range []Role{Client, Server} {
		if role == Server && r.sc.Name == "closed" {
			continue // only bound: the kernel reports no change
		}
		steps := r.Path(role)
		if !slices.ContainsFunc(steps, func(s collect.Step) bool { return s.Source == collect.Kernel }) {
			t.Errorf("%s: the %s's path %s has no step from the kernel", r.sc.Name, role, stepsText(steps))
		}
	}
	if r.sc.Name == "abortive-close" {
		for _, role := range []Role{Client, Server} {
			steps := r.Path(role)
			if slices.ContainsFunc(steps, func(s collect.Step) bool { return s.State == collect.StateTimeWait }) ||
				len(steps) == 0 || steps[len(steps)-1].State != collect.StateClosed {
				t.Errorf("abortive-close: the %s's path %s: want it to end in CLOSED, without TIME_WAIT", role, stepsText(steps))
			}
		}
	}
	return ""
}

func stepsText(steps []collect.Step) string {
	return pathString(states(steps))
}

// checkSegments checks, on the captured segments themselves rather than
// through the promises, what polite-close and abortive-close put on the
// wire; and that every segment promise was checked when the capture ran.
func checkSegments(t *testing.T, r *Run) {
	t.Helper()
	if r.CaptureErr() != nil {
		t.Logf("%s: no segment capture: %v", r.sc.Name, r.CaptureErr())
		return
	}
	for _, st := range r.Status() {
		if (len(st.Segments) > 0 || st.NoFlags != 0) && (st.Unchecked || !st.Seen) {
			t.Errorf("%s: segment promise %s not kept (%s)", r.sc.Name, st.Promise, st.Note)
		}
	}
	segs := r.Segments()
	var flags []string
	for i := range segs {
		flags = append(flags, string(r.segRole(&segs[i]))+" "+(segs[i].Flags&controlFlags).String())
	}
	switch r.sc.Name {
	case "polite-close":
		open := []string{"client SYN", "server SYN,ACK", "client ACK"}
		shut := []string{"client FIN,ACK", "server ACK", "server FIN,ACK", "client ACK"}
		if len(flags) < 7 || !slices.Equal(flags[:3], open) || !slices.Equal(flags[len(flags)-4:], shut) {
			t.Errorf("polite-close segments %q: want %q, ..., %q", flags, open, shut)
		}
	case "abortive-close":
		rst, fin := false, false
		for _, s := range segs {
			rst = rst || s.Flags&segments.RST != 0
			fin = fin || s.Flags&segments.FIN != 0
		}
		if !rst || fin {
			t.Errorf("abortive-close segments %q: want a RST and no FIN", flags)
		}
	}
}

// A run forced to sampled checking keeps the state promises as before,
// leaves the path promises unchecked with the reason, and says
// "checked: sampled".
func TestSampledRunKeepsStatePromises(t *testing.T) {
	t.Parallel()
	sc, _ := Find("polite-close")
	src := newCollector()
	t.Cleanup(func() { src.Close() })
	var out, errOut bytes.Buffer
	var run *Run
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code := runHeadless(ctx, runOptions{sc: sc, cfg: Config{Fast: true}, timeout: 45 * time.Second, mode: events.ModeSampled,
		ran: func(r *Run) { run = r }}, src, &out, &errOut)
	if code != 0 || run == nil {
		t.Fatalf("exit %d\n%s\nstderr: %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "checked: sampled") {
		t.Errorf("the output does not say checked: sampled:\n%s", out.String())
	}
	if strings.Contains(errOut.String(), "exact transitions off") {
		t.Errorf("a run asked for sampled checking warns about it: %s", errOut.String())
	}
	states, paths := 0, 0
	for _, st := range run.Status() {
		switch {
		case len(st.Path) > 0:
			paths++
			if !st.Unchecked || st.Seen || !strings.Contains(st.Note, "kernel events are off") {
				t.Errorf("path promise %s in a sampled run: unchecked %v, seen %v, note %q", st.Promise, st.Unchecked, st.Seen, st.Note)
			}
		case st.State != collect.StateUnknown:
			states++
			if !st.Seen {
				t.Errorf("state promise %s missed in a sampled run", st.Promise)
			}
		}
	}
	if states == 0 || paths == 0 {
		t.Errorf("polite-close has %d state and %d path promises, want both", states, paths)
	}
	if s := run.Path(Client); len(s) == 0 || slices.ContainsFunc(s, func(s collect.Step) bool { return s.Source == collect.Kernel }) {
		t.Errorf("a sampled run's client path %v: want sampled steps only", s)
	}
	checkSegments(t, run)
}
