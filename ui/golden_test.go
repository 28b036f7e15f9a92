package ui

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/demo"
	"socktop/probe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenModel is the view after two refreshes of the fixture, so the
// marks, a gone row and the transition log all show.
func goldenModel(t *testing.T, w, h int, noColor bool) *harness {
	t.Helper()
	hs := newHarness(t, Config{NoColor: noColor})
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	hs.feed(fixture())
	hs.feed(fixtureNext())
	hs.key("j")
	return hs
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run go test ./ui -update after checking the change):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// checkFrame asserts the frame fills the terminal exactly: h lines, none
// wider than w.
func checkFrame(t *testing.T, frame string, w, h int) {
	t.Helper()
	lines := strings.Split(frame, "\n")
	if len(lines) != h {
		t.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("%dx%d: line %d is %d cells wide: %q", w, h, i, n, ansi.Strip(l))
		}
	}
}

func TestGoldenViews(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {160, 48}, {60, 15}} {
		name := "table_" + strconv.Itoa(sz[0]) + "x" + strconv.Itoa(sz[1])
		t.Run(name, func(t *testing.T) {
			h := goldenModel(t, sz[0], sz[1], false)
			checkFrame(t, h.m.frame, sz[0], sz[1])
			checkGolden(t, name, ansi.Strip(h.m.frame))
			// NO_COLOR: not one escape sequence, the same text.
			plain := goldenModel(t, sz[0], sz[1], true)
			if plain.m.frame != ansi.Strip(plain.m.frame) {
				t.Errorf("NO_COLOR frame carries escape sequences")
			}
			if plain.m.frame != ansi.Strip(h.m.frame) {
				t.Errorf("NO_COLOR frame differs from the coloured one stripped:\n%s", plain.m.frame)
			}
		})
	}
}

func TestGoldenDetail(t *testing.T) {
	h := goldenModel(t, 80, 24, true)
	h.selectRow("FIN_WAIT_2", func(s *collect.Socket) bool { return s.State == collect.StateFinWait2 })
	h.key("enter")
	checkFrame(t, h.m.frame, 80, 24)
	checkGolden(t, "detail_80x24", h.screen())
}

func TestGoldenPromptError(t *testing.T) {
	h := goldenModel(t, 80, 24, true)
	h.key("/")
	h.typeText("state bogus")
	h.key("enter")
	checkFrame(t, h.m.frame, 80, 24)
	checkGolden(t, "prompt_error_80x24", h.screen())
}

// Every size, tiny ones too, gives a frame that fits: no wrapped, garbled
// lines, in every mode.
func TestFramesFitAnySize(t *testing.T) {
	for _, w := range []int{1, 10, 30, 45, 53, 54, 67, 68, 79, 80, 119, 120, 200} {
		for _, ht := range []int{1, 3, 5, 8, 12, 16, 23, 24, 40} {
			h := goldenModel(t, w, ht, false)
			checkFrame(t, h.m.frame, w, ht)
			for _, k := range []string{"enter", "esc", "?", "esc", "/"} {
				h.key(k)
				checkFrame(t, h.m.frame, w, ht)
			}
			h.typeText("state bogus")
			h.key("enter")
			checkFrame(t, h.m.frame, w, ht)
		}
	}
}

// Resizing re-lays the panes: the frame fits the new size at once, and the
// selected row stays visible.
func TestResize(t *testing.T) {
	h := goldenModel(t, 160, 48, false)
	h.key("G")
	for _, sz := range [][2]int{{60, 15}, {80, 24}, {30, 8}, {200, 60}} {
		h.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		checkFrame(t, h.m.frame, sz[0], sz[1])
		if sel := h.m.selected; sel < h.m.table.offset || sel >= h.m.table.offset+max(h.m.table.visibleRows(), 1) {
			t.Fatalf("%v: selected row %d outside the window at %d", sz, sel, h.m.table.offset)
		}
	}
}

// goldenDemos is the golden table with three demos in the pane: fixed
// runs (ended, so no real sockets), on ports the fixture has, with some
// promises kept and a few calls narrated.
func goldenDemos(t *testing.T, w, h int) *harness {
	t.Helper()
	hs := goldenModel(t, w, h, true)
	at := t0.Add(500 * time.Millisecond)
	for i, name := range []string{"polite-close", "server-restart", "server-crash"} {
		sc := scenario(t, name)
		r := &demoRun{sc: sc, seq: i + 1, ports: []uint16{[]uint16{8001, 8005, 8080}[i]}, reuse: sc.ReuseAddr, ended: true}
		for j, p := range sc.PromisesFor(sc.DefaultConfig()) {
			st := demo.PromiseStatus{Promise: p}
			if j < 2 {
				st.Seen, st.At = true, at
			}
			r.status = append(r.status, st)
		}
		if name == "server-crash" {
			r.notes = []string{"tcp_fin_timeout=60: the crashed server's orphan FIN_WAIT_2 would last that many seconds if the client never closed"}
		}
		for k, c := range []struct{ ep, call, res string }{
			{"server", "listen(backlog=4)", "0"}, {"client", "connect(127.0.0.1:" + itoa(r.ports[0]) + ")", "0"},
			{"server", "accept()", "fd 7"}, {"client", "close()", "0"},
		} {
			r.events = append(r.events, probe.Event{At: at.Add(time.Duration(k) * time.Millisecond), Endpoint: c.ep, Call: c.call, Result: c.res})
		}
		hs.m.demos.runs = append(hs.m.demos.runs, r)
	}
	hs.m.demos.refilter(hs.m)
	hs.m.render()
	return hs
}

func TestGoldenDemoPane(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {40, 15}} {
		name := "demos_" + strconv.Itoa(sz[0]) + "x" + strconv.Itoa(sz[1])
		t.Run(name, func(t *testing.T) {
			h := goldenDemos(t, sz[0], sz[1])
			checkFrame(t, h.m.frame, sz[0], sz[1])
			checkGolden(t, name, h.screen())
			if sz[1] >= 16 && len(h.m.demos.pane.doc) > h.m.hs.demo {
				h.key("]")
				checkFrame(t, h.m.frame, sz[0], sz[1])
				checkGolden(t, name+"_scrolled", h.screen())
			}
		})
	}
}
