package events

import "testing"

// TestParseTraceTask reads the task from the headers trace_pipe prints,
// with and without the record-tgid column.
func TestParseTraceTask(t *testing.T) {
	for _, tc := range []struct {
		head string
		pid  uint32
		comm string
	}{
		{"         python3-23028   (  23028) [001] .....", 23028, "python3"},
		{"  my prog-with-dash-77   (   70) [003] d.s2.", 70, "my prog-with-dash"},
		{"  worker-9 (-------) [000] ..s2.", 0, "worker"},
		{"  <...>-4242 (   4240) [001] .....", 4240, ""},
		// Without the column the thread id is no process id.
		{"  my prog-with-dash-77   [003] d.s2.", 0, "my prog-with-dash"},
		{"  odd(name)-5 [000] .....", 0, "odd(name)"},
		{"garbage", 0, ""},
		{"", 0, ""},
	} {
		pid, comm := parseTraceTask([]byte(tc.head), nil)
		if pid != tc.pid || comm != tc.comm {
			t.Errorf("%q: pid %d comm %q, want %d %q", tc.head, pid, comm, tc.pid, tc.comm)
		}
	}
}

func TestCommNames(t *testing.T) {
	var c commNames
	a := c.name([]byte("sshd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	if a != "sshd" {
		t.Fatalf("name %q, want sshd", a)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.name([]byte("sshd\x00")) }); n != 0 {
		t.Errorf("a known name allocates %v times", n)
	}
	if got := c.name([]byte("0123456789abcdef")); got != "0123456789abcdef" {
		t.Errorf("a 16-byte name without NUL: %q", got)
	}
	if got := c.name([]byte("\x00sshd")); got != "" {
		t.Errorf("an empty name: %q", got)
	}
	for i := range commMax + 10 {
		c.name([]byte{byte('a' + i%26), byte('a' + i/26%26), byte('a' + i/676)})
	}
	if len(c.m) > commMax {
		t.Errorf("%d names kept, want at most %d", len(c.m), commMax)
	}
}
