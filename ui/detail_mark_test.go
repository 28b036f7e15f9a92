package ui

import (
	"strings"
	"testing"

	"socktop/collect"
)

// TestDetailMarkAndCgroup checks the detail view's fwmark and cgroup
// lines: shown when set, "unknown" when the kernel did not report them
// (never 0), and absent for a mark of 0 and no cgroup.
func TestDetailMarkAndCgroup(t *testing.T) {
	st := DefaultStyles(true)
	var cg cgroupMsg
	lines := func(s collect.Socket) string {
		var b strings.Builder
		markCgroupFields(&st, &s, cg, func(label, value string) { b.WriteString(label + "=" + value + "\n") })
		return b.String()
	}
	if got := lines(collect.Socket{Proto: collect.TCP}); got != "" {
		t.Errorf("mark 0, no cgroup: %q, want no line", got)
	}
	got := lines(collect.Socket{Proto: collect.TCP, Mark: 0x5a, CgroupID: 1<<62 + 1})
	if !strings.Contains(got, "Fwmark=0x5a\n") || !strings.Contains(got, "Cgroup=") || !strings.Contains(got, "(id 4611686018427387905)") {
		t.Errorf("mark 0x5a, a cgroup: %q", got)
	}
	got = lines(collect.Socket{Proto: collect.TCP, Unknown: collect.FieldMark | collect.FieldCgroup})
	if !strings.Contains(got, "Fwmark=unknown (the kernel reports marks only to CAP_NET_ADMIN") || !strings.Contains(got, "Cgroup=unknown") {
		t.Errorf("unknown mark and cgroup: %q", got)
	}
}
