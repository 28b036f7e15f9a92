//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// demoResult is the result object of `socktop demo run --json`, the parts
// the tests read.
type demoResult struct {
	Type    string `json:"type"`
	OK      bool   `json:"ok"`
	Checked string `json:"checked"`
	Paths   map[string][]struct {
		State  string `json:"state"`
		TUs    *int64 `json:"t_us"`
		Source string `json:"source"`
	} `json:"paths"`
	Segments []struct {
		TUs   int64   `json:"t_us"`
		From  string  `json:"from"`
		Flags string  `json:"flags"`
		Seq   uint32  `json:"seq"`
		Ack   *uint32 `json:"ack"`
		Len   int     `json:"len"`
		Win   uint16  `json:"win"`
	} `json:"segments"`
}

// lastResult parses the NDJSON stream and returns its result object.
func lastResult(t *testing.T, out string) demoResult {
	t.Helper()
	var res demoResult
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("not NDJSON: %q: %v", l, err)
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Type != "result" {
		t.Fatalf("last line is not the result: %q (%v)", lines[len(lines)-1], err)
	}
	return res
}

// `socktop demo run polite-close --json` carries each side's path, from
// the kernel when it could be read, and the segments with seq and ack
// relative to each side's ISN.
func TestDemoRunJSONPathsAndSegments(t *testing.T) {
	code, out, errs := runCLI("demo", "run", "polite-close", "--json", "--fast")
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	res := lastResult(t, out)
	exact := strings.HasPrefix(res.Checked, "exact (")
	if !exact && res.Checked != "sampled" {
		t.Errorf("checked = %q, want exact (reader) or sampled", res.Checked)
	}
	want := map[string][]string{
		"client": {"SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
		"server": {"SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"},
	}
	for role, w := range want {
		steps := res.Paths[role]
		if len(steps) == 0 {
			t.Errorf("no %s path in %s", role, out)
			continue
		}
		var names []string
		for _, s := range steps {
			names = append(names, s.State)
			if s.Source != "kernel" && s.Source != "sampled" {
				t.Errorf("%s step %s: source %q", role, s.State, s.Source)
			}
			if s.TUs != nil && *s.TUs < 0 {
				t.Errorf("%s step %s at %d µs, before the run started", role, s.State, *s.TUs)
			}
		}
		if exact {
			i := slices.Index(names, w[0])
			if i < 0 || len(names) < i+len(w) || !slices.Equal(names[i:i+len(w)], w) {
				t.Errorf("%s path %v (checked %s), want it to hold %v", role, names, res.Checked, w)
			}
			for _, s := range steps[i+1 : i+len(w)] {
				if s.Source != "kernel" && s.State != "TIME_WAIT" {
					t.Errorf("%s step %s learnt %s in an exact run", role, s.State, s.Source)
				}
			}
		}
	}
	if strings.Contains(errs, "segments off") {
		t.Skipf("paths checked; no segments to check: %s", errs)
	}
	if len(res.Segments) < 7 {
		t.Fatalf("%d segments, want the handshake, the data and the close: %s", len(res.Segments), out)
	}
	first, second := res.Segments[0], res.Segments[1]
	if first.From != "client" || first.Flags != "SYN" || first.Seq != 0 || first.Ack != nil || first.Win == 0 {
		t.Errorf("first segment %+v, want the client's SYN, seq 0, no ack, a window", first)
	}
	if second.From != "server" || second.Flags != "SYN,ACK" || second.Seq != 0 || second.Ack == nil || *second.Ack != 1 {
		t.Errorf("second segment %+v, want the server's SYN,ACK, seq 0, ack 1", second)
	}
	var flags []string
	data := 0
	for i, s := range res.Segments {
		flags = append(flags, s.From+" "+s.Flags)
		data += s.Len
		if i > 0 && s.TUs < res.Segments[i-1].TUs {
			t.Errorf("segment %d at %d µs, before the one before it", i, s.TUs)
		}
	}
	end := []string{"client FIN,ACK", "server ACK", "server FIN,ACK", "client ACK"}
	if !slices.Equal(flags[len(flags)-4:], end) || data != len("hello") {
		t.Errorf("segments %v with %d bytes of data, want them to end %v and carry the 5 bytes of hello", flags, data, end)
	}
	last := res.Segments[len(res.Segments)-1]
	if last.Seq != 7 || last.Ack == nil || *last.Ack != 2 {
		t.Errorf("last segment %+v, want the client's ACK of the server's FIN: seq 7 (SYN, 5 bytes, FIN), ack 2", last)
	}
}

// As nobody, `socktop demo run` says once that transitions are sampled
// and once that segments are off, keeps the state promises, and says
// "checked: sampled".
func TestDemoRunWithoutPrivilege(t *testing.T) {
	cmd := socktopCmd(t, "demo", "run", "polite-close", "--fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("as nobody: %v\nstdout %s\nstderr %s", err, out.String(), errb.String())
	}
	for _, notice := range []string{"exact transitions off", "segments off"} {
		if n := strings.Count(errb.String(), notice); n != 1 {
			t.Errorf("stderr says %q %d times, want once:\n%s", notice, n, errb.String())
		}
	}
	if !strings.Contains(out.String(), "checked: sampled") || !strings.Contains(out.String(), "result: every promise kept") {
		t.Errorf("as nobody the run should be sampled and keep its state promises:\n%s", out.String())
	}
}

// A bad --events value is a usage error that names it.
func TestDemoRunBadEvents(t *testing.T) {
	code, out, errs := runCLI("demo", "run", "udp", "--events", "nope")
	if code != 2 || out != "" || !strings.Contains(errs, `--events "nope"`) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and the value named", code, out, errs)
	}
}
