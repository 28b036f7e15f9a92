package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"socktop/probe"
)

func TestMainList(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := Main([]string{"list"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != len(Catalogue()) {
		t.Fatalf("%d lines for %d scenarios:\n%s", len(lines), len(Catalogue()), out.String())
	}
	for i, sc := range Catalogue() {
		if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != sc.Name || f[1] != sc.Key {
			t.Errorf("line %d = %q, want name %q then key %q", i, lines[i], sc.Name, sc.Key)
		}
	}
}

func TestMainRunShortScenario(t *testing.T) {
	t.Parallel()
	port, err := probe.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main([]string{"run", "udp", "--fast", "--port", fmt.Sprint(port)}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\nstderr: %s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		fmt.Sprintf("server: bind(127.0.0.1:%d) = 0", port),
		"seen: server UNCONN",
		"  " + strings.Fields(mustFind(t, "udp").Lesson)[0] + " ", // the lesson comes first
		"[x]",
		"result: every promise kept",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestMainRunJSON(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	// Flags before the name work too.
	code := Main([]string{"run", "--json", "--fast", "closed"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\nstderr: %s", code, out.String(), errOut.String())
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
	if ps, _ := last["promises"].([]any); len(ps) != 3 {
		t.Errorf("result promises %v, want 3", last["promises"])
	}
}

func TestMainBadUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"list", "extra"},
		{"run"},
		{"run", "no-such-scenario"},
		{"run", "udp", "polite-close"},
		{"run", "udp", "--port", "abc"},
		{"run", "udp", "--port", "70000"},
		{"run", "udp", "--reuseaddr=maybe"},
		{"run", "udp", "--timeout", "-1s"},
		{"run", "udp", "--bogus"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.Contains(errOut.String(), "usage:") {
			t.Errorf("%q: no usage on stderr: %q", args, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("%q: wrote to stdout: %q", args, out.String())
		}
	}
}

func TestParseRunReuseDefault(t *testing.T) {
	t.Parallel()
	o, err := parseRun([]string{"server-restart"})
	if err != nil || o.cfg.ReuseAddr != o.sc.ReuseAddr {
		t.Fatalf("default: %+v, %v", o.cfg, err)
	}
	o, err = parseRun([]string{"server-restart", "--reuseaddr=true", "--port=12345", "--timeout=5s"})
	if err != nil || !o.cfg.ReuseAddr || o.cfg.Port != 12345 || o.timeout.Seconds() != 5 {
		t.Fatalf("flags: %+v %v, %v", o.cfg, o.timeout, err)
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

func TestMainRunHelp(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := Main([]string{"run", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if !strings.Contains(out.String(), "usage:") || errOut.Len() != 0 {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
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
