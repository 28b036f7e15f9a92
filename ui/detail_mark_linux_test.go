package ui

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
)

// ownCgroup is this process's cgroup v2 path (as ss prints it) and id;
// the test is skipped where there is none.
func ownCgroup(t *testing.T) (string, uint64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			id, err := collect.CgroupID(p)
			if err != nil {
				t.Skipf("cgroup %s: %v", p, err)
			}
			return p, id
		}
	}
	t.Skip("no cgroup v2 line in /proc/self/cgroup")
	return "", 0
}

// The detail view names the socket's cgroup through a Cmd (a walk of the
// cgroup tree the first time), never while it draws: opening the view
// asks, the answer for the socket's id is shown, and an answer for
// another id is not.
func TestDetailCgroupPathByCmd(t *testing.T) {
	path, id := ownCgroup(t)
	s := collect.Socket{Proto: collect.UDP, Family: 4, State: collect.StateUnconn,
		Local: netip.MustParseAddrPort("127.0.0.1:9"), CgroupID: id}
	h := newHarness(t, Config{}, collect.Snapshot{Sockets: []collect.Socket{s}})
	h.send(windowSize(120, 40))
	h.refresh()
	var got *cgroupMsg
	for _, msg := range run(h.key("enter")) {
		if c, ok := msg.(cgroupMsg); ok {
			got = &c
		}
	}
	if got == nil || got.id != id || !got.ok || got.path != path {
		t.Fatalf("opening the detail view looked up %+v, want %q for id %d", got, path, id)
	}
	line := func() string {
		for _, l := range strings.Split(ansi.Strip(h.m.View().Content), "\n") {
			if strings.Contains(l, "Cgroup ") {
				return strings.TrimSpace(l)
			}
		}
		return ""
	}
	idText := " (id " + strconv.FormatUint(id, 10) + ")"
	if l := line(); l != "Cgroup        ?"+idText {
		t.Fatalf("before the Cmd answered the line is %q", l)
	}
	h.send(cgroupMsg{id: id + 1, path: "/not-this-one", ok: true})
	if l := line(); l != "Cgroup        ?"+idText {
		t.Fatalf("after an answer for another id the line is %q", l)
	}
	h.send(*got)
	if l := line(); l != "Cgroup        "+path+idText {
		t.Fatalf("after the answer the line is %q, want the path %q", l, path)
	}
}
