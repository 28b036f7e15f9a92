package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"socktop/probe"
)

func TestRunHeadlessText(t *testing.T) {
	t.Parallel()
	port, err := probe.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	src := newCollector()
	var out, errOut bytes.Buffer
	sc := mustFind(t, "udp")
	if !RunHeadless(context.Background(), sc, RunOptions{Config: Config{Port: port, Fast: true}}, src, &out, &errOut) {
		t.Fatalf("promises missed\n%s\nstderr: %s", out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		fmt.Sprintf("server: bind(127.0.0.1:%d) = 0", port),
		"seen: server UNCONN",
		"  " + strings.Fields(sc.Lesson)[0] + " ", // the lesson comes first
		"[x]",
		"result: every promise kept",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// --json output is NDJSON: every line one object with a type, the result
// last.
func TestRunHeadlessJSON(t *testing.T) {
	t.Parallel()
	src := newCollector()
	var out, errOut bytes.Buffer
	ok := RunHeadless(context.Background(), mustFind(t, "closed"), RunOptions{Config: Config{Fast: true}, JSON: true, Timeout: 30 * time.Second}, src, &out, &errOut)
	if !ok {
		t.Fatalf("promises missed\n%s\nstderr: %s", out.String(), errOut.String())
	}
	var last map[string]any
	types := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		typ, ok := obj["type"].(string)
		if !ok {
			t.Fatalf("line %q has no type", sc.Text())
		}
		types[typ]++
		last = obj
	}
	if types["start"] != 1 || types["event"] == 0 || types["seen"] == 0 || types["result"] != 1 {
		t.Errorf("line types %v", types)
	}
	if last["type"] != "result" || last["ok"] != true {
		t.Errorf("last line %v, want an ok result", last)
	}
	if ps, _ := last["promises"].([]any); len(ps) != len(mustFind(t, "closed").Promises) {
		t.Errorf("result promises %v, want %d", last["promises"], len(mustFind(t, "closed").Promises))
	}
	for _, key := range []string{"checked", "paths", "segments"} {
		if _, ok := last[key]; !ok {
			t.Errorf("result has no %q: %v", key, last)
		}
	}
}

func mustFind(t *testing.T, name string) *Scenario {
	t.Helper()
	sc, ok := Find(name)
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	return sc
}

func TestIndentWraps(t *testing.T) {
	got := indent(strings.Repeat("word ", 40)+"\n\nnext", "  ")
	lines := strings.Split(got, "\n")
	for _, l := range lines {
		if len(l) > 76 || (l != "" && !strings.HasPrefix(l, "  ")) {
			t.Fatalf("line %q too long or not indented in:\n%s", l, got)
		}
	}
	if !strings.HasSuffix(got, "\n\n  next") {
		t.Fatalf("paragraph break lost:\n%s", got)
	}
}
