package output_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"socktop/collect"
	"socktop/output"
)

// TestMarkAndCgroupDetails checks the fwmark and cgroup of -e and of the
// JSON: as ss spells them, left out when 0, "?" (absent from the JSON)
// when the kernel did not report them, and ss's "unreachable:ID" for a
// cgroup that is gone.
func TestMarkAndCgroupDetails(t *testing.T) {
	root, err := collect.CgroupID("/")
	if err != nil {
		t.Skipf("no cgroup2 here: %v", err)
	}
	gone := uint64(1<<62 + 7)
	cases := []struct {
		s        collect.Socket
		ext      string // the end of AppendSSDetails
		json     []string
		jsonNone []string
	}{
		{collect.Socket{Proto: collect.TCP, Family: 4, Mark: 0x1f, CgroupID: root},
			" sk:0 fwmark:0x1f cgroup:/", []string{`"mark":31`, `"cgroup_id":` + itoa(root), `"cgroup":"/"`}, nil},
		{collect.Socket{Proto: collect.TCP, Family: 4},
			" sk:0", []string{`"mark":0`}, []string{`"cgroup`}},
		{collect.Socket{Proto: collect.TCP, Family: 4, Mark: 2, CgroupID: gone},
			" sk:0 fwmark:0x2 cgroup:unreachable:4000000000000007", []string{`"cgroup_id":` + itoa(gone)}, []string{`"cgroup":`}},
		{collect.Socket{Proto: collect.UDP, Family: 6, Mark: 2, CgroupID: root, Unknown: collect.FieldMark | collect.FieldCgroup},
			" sk:0 fwmark:? cgroup:?", nil, []string{`"mark"`, `"cgroup`}},
		{collect.Socket{Proto: collect.Unix, Mark: 2},
			" sk:0", nil, []string{`"mark"`}},
	}
	for _, c := range cases {
		got := string(output.AppendSSDetails(nil, &c.s))
		if !strings.HasSuffix(got, c.ext) {
			t.Errorf("%+v: -e gives %q, want it to end in %q", c.s, got, c.ext)
		}
		var b bytes.Buffer
		if err := output.WriteJSON(&b, &collect.Snapshot{Sockets: []collect.Socket{c.s}}); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.json {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%+v: JSON %s lacks %s", c.s, b.String(), w)
			}
		}
		for _, w := range c.jsonNone {
			if strings.Contains(b.String(), w) {
				t.Errorf("%+v: JSON %s has %s", c.s, b.String(), w)
			}
		}
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
