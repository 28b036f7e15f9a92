package ui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/demo"
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

// The goldens hold the frame as the model hands it to bubbletea's
// renderer, escape sequences and all, so a changed colour or attribute
// fails as surely as changed text. The styles use the 16 basic ANSI
// colours and lipgloss renders them the same on every host; the renderer
// downsamples for the terminal later, outside the model. Each golden has a
// NO_COLOR twin, <name>_nocolor.golden, written from a model with NoColor.

// checkGoldens builds the view twice, in colour and under NO_COLOR, and
// compares each frame with its golden: name.golden and
// name_nocolor.golden. Both frames must fill w x h, the NO_COLOR one must
// carry no escape sequence, and it must read the same as the coloured one
// stripped. With -update it rewrites both files.
func checkGoldens(t *testing.T, name string, w, h int, build func(t *testing.T, noColor bool) *harness) {
	t.Helper()
	colour, plain := build(t, false), build(t, true)
	checkFrame(t, colour.m.frame, w, h)
	checkFrame(t, plain.m.frame, w, h)
	if plain.m.frame != ansi.Strip(plain.m.frame) {
		t.Errorf("%s: the NO_COLOR frame carries escape sequences: %q", name, plain.m.frame)
	}
	if plain.m.frame != colour.screen() {
		t.Errorf("%s: the NO_COLOR frame differs from the coloured one stripped:\n%s", name, plain.m.frame)
	}
	if colour.m.frame == colour.screen() {
		t.Errorf("%s: the coloured frame carries no escape sequence", name)
	}
	for file, got := range map[string]string{name: colour.m.frame, name + "_nocolor": plain.m.frame} {
		if err := compareGolden(file, got); err != nil {
			t.Error(err)
		}
	}
}

// compareGolden compares got with testdata/<name>.golden, or rewrites the
// file under -update.
func compareGolden(name, got string) error {
	path := filepath.Join("testdata", name+".golden")
	if *update {
		return os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (run go test ./ui -update to create it)", err)
	}
	if got == string(want) {
		return nil
	}
	return fmt.Errorf("%s differs from %s (run go test ./ui -update after checking the change):\n%s", name, path, lineDiff(got, string(want)))
}

// lineDiff shows the lines where got and want differ, quoted so escape
// sequences are visible, and the screens stripped for reading.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d\n  got  %q\n  want %q\n", i+1, gl, wl)
		}
	}
	fmt.Fprintf(&b, "--- got, stripped\n%s\n--- want, stripped\n%s", ansi.Strip(got), ansi.Strip(want))
	return b.String()
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
			checkGoldens(t, name, sz[0], sz[1], func(t *testing.T, noColor bool) *harness {
				return goldenModel(t, sz[0], sz[1], noColor)
			})
		})
	}
}

func TestGoldenDetail(t *testing.T) {
	checkGoldens(t, "detail_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := goldenModel(t, 80, 24, noColor)
		h.selectRow("FIN_WAIT_2", func(s *collect.Socket) bool { return s.State == collect.StateFinWait2 })
		h.key("enter")
		return h
	})
}

func TestGoldenPromptError(t *testing.T) {
	checkGoldens(t, "prompt_error_80x24", 80, 24, func(t *testing.T, noColor bool) *harness {
		h := goldenModel(t, 80, 24, noColor)
		h.key("/")
		h.typeText("state bogus")
		h.key("enter")
		return h
	})
}

// A change of colour alone, the text the same, fails the golden: the
// golden test is not blind to styles. FIN_WAIT_2 is drawn in another
// colour through a modified copy of the styles.
func TestGoldenCatchesColourChange(t *testing.T) {
	if *update {
		t.Skip("the goldens are being rewritten")
	}
	h := goldenModel(t, 80, 24, false)
	before := h.m.frame
	if err := compareGolden("table_80x24", before); err != nil {
		t.Fatalf("the unmodified view does not match its golden: %v", err)
	}
	st := *h.m.styles
	st.State[collect.StateFinWait2] = st.State[collect.StateFinWait2].Foreground(lipgloss.Cyan)
	*h.m.styles = st
	h.m.render()
	if ansi.Strip(h.m.frame) != ansi.Strip(before) {
		t.Fatalf("a colour change altered the text:\n%s", h.screen())
	}
	if h.m.frame == before {
		t.Fatal("the FIN_WAIT_2 colour does not reach the frame")
	}
	if compareGolden("table_80x24", h.m.frame) == nil {
		t.Fatal("the golden comparison passed with FIN_WAIT_2 in another colour")
	}
}

// Every size, tiny ones too, gives a frame that fits: no wrapped, garbled
// lines, in every mode.
func TestFramesFitAnySize(t *testing.T) {
	for _, w := range []int{1, 10, 30, 45, 53, 54, 67, 68, 79, 80, 119, 120, 200} {
		for _, ht := range []int{1, 3, 5, 8, 12, 16, 23, 24, 40} {
			h := goldenModel(t, w, ht, false)
			checkFrame(t, h.m.frame, w, ht)
			for _, k := range []string{"enter", "w", "esc", "c", "j", "esc", "?", "esc", "/"} {
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
func goldenDemos(t *testing.T, w, h int, noColor bool) *harness {
	t.Helper()
	hs := goldenModel(t, w, h, noColor)
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
			r.events = append(r.events, demo.Event{At: at.Add(time.Duration(k) * time.Millisecond), Endpoint: c.ep, Call: c.call, Result: c.res})
		}
		hs.m.demos.runs = append(hs.m.demos.runs, r)
	}
	hs.m.applyDemo(hs.m.demos.refilter(hs.m.tableFilter(), demoIntent{}))
	hs.m.render()
	return hs
}

func TestGoldenDemoPane(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {40, 15}} {
		name := "demos_" + strconv.Itoa(sz[0]) + "x" + strconv.Itoa(sz[1])
		t.Run(name, func(t *testing.T) {
			checkGoldens(t, name, sz[0], sz[1], func(t *testing.T, noColor bool) *harness {
				return goldenDemos(t, sz[0], sz[1], noColor)
			})
			if h := goldenDemos(t, sz[0], sz[1], true); sz[1] >= 16 && len(h.m.demos.pane.doc) > h.m.hs.demo {
				checkGoldens(t, name+"_scrolled", sz[0], sz[1], func(t *testing.T, noColor bool) *harness {
					h := goldenDemos(t, sz[0], sz[1], noColor)
					h.key("]")
					return h
				})
			}
		})
	}
}
