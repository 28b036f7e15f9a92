package demo

import (
	"context"
	"strings"
	"testing"

	"socktop/collect"
)

func TestReadHostFixture(t *testing.T) {
	h := readHost("testdata/proc")
	if v, ok := h.get("tcp_syncookies"); !ok || v != 2 {
		t.Errorf("tcp_syncookies = %d, %v", v, ok)
	}
	if _, ok := h.get("tcp_syn_linear_timeouts"); ok {
		t.Error("a missing sysctl was reported")
	}
	if h.Kernel != [2]int{6, 5} {
		t.Errorf("kernel %v, want 6.5", h.Kernel)
	}
}

func TestNotesSayWhatTheSysctlsPrevent(t *testing.T) {
	h := readHost("testdata/proc")
	cases := map[string]string{
		"half-open":       "tcp_syncookies=2: every SYN is answered with a cookie",
		"closed":          "kernel 6.5: bound-inactive TCP sockets are only dumped from 6.8 on",
		"listen-overflow": "tcp_abort_on_overflow=1",
		"leaky-server":    "tcp_fin_timeout=30",
	}
	for name, want := range cases {
		sc, ok := Find(name)
		if !ok {
			t.Fatalf("no scenario %s", name)
		}
		notes := strings.Join(sc.Notes(h, sc.DefaultConfig()), "\n")
		if !strings.Contains(notes, want) {
			t.Errorf("%s notes %q lack %q", name, notes, want)
		}
	}
	// A host that allows everything gets no blocking note.
	ok := Host{Sysctl: map[string]int{"tcp_syncookies": 1}, Kernel: [2]int{6, 18}}
	for _, sc := range Catalogue() {
		for _, p := range sc.Promises {
			if p.Blocked != nil && p.Blocked(ok) != "" {
				t.Errorf("%s: %s blocked on a permissive host: %s", sc.Name, p, p.Blocked(ok))
			}
		}
	}
}

func TestParseKernel(t *testing.T) {
	for in, want := range map[string][2]int{"6.18.44-fc-v669\n": {6, 18}, "5.4": {5, 4}, "6.8rc1": {6, 8}, "": {0, 0}} {
		if got := parseKernel(in); got != want {
			t.Errorf("parseKernel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCatalogueShape(t *testing.T) {
	names, keys := map[string]bool{}, map[string]bool{}
	for _, sc := range Catalogue() {
		if names[sc.Name] || keys[sc.Key] {
			t.Errorf("duplicate name or key: %s %s", sc.Name, sc.Key)
		}
		names[sc.Name], keys[sc.Key] = true, true
		if sc.Title == "" || len(sc.Lesson) < 100 || len(sc.Promises) == 0 || sc.steps == nil {
			t.Errorf("%s: incomplete scenario", sc.Name)
		}
		if got, ok := Find(sc.Name); !ok || got != sc {
			t.Errorf("Find(%q) failed", sc.Name)
		}
	}
	if len(Catalogue()) < 13 {
		t.Errorf("%d scenarios, want at least 13", len(Catalogue()))
	}
	if _, ok := Find("nope"); ok {
		t.Error("Find found a scenario that does not exist")
	}
	restart, _ := Find("server-restart")
	if !restart.UsesReuseAddr || len(restart.PromisesFor(Config{ReuseAddr: true})) == len(restart.PromisesFor(Config{})) {
		t.Error("server-restart promises do not follow the SO_REUSEADDR knob")
	}
}

// TestBlockedPromiseNote starts the half-open demo as if on a host with
// tcp_syncookies=2 and checks that the SYN_RECV promise carries the note
// from the start, while the other promises have none.
func TestBlockedPromiseNote(t *testing.T) {
	t.Parallel()
	sc, _ := Find("half-open")
	r, err := start(context.Background(), sc, Config{Fast: true}, readHost("testdata/proc"), Checks{})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	for _, st := range r.Status() {
		blocked := st.State == collect.StateSynRecv
		if blocked != strings.Contains(st.Note, "tcp_syncookies=2") {
			t.Errorf("%s: note %q", st.Promise, st.Note)
		}
	}
	if !strings.Contains(strings.Join(r.Notes(), "\n"), "SYN_RECV cannot appear here") {
		t.Errorf("run notes %q", r.Notes())
	}
}
