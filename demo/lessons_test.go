package demo

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseLessons(t *testing.T) {
	in := "# Title\n\npreface text, not a lesson\n\n" +
		"## one\n\nfirst line\n  second line  \n\n\n" +
		"second paragraph\r\n" +
		"## two\nright under the heading\n"
	got, err := parseLessons([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"one": "first line second line\n\nsecond paragraph",
		"two": "right under the heading",
	}
	if !maps.Equal(got, want) {
		t.Errorf("parseLessons = %q, want %q", got, want)
	}
}

func TestParseLessonsErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty section", "## one\n\n## two\ntext\n", `section "one" has no text`},
		{"empty last section", "## one\ntext\n## two\n\n", `section "two" has no text`},
		{"repeated section", "## one\ntext\n## one\nmore\n", `line 3: second section for "one"`},
		{"sub-heading", "## one\ntext\n### aside\n", `line 3: heading "### aside" (sections are`},
		{"heading without space", "## one\ntext\n##two\n", `line 3: heading "##two" (sections are`},
		{"title inside a section", "## one\ntext\n# Title\n", `line 3: heading "# Title" inside section "one"`},
		{"bad heading in the preface", "# Title\n##one\ntext\n", `line 2: heading "##one"`},
		{"two words", "## one two\ntext\n", `line 1: heading "## one two" is not a scenario name`},
		{"empty name", "## \ntext\n", `line 1: heading "##" (sections are`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLessons([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseLessons(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestAttachLessons(t *testing.T) {
	scenarios := func() []*Scenario { return []*Scenario{{Name: "a"}, {Name: "b"}} }
	list := scenarios()
	if err := attachLessons(list, map[string]string{"a": "lesson a", "b": "lesson b"}); err != nil {
		t.Fatal(err)
	}
	if list[0].Lesson != "lesson a" || list[1].Lesson != "lesson b" {
		t.Errorf("lessons attached: %q, %q", list[0].Lesson, list[1].Lesson)
	}
	if err := attachLessons(scenarios(), map[string]string{"a": "x"}); err == nil || !strings.Contains(err.Error(), `no section for scenario "b"`) {
		t.Errorf("missing lesson: %v", err)
	}
	err := attachLessons(scenarios(), map[string]string{"a": "x", "b": "y", "renamed": "z"})
	if err == nil || !strings.Contains(err.Error(), `section "renamed" names no scenario`) {
		t.Errorf("extra section: %v", err)
	}
}

// TestEmbeddedLessons checks lessons.md against the catalogue: one
// section a scenario, each one's text on its scenario.
func TestEmbeddedLessons(t *testing.T) {
	lessons, err := parseLessons(lessonsMD)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range Catalogue() {
		names = append(names, sc.Name)
		if sc.Lesson != lessons[sc.Name] {
			t.Errorf("%s: Lesson %q, lessons.md %q", sc.Name, sc.Lesson, lessons[sc.Name])
		}
	}
	slices.Sort(names)
	if sections := slices.Sorted(maps.Keys(lessons)); !slices.Equal(sections, names) {
		t.Errorf("lessons.md sections %v, scenarios %v", sections, names)
	}
}

// TestLessonsQuoteTheConstants ties the numbers the prose states to the
// constants the steps use, since the prose file cannot refer to them.
func TestLessonsQuoteTheConstants(t *testing.T) {
	for name, want := range map[string][]string{
		"half-open": {fmt.Sprintf("TCP_DEFER_ACCEPT=%d", deferSeconds)},
		"listen-overflow": {
			fmt.Sprintf("backlog %d ", overflowBacklog),
			fmt.Sprintf("backlog+1 = %d ", overflowBacklog+1),
		},
	} {
		sc, ok := Find(name)
		if !ok {
			t.Fatalf("no scenario %q", name)
		}
		for _, w := range want {
			if !strings.Contains(sc.Lesson, w) {
				t.Errorf("%s: lesson does not say %q: %q", name, w, sc.Lesson)
			}
		}
	}
}
