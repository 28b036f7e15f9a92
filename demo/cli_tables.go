package demo

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// printTables prints the run's measurement tables after its promises:
// as text, each with its title, aligned columns and notes; as JSON, one
// "table" object with the title, columns and notes, then one "row"
// object per Objects value with the value's own JSON fields beside
// "type" and "table". It returns the tables' names, for the result
// object, and the first row that could not be printed as an object.
func printTables(pr *printer, tables []Table) ([]string, error) {
	names := make([]string, 0, len(tables))
	var first error
	for _, t := range tables {
		names = append(names, t.Name)
		notes := t.Notes
		if notes == nil {
			notes = []string{}
		}
		pr.line("\n"+tableText(t), map[string]any{"type": "table", "table": t.Name, "title": t.Title, "columns": t.Columns, "notes": notes})
		if !pr.json {
			continue
		}
		for _, obj := range t.Objects {
			row, err := rowObject(t.Name, obj)
			if err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			pr.line("", row)
		}
	}
	return names, first
}

// rowObject flattens obj's JSON fields into a "row" object of table.
func rowObject(table string, obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("table %s: row: %w", table, err)
	}
	row := map[string]any{}
	if err := json.Unmarshal(b, &row); err != nil {
		return nil, fmt.Errorf("table %s: a row must be a JSON object, got %s: %w", table, b, err)
	}
	if _, ok := row["type"]; ok {
		return nil, fmt.Errorf("table %s: a row may not have a field named type", table)
	}
	if _, ok := row["table"]; ok {
		return nil, fmt.Errorf("table %s: a row may not have a field named table", table)
	}
	row["type"], row["table"] = "row", table
	return row, nil
}

// tableText lays t out as text: the title, the header, a rule, the rows
// with every column as wide as its widest cell (counted in characters,
// for the ± of the figures), and the notes.
func tableText(t Table) string {
	width := make([]int, len(t.Columns))
	grow := func(cells []string) {
		for i, c := range cells {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	grow(t.Columns)
	for _, r := range t.Rows {
		grow(r)
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		l.WriteString("  ")
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			l.WriteString(c)
			l.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "table %s: %s\n", t.Name, t.Title)
	line(t.Columns)
	rule := make([]string, len(width))
	for i, w := range width {
		rule[i] = strings.Repeat("-", w)
	}
	line(rule)
	for _, r := range t.Rows {
		line(r)
	}
	for _, n := range t.Notes {
		b.WriteString(indent("note: "+n, "  "))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}
