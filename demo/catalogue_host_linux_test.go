package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// labOf returns the lab a run's steps made, as its narration names it.
func labOf(r *Run) *netLab {
	for _, ev := range r.Log() {
		name, ok := strings.CutPrefix(ev.Call, "ip netns add ")
		if !ok {
			continue
		}
		f := strings.Fields(ev.Result) // "veth HOSTLINK ADDR <-> ADDR (inside)"
		if len(f) < 2 {
			return nil
		}
		return &netLab{name: name, path: netnsDir + "/" + name, hostLink: f[1]}
	}
	return nil
}

// Stopping host-crash while the client retransmits (the server's link
// down, its socket in the namespace) closes every endpoint and leaves no
// namespace and no veth.
func TestHostCrashStopCleansUp(t *testing.T) {
	needLab(t)
	t.Parallel()
	sc, _ := Find("host-crash")
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	waitfor.Until(t, 30*time.Second, "the server's link to go down", func() bool {
		for _, ev := range r.Log() {
			if strings.Contains(ev.Call, "link set dev") {
				return true
			}
		}
		return false
	})
	l := labOf(r)
	if l == nil {
		t.Fatalf("no lab in the narration: %v", r.Log())
	}
	if left := labLeft(t, l); len(left) == 0 {
		t.Fatalf("the lab %s is not there while the run is", l.Name())
	}
	r.Stop()
	for range r.Events() {
	}
	if left := labLeft(t, l); len(left) > 0 {
		t.Errorf("after Stop: %v", left)
	}
	for _, ep := range r.p.Endpoints() {
		if !ep.Closed() {
			t.Errorf("after Stop, endpoint %s is open (fd %d)", ep.Name(), ep.FD())
		}
	}
}

// Steps that panic after making a lab end the run, and the lab goes with
// it.
func TestLabGoneAfterPanic(t *testing.T) {
	needLab(t)
	t.Parallel()
	made := make(chan *netLab, 1)
	sc := &Scenario{Name: "lab-panic", Ports: 1, steps: func(e *env) {
		made <- e.netLab(labConfig{RateBits: 10_000_000})
		panic("boom")
	}}
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	l := <-made
	for range r.Events() { // closed once the failed run has stopped itself
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Err = %v, want the panic", err)
	}
	if left := labLeft(t, l); len(left) > 0 {
		t.Errorf("after the panic: %v", left)
	}
}

// Without root, host-crash does not start: Start returns ErrNeedsRoot
// with the scenario's reason, and a headless run says so in one line and
// exits 1, with nothing on stdout.
func TestHostCrashNeedsRoot(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	sc, _ := Find("host-crash")
	_, err := Start(context.Background(), sc, Config{Fast: true})
	if !errors.Is(err, ErrNeedsRoot) || !strings.Contains(err.Error(), sc.NeedsRoot) {
		t.Fatalf("Start as uid 65534: %v, want ErrNeedsRoot saying %q", err, sc.NeedsRoot)
	}
	var out, errOut bytes.Buffer
	code := runHeadless(context.Background(), runOptions{sc: sc, cfg: Config{Fast: true}, timeout: 10 * time.Second}, newCollector(), &out, &errOut)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "needs root") || !strings.Contains(lines[0], sc.NeedsRoot) {
		t.Errorf("stderr should be one line saying it needs root and why:\n%s", errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q, want nothing", out.String())
	}
}
