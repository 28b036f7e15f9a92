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

func sampleTable() Table {
	rows := []bufferRow{
		{Setting: settingLoopback, BufferBytes: 1024, Runs: 2, MbpsMean: 1234.5, MbpsStddev: 6},
		{Setting: settingLAN, BufferBytes: 524288, Runs: 5, MbpsMean: 9.5, MbpsStddev: 0.01},
	}
	return bufferTable([]int{1024, 524288}, rows, nil, []string{"a note that says how to read it"})
}

// The text form has the title, every column starting at the same place
// on every line, and the notes.
func TestTableText(t *testing.T) {
	var out bytes.Buffer
	names, err := printTables(&printer{w: &out}, []Table{sampleTable()})
	if err != nil || !slices.Equal(names, []string{"buffer-sizes"}) {
		t.Fatalf("printTables = %v, %v", names, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "table buffer-sizes: TCP throughput") {
		t.Errorf("first line %q lacks the title", lines[0])
	}
	header, rows := lines[1], lines[3:5]
	// Where each heading starts, in characters (the figures hold ±).
	var starts []int
	col := 0
	for i, f := range strings.SplitAfter(header, "  ") {
		if strings.TrimSpace(f) != "" && (i == 0 || strings.HasSuffix(f, "  ")) {
			starts = append(starts, col+len(f)-len(strings.TrimLeft(f, " ")))
		}
		col += utf8.RuneCountInString(f)
	}
	for _, r := range rows {
		runes := []rune(r)
		for _, s := range starts[1:] {
			if s >= len(runes) || runes[s] == ' ' || runes[s-1] != ' ' {
				t.Errorf("row %q: no cell starts at column %d as in the header %q", r, s, header)
			}
		}
	}
	if !strings.Contains(rows[0], "1234 ± 6") || !strings.Contains(rows[1], "512 KiB") || !strings.Contains(rows[1], "9.50 ± 0.01") {
		t.Errorf("rows %q lack the figures", rows)
	}
	if !strings.Contains(out.String(), "note: a note that says how to read it") {
		t.Errorf("no note in\n%s", out.String())
	}
}

// With --json every row is one object with the row's own fields beside
// type and table, and nothing else; the table object carries the notes.
func TestTableJSON(t *testing.T) {
	var out bytes.Buffer
	if _, err := printTables(&printer{w: &out, json: true}, []Table{sampleTable()}); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch obj["type"] {
		case "row":
			rows = append(rows, obj)
		case "table":
			if obj["table"] != "buffer-sizes" || len(obj["notes"].([]any)) != 1 {
				t.Errorf("table object %v", obj)
			}
		default:
			t.Errorf("unexpected object %v", obj)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	want := []string{"buffer_bytes", "mbps_mean", "mbps_stddev", "runs", "setting", "table", "type"}
	for _, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("row keys %v, want %v", keys, want)
		}
	}
	if r := rows[1]; r["setting"] != "lan" || r["buffer_bytes"] != 524288.0 || r["runs"] != 5.0 || r["mbps_mean"] != 9.5 || r["mbps_stddev"] != 0.01 || r["table"] != "buffer-sizes" {
		t.Errorf("lan row %v", r)
	}
}

// A row that is not a JSON object, or that would hide type or table, is
// an error rather than a malformed line.
func TestTableJSONBadRows(t *testing.T) {
	type clash struct {
		Type string `json:"type"`
	}
	for _, obj := range []any{42, "x", clash{"y"}, map[string]int{"table": 1}} {
		var out bytes.Buffer
		_, err := printTables(&printer{w: &out, json: true}, []Table{{Name: "t", Objects: []any{obj}}})
		if err == nil {
			t.Errorf("row %#v: no error", obj)
		}
		if strings.Contains(out.String(), `"row"`) {
			t.Errorf("row %#v printed: %s", obj, out.String())
		}
	}
}
