package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labMissing reports what is left of a demo's namespace and host-side
// veth end, as ip lists them.
func labLeftover(t *testing.T, ns, link string) []string {
	t.Helper()
	var left []string
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == ns {
			left = append(left, "namespace "+line)
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "dev", link).CombinedOutput(); err == nil {
		left = append(left, "link "+strings.TrimSpace(string(out)))
	}
	return left
}

// SIGTERM to `socktop demo run host-crash` while the client retransmits
// ends the run through its Stop: the process exits by itself, and its
// namespace and veth pair are gone.
func TestDemoRunHostCrashSIGTERM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("host-crash needs root")
	}
	cmd := socktopCmd(t, "demo", "run", "host-crash", "--fast")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var ns, link, seen strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		seen.WriteString(line + "\n")
		// "+0.04s  demo: ip netns add NAME = veth LINK ADDR <-> ADDR (inside)"
		if _, rest, ok := strings.Cut(line, "ip netns add "); ok {
			f := strings.Fields(rest)
			if len(f) >= 4 && f[1] == "=" && f[2] == "veth" {
				ns.WriteString(f[0])
				link.WriteString(f[3])
			}
		}
		if strings.Contains(line, "link set dev") {
			break
		}
	}
	if ns.Len() == 0 || link.Len() == 0 {
		t.Fatalf("no namespace in the output:\n%s\nstderr %s", seen.String(), errb.String())
	}
	if left := labLeftover(t, ns.String(), link.String()); len(left) < 2 {
		t.Fatalf("the run's namespace and link should exist while it runs, found %v", left)
	}
	time.Sleep(500 * time.Millisecond) // the client is retransmitting now
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	err = cmd.Wait()
	st := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if st.Signaled() {
		t.Fatalf("socktop died of %v instead of stopping the run: %v\nstderr %s", st.Signal(), err, errb.String())
	}
	if left := labLeftover(t, ns.String(), link.String()); len(left) > 0 {
		t.Errorf("after SIGTERM: %v", left)
	}
}

// As nobody, `socktop demo run host-crash` explains in one line that it
// needs root and why, and exits 1.
func TestDemoRunHostCrashNonRoot(t *testing.T) {
	cmd := socktopCmd(t, "demo", "run", "host-crash", "--fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("as nobody: %v, want exit 1\nstdout %s\nstderr %s", err, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "needs root") || !strings.Contains(lines[0], "creates a network namespace and a veth pair") {
		t.Errorf("stderr should be one line saying it needs root and why:\n%s", errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
}
