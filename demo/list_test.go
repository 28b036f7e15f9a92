package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// listed reads WriteList's output back: for each heading, the lines of
// its scenarios (a continuation line joined to the one it continues).
func listed(t *testing.T, out string) (headings []string, rows map[string][]string) {
	t.Helper()
	rows = map[string][]string{}
	cur := ""
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > ListWidth {
			t.Errorf("line %d is %d columns, more than %d: %q", i+1, n, ListWidth, line)
		}
		switch {
		case line == "":
		case !strings.HasPrefix(line, " "):
			cur = line
			headings = append(headings, cur)
		case strings.HasPrefix(line, strings.Repeat(" ", listIndent)):
			r := rows[cur]
			if len(r) == 0 {
				t.Fatalf("line %d continues nothing: %q", i+1, line)
			}
			r[len(r)-1] += " " + strings.TrimSpace(line)
		default:
			rows[cur] = append(rows[cur], strings.TrimSpace(line))
		}
	}
	return headings, rows
}

// `demo list` puts every scenario of the catalogue once under its
// section's heading, the sections in teaching order, in 80 columns.
func TestWriteList(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := WriteList(&out); err != nil {
		t.Fatal(err)
	}
	headings, rows := listed(t, out.String())
	var want []string
	for _, g := range Grouped(Catalogue()) {
		want = append(want, string(g.Section))
	}
	if !slices.Equal(headings, want) {
		t.Errorf("headings %q, want %q", headings, want)
	}
	seen := 0
	for _, sc := range Catalogue() {
		found := false
		for _, r := range rows[string(sc.Section)] {
			if f := strings.Fields(r); len(f) > 2 && f[0] == sc.Name && f[1] == sc.Key {
				found = true
				if !strings.Contains(r, sc.Title) {
					t.Errorf("%s: row %q lacks the title %q", sc.Name, r, sc.Title)
				}
				if (sc.NeedsRoot != "") != strings.Contains(r, "[root: ") {
					t.Errorf("%s (NeedsRoot %q): row %q", sc.Name, sc.NeedsRoot, r)
				}
			}
		}
		if !found {
			t.Errorf("%s %s is not under %q:\n%s", sc.Name, sc.Key, sc.Section, out.String())
		}
		seen++
	}
	n := 0
	for _, r := range rows {
		n += len(r)
	}
	if n != seen {
		t.Errorf("%d rows for %d scenarios:\n%s", n, seen, out.String())
	}
}

// A scenario that needs root says why, a long title wraps under itself,
// and a scenario with a section the course does not have is listed
// last, not lost.
func TestWriteListMarksRootAndWraps(t *testing.T) {
	t.Parallel()
	list := []*Scenario{
		{Name: "plain", Key: "1", Title: "A short title", Section: SectionStates},
		{Name: "nonblocking-connect", Key: "h", Section: SectionCalls, NeedsRoot: "creates a network namespace",
			Title: "A title long enough that it cannot fit in the fifty-five columns left to it"},
		{Name: "stray", Key: "z", Title: "Nowhere", Section: "Appendix"},
	}
	var out bytes.Buffer
	if err := writeList(&out, list); err != nil {
		t.Fatal(err)
	}
	headings, rows := listed(t, out.String())
	if want := []string{string(SectionCalls), string(SectionStates), "Appendix"}; !slices.Equal(headings, want) {
		t.Errorf("headings %q, want %q", headings, want)
	}
	long := rows[string(SectionCalls)]
	if len(long) != 1 || !strings.HasSuffix(long[0], list[1].Title+" [root: creates a network namespace]") {
		t.Errorf("the long row reads back as %q", long)
	}
	if n := strings.Count(out.String(), "\n"+strings.Repeat(" ", listIndent)); n < 2 {
		t.Errorf("the long title and its mark take %d continuation lines, want 2:\n%s", n, out.String())
	}
	if r := rows[string(SectionStates)]; len(r) != 1 || strings.Contains(r[0], "[root") {
		t.Errorf("plain row %q", r)
	}
	if r := rows["Appendix"]; len(r) != 1 || !strings.HasPrefix(r[0], "stray") {
		t.Errorf("stray row %q", r)
	}
}

func TestListHangWrapCutsLongWords(t *testing.T) {
	t.Parallel()
	got := hangWrap("  x  ", "short "+strings.Repeat("w", 30)+" end", 20, 5)
	want := []string{"  x  short", "     wwwwwwwwwwwwww…", "     end"}
	if !slices.Equal(got, want) {
		t.Errorf("hangWrap = %q, want %q", got, want)
	}
}

// `demo list --json` is one object a line for every scenario, with its
// section and root requirement.
func TestWriteListJSON(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := WriteListJSON(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	got := map[string]ListEntry{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var e ListEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		got[e.Name] = e
	}
	if len(got) != len(Catalogue()) {
		t.Errorf("%d entries for %d scenarios", len(got), len(Catalogue()))
	}
	for _, s := range Catalogue() {
		e, ok := got[s.Name]
		if !ok || e.Key != s.Key || e.Title != s.Title || e.Section != s.Section || e.NeedsRoot != s.NeedsRoot || e.UsesReuseAddr != s.UsesReuseAddr {
			t.Errorf("%s: entry %+v", s.Name, e)
		}
	}
	// The field names are the contract scripts rely on.
	var e map[string]any
	line, _, _ := strings.Cut(text, "\n")
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "key", "title", "section"} {
		if _, ok := e[k]; !ok {
			t.Errorf("the first entry has no %q: %s", k, line)
		}
	}
}
