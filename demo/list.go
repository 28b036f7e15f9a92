package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ListWidth is the width `demo list` fits its lines in, a terminal's
// classic 80 columns.
const ListWidth = 80

// RootMark is how `demo list` and the picker mark a scenario that needs
// root: "[root: creates a network namespace]".
func RootMark(sc *Scenario) string {
	if sc.NeedsRoot == "" {
		return ""
	}
	return "[root: " + sc.NeedsRoot + "]"
}

// RootMissing says why this process cannot run sc, which needs root,
// in the words Start's ErrNeedsRoot uses ("uid 65534 lacks
// CAP_SYS_ADMIN and CAP_NET_ADMIN"); it is "" when sc needs no root or
// this process has the privileges.
func RootMissing(sc *Scenario) string {
	if sc.NeedsRoot == "" {
		return ""
	}
	return labAllowed()
}

// SectionGroup is one section of the course material and its scenarios,
// in catalogue order.
type SectionGroup struct {
	Section   Section
	Scenarios []*Scenario
}

// Grouped returns the scenarios of list by section, in teaching order;
// a section without scenarios is left out. A scenario whose Section is
// not one of Sections() comes last, under its own Section, rather than
// being dropped.
func Grouped(list []*Scenario) []SectionGroup {
	var out []SectionGroup
	at := map[Section]int{}
	add := func(s Section) {
		if _, ok := at[s]; !ok {
			at[s] = len(out)
			out = append(out, SectionGroup{Section: s})
		}
	}
	for _, s := range Sections() {
		for _, sc := range list {
			if sc.Section == s {
				add(s)
				break
			}
		}
	}
	for _, sc := range list {
		add(sc.Section)
		g := &out[at[sc.Section]]
		g.Scenarios = append(g.Scenarios, sc)
	}
	return out
}

// listIndent is where a scenario's title starts in `demo list`: two
// spaces, the longest name the course uses (nonblocking-connect), its key.
const listIndent = 2 + 19 + 1 + 2 + 1

// WriteList writes the catalogue grouped by section of the course
// material: a heading per section, then a line per scenario with its
// name, its key in the terminal view and its title, and the mark of one
// that needs root. Every line fits in ListWidth columns: a long title
// wraps under itself.
func WriteList(w io.Writer) error { return writeList(w, Catalogue()) }

func writeList(w io.Writer, list []*Scenario) error {
	var b strings.Builder
	for i, g := range Grouped(list) {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(truncate(sectionHeading(g.Section), ListWidth) + "\n")
		for _, sc := range g.Scenarios {
			head := fmt.Sprintf("  %-19s %-2s ", sc.Name, sc.Key)
			text := sc.Title
			if m := RootMark(sc); m != "" {
				text += " " + m
			}
			for _, l := range hangWrap(head, text, ListWidth, listIndent) {
				b.WriteString(l + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sectionHeading(s Section) string {
	if s == "" {
		return "(no section)"
	}
	return string(s)
}

// ListEntry is one scenario as `demo list --json` prints it.
type ListEntry struct {
	Name    string  `json:"name"`
	Key     string  `json:"key"`
	Title   string  `json:"title"`
	Section Section `json:"section"`
	// NeedsRoot says why the scenario needs root; empty when it does not.
	NeedsRoot string `json:"needs_root,omitempty"`
	// UsesReuseAddr says `demo run --reuseaddr` applies to it.
	UsesReuseAddr bool `json:"uses_reuseaddr,omitempty"`
}

// WriteListJSON writes the catalogue as NDJSON, one ListEntry a line, in
// the order WriteList prints them.
func WriteListJSON(w io.Writer) error { return writeListJSON(w, Catalogue()) }

func writeListJSON(w io.Writer, list []*Scenario) error {
	enc := json.NewEncoder(w)
	for _, g := range Grouped(list) {
		for _, sc := range g.Scenarios {
			e := ListEntry{Name: sc.Name, Key: sc.Key, Title: sc.Title, Section: sc.Section,
				NeedsRoot: sc.NeedsRoot, UsesReuseAddr: sc.UsesReuseAddr}
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// hangWrap word-wraps text after head into lines of at most width runes,
// the lines after the first indented by indent spaces; a word too long
// for a line is cut.
func hangWrap(head, text string, width, indent int) []string {
	var lines []string
	line, n := head, utf8.RuneCountInString(head)
	fresh := true // nothing of text on this line yet
	for _, word := range strings.Fields(text) {
		wn := utf8.RuneCountInString(word)
		if !fresh && n+1+wn > width {
			lines = append(lines, line)
			line, n, fresh = strings.Repeat(" ", indent), indent, true
		}
		if !fresh {
			line, n = line+" ", n+1
		}
		if n+wn > width {
			word, wn = truncate(word, width-n), width-n
		}
		line, n, fresh = line+word, n+wn, false
	}
	return append(lines, strings.TrimRight(line, " "))
}

// truncate cuts s to width runes, the last one an ellipsis when cut.
func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	if width <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}
