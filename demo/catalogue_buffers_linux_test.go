package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// runLab finds the namespace a buffer-sizes run made, from its
// narration: "ip netns add NAME = veth HOSTLINK ...".
func runLab(r *Run) *netLab {
	for _, ev := range r.Log() {
		name, ok := strings.CutPrefix(ev.Call, "ip netns add ")
		if !ok {
			continue
		}
		f := strings.Fields(ev.Result)
		if len(f) < 2 || f[0] != "veth" {
			return nil
		}
		return &netLab{name: name, hostLink: f[1], path: netnsDir + "/" + name}
	}
	return nil
}

// The lan setting's namespace, veth pair and qdiscs are gone after a run
// stopped in the middle of a lan transfer, and after one that finished.
func TestBufferSizesLANCleanup(t *testing.T) {
	needLab(t)
	t.Parallel()
	sc := mustFind(t, "buffer-sizes")
	for _, mid := range []bool{true, false} {
		r, err := Start(context.Background(), sc, Config{Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Stop)
		var lab *netLab
		inLAN := func() bool {
			lab = runLab(r)
			for _, ev := range r.Log() {
				if strings.HasPrefix(ev.Call, "connect(") && !strings.Contains(ev.Call, "127.0.0.1") {
					return true
				}
			}
			return false
		}
		waitfor.Until(t, time.Minute, "the lan setting's connect", inLAN)
		if lab == nil {
			t.Fatalf("no namespace in the narration:\n%v", r.Log())
		}
		if !mid {
			waitfor.Until(t, time.Minute, "the steps' end", func() bool {
				select {
				case <-r.Done():
					return true
				default:
					return false
				}
			})
			if err := r.Err(); err != nil {
				t.Fatalf("steps failed: %v", err)
			}
			if len(r.Tables()) != 1 {
				t.Errorf("finished run has %d tables, want 1", len(r.Tables()))
			}
		}
		if left := labLeft(t, lab); len(left) == 0 {
			t.Fatalf("mid=%v: namespace %s not there while the run holds it", mid, lab.Name())
		}
		r.Stop()
		if left := labLeft(t, lab); len(left) > 0 {
			t.Errorf("mid=%v: after Stop: %s", mid, strings.Join(left, "; "))
		}
	}
}

// Without root the lan rows are skipped with a note naming what is
// lost, and everything else is measured and kept.
func TestBufferSizesWithoutRoot(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	src := newCollector()
	t.Cleanup(func() { src.Close() })
	var out, errOut bytes.Buffer
	code := runHeadless(context.Background(), runOptions{sc: mustFind(t, "buffer-sizes"), cfg: Config{Fast: true}, timeout: 45 * time.Second}, src, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\nstderr: %s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"lan rows skipped (uid 65534", "needs root", "skipped", "table buffer-sizes", "same computer"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ip netns add") {
		t.Errorf("a namespace was made without root:\n%s", text)
	}
}
