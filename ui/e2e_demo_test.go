package ui

import (
	"regexp"
	"strings"
	"testing"
)

// TestDemoDiagramTmux is the done-when as a learner meets it: the real
// binary in a terminal, polite-close started with its key, D pressed,
// and the state diagram lit with both exact paths. Skipped when the
// binary's transitions are sampled here (no BPF or tracefs), since the
// paths would then be the sampled ones.
func TestDemoDiagramTmux(t *testing.T) {
	bin, tmux := buildSocktop(t)
	s := startTmux(t, tmux, 120, 40, "env", "TERM=xterm-256color", "NO_COLOR=1", bin, "--interval", "250ms")
	waitFor(t, "the first snapshot", func() bool { return strings.Contains(s.capture(), "netlink") }, s.capture)
	head := strings.SplitN(s.capture(), "\n", 2)[0]
	if !strings.Contains(head, "exact (") {
		t.Skipf("the live view's transitions are sampled here: %s", head)
	}
	s.keys("d", false)
	waitFor(t, "the scenario list", func() bool { return strings.Contains(s.capture(), "polite-close") }, s.capture)
	s.keys(scenario(t, "polite-close").Key, false)
	waitFor(t, "the demo to start", func() bool { return strings.Contains(s.capture(), "Demo #1 polite-close") }, s.capture)
	if scr := s.capture(); !regexp.MustCompile(`checked: exact \((bpf|tracefs)\)`).MatchString(scr) {
		t.Errorf("the demo pane does not say its paths are checked exactly:\n%s", scr)
	}
	s.keys("D", false)
	lit := func(scr string) bool {
		if !clientPathLine.MatchString(scr) || !serverPathLine.MatchString(scr) {
			return false
		}
		for _, re := range politeCloseBoxes {
			if !re.MatchString(scr) {
				return false
			}
		}
		return true
	}
	waitFor(t, "the diagram to light both paths of polite-close", func() bool { return lit(s.capture()) }, s.capture)
	if scr := s.capture(); !strings.Contains(scr, "TCP state diagram · demo polite-close #1") {
		t.Errorf("the diagram does not name the demo it lights:\n%s", scr)
	}
	s.keys("q", false)
	waitFor(t, "socktop to quit on q", func() bool {
		_, err := s.run("has-session", "-t", s.name)
		return err != nil
	}, func() string { return "session still open" })
}
