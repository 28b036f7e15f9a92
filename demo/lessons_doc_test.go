package demo

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// lessonsDoc is the course map, read from the repository rather than
// embedded: it is documentation, and the test keeps it true to the
// catalogue.
const lessonsDoc = "../docs/lessons.md"

// docSections splits the course map into its "## " sections: their
// headings in order, and for each heading the scenarios it runs
// (`socktop demo run NAME`) in order.
func docSections(text string) (headings []string, runs map[string][]string) {
	runRE := regexp.MustCompile("`socktop demo run ([a-z0-9-]+)`")
	runs = map[string][]string{}
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			cur = strings.TrimSpace(h)
			headings = append(headings, cur)
			continue
		}
		for _, m := range runRE.FindAllStringSubmatch(line, -1) {
			runs[cur] = append(runs[cur], m[1])
		}
	}
	return headings, runs
}

// TestLessonsDocCoversCatalogue holds docs/lessons.md to the catalogue:
// a section for every Section of the course material, in teaching order,
// and every scenario run from the section its Section names, so a
// scenario added without its place in the course map fails here.
func TestLessonsDocCoversCatalogue(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(lessonsDoc)
	if err != nil {
		t.Fatal(err)
	}
	headings, runs := docSections(string(b))
	var want []string
	for _, s := range Sections() {
		want = append(want, string(s))
	}
	if !slices.Equal(headings, want) {
		t.Errorf("%s has the sections\n  %q\nwant every Section in teaching order:\n  %q", lessonsDoc, headings, want)
	}
	where := map[string][]string{}
	for h, names := range runs {
		for _, n := range names {
			where[n] = append(where[n], h)
		}
	}
	for _, sc := range Catalogue() {
		got := where[sc.Name]
		switch {
		case len(got) == 0:
			t.Errorf("%s does not run scenario %s: add `socktop demo run %s` under \"## %s\"", lessonsDoc, sc.Name, sc.Name, sc.Section)
		case len(got) > 1 || got[0] != string(sc.Section):
			t.Errorf("%s runs %s under %q, but its Section is %q: move it, or fix the Section", lessonsDoc, sc.Name, got, sc.Section)
		}
	}
	for _, s := range Sections() {
		if len(runs[string(s)]) == 0 {
			t.Errorf("%s: section %q runs no scenario", lessonsDoc, s)
		}
	}
}

// A scenario's Section is one of the course's sections, so the picker
// and `demo list` have a heading to put it under.
func TestLessonsSectionOfEveryScenario(t *testing.T) {
	t.Parallel()
	for _, sc := range Catalogue() {
		if !slices.Contains(Sections(), sc.Section) {
			t.Errorf("%s: Section %q is not one of Sections()", sc.Name, sc.Section)
		}
	}
}

// The doc parser finds what it is meant to, so the test above cannot
// pass on a file it misreads.
func TestLessonsDocParse(t *testing.T) {
	t.Parallel()
	text := "# Title\n\nintro `socktop demo run stray`\n## A\n- x `socktop demo run one`\n  `socktop demo run two`\n## B\n`socktop demo run three` and `socktop demo run four`\n"
	headings, runs := docSections(text)
	if !slices.Equal(headings, []string{"A", "B"}) {
		t.Errorf("headings %q", headings)
	}
	if !slices.Equal(runs["A"], []string{"one", "two"}) || !slices.Equal(runs["B"], []string{"three", "four"}) || !slices.Equal(runs[""], []string{"stray"}) {
		t.Errorf("runs %q", runs)
	}
}
