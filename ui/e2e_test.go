package ui

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEndToEndTmux runs the real binary in a detached tmux session at
// 80x24, types a filter at the `/` prompt and reads the screen back: the
// header names the filter and counts the one listener it matches, a
// loopback listener this test opened is listed and another one is not.
func TestEndToEndTmux(t *testing.T) {
	bin, tmux := buildSocktop(t)
	want := listen(t)
	other := listen(t)
	wantPort := strconv.Itoa(want.Addr().(*net.TCPAddr).Port)
	otherPort := strconv.Itoa(other.Addr().(*net.TCPAddr).Port)

	s := startTmux(t, tmux, 80, 24, "env", "TERM=xterm-256color", "NO_COLOR=1", bin, "--interval", "250ms")
	waitFor(t, "the first snapshot", func() bool {
		scr := s.capture()
		return strings.Contains(scr, "netlink") || strings.Contains(scr, "gopsutil")
	}, s.capture)

	// The address narrows the filter to this test's listener alone: the
	// kernel picked its port clear of 127.0.0.1 only, and another program
	// may listen on [::1] with the same number. Nothing else can hold
	// 127.0.0.1 on that port while the listener does.
	filter := "sport = :" + wantPort + " and src 127.0.0.1"
	s.keys("/", false)
	s.keys(filter, false)
	s.keys("Enter", true)
	var screen string
	waitFor(t, "the filtered table", func() bool {
		screen = s.capture()
		return strings.Contains(screen, "filter: "+filter) && tableHas(screen, ":"+wantPort)
	}, s.capture)
	// (Line widths are checked in-process by the golden tests: capture-pane
	// never returns a line wider than the pane.)
	if tableHas(screen, ":"+otherPort) {
		t.Fatalf("the filter let port %s through:\n%s", otherPort, screen)
	}
	if !regexp.MustCompile(`LISTEN 1(\s|$)`).MatchString(screen) {
		t.Fatalf("header counts do not show the one listener:\n%s", screen)
	}
	// q ends the program, and with it the tmux session.
	s.keys("q", false)
	waitFor(t, "socktop to quit on q", func() bool {
		_, err := s.run("has-session", "-t", s.name)
		return err != nil
	}, func() string { return "session still open" })
}

// tableHas reports whether a table row (a line with a state name) names the
// port.
func tableHas(screen, port string) bool {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, "LISTEN ") && strings.Contains(l, port+" ") {
			return true
		}
	}
	return false
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
