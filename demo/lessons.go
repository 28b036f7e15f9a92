package demo

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// lessonsMD holds the lessons as course prose, apart from the code, so
// that they can be read, reviewed and rewrapped as text.
//
//go:embed lessons.md
var lessonsMD []byte

// parseLessons reads lessons in the format of lessons.md: anything before
// the first "## name" heading is a preface for human readers; each
// section's paragraphs, separated by blank lines, become the lesson with
// the lines of a paragraph joined by one space and paragraphs by a blank
// line, which is what the command line's and the terminal view's wrapping
// expect. A "##" line of another form (deeper, no space, no name), a
// heading inside a section, a repeated name and a section without text
// are errors, so a slip in the prose file
// cannot silently give a scenario half a lesson.
func parseLessons(b []byte) (map[string]string, error) {
	lessons := map[string]string{}
	var (
		name  string   // the section being read; "" in the preface
		paras []string // its finished paragraphs
		para  []string // the lines of the paragraph being read
		line  int
	)
	endPara := func() {
		if len(para) > 0 {
			paras = append(paras, strings.Join(para, " "))
			para = nil
		}
	}
	endSection := func() error {
		endPara()
		if name == "" {
			return nil
		}
		if len(paras) == 0 {
			return fmt.Errorf("lessons: section %q has no text", name)
		}
		lessons[name] = strings.Join(paras, "\n\n")
		paras = nil
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(text, "##"):
			if !strings.HasPrefix(text, "## ") {
				return nil, fmt.Errorf("lessons: line %d: heading %q (sections are \"## name\", nothing deeper)", line, text)
			}
			if err := endSection(); err != nil {
				return nil, err
			}
			name = strings.TrimSpace(strings.TrimPrefix(text, "## "))
			if name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("lessons: line %d: heading %q is not a scenario name", line, text)
			}
			if _, dup := lessons[name]; dup {
				return nil, fmt.Errorf("lessons: line %d: second section for %q", line, name)
			}
		case name == "":
			// The preface, title included, is for the reader of the file.
		case strings.HasPrefix(text, "#"):
			return nil, fmt.Errorf("lessons: line %d: heading %q inside section %q", line, text, name)
		case text == "":
			endPara()
		default:
			para = append(para, text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("lessons: %w", err)
	}
	if err := endSection(); err != nil {
		return nil, err
	}
	return lessons, nil
}

// attachLessons gives every scenario of list its lesson from lessons,
// and fails unless the two match one to one: a lesson for a renamed
// scenario would otherwise be lost without a word.
func attachLessons(list []*Scenario, lessons map[string]string) error {
	used := map[string]bool{}
	for _, sc := range list {
		text, ok := lessons[sc.Name]
		if !ok {
			return fmt.Errorf("lessons: no section for scenario %q", sc.Name)
		}
		sc.Lesson = text
		used[sc.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(lessons)) {
		if !used[name] {
			return fmt.Errorf("lessons: section %q names no scenario", name)
		}
	}
	return nil
}
