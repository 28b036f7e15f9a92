//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"socktop/demo"
	"socktop/internal/kerneltest"
	"socktop/probe"
)

// mainEnv makes this test binary run socktop's main with its arguments,
// so tests can run socktop as its own process: under a descriptor limit,
// or as another user.
const mainEnv = "SOCKTOP_TEST_MAIN"

func init() {
	if os.Getenv(mainEnv) == "1" {
		os.Unsetenv(mainEnv) // not for the demo's child processes
		probe.RunChildIfRequested()
		os.Exit(start(os.Args[1:]))
	}
}

var binOnce struct {
	sync.Once
	path string
	err  error
}

// socktopBin returns a copy of this test binary in a directory every user
// can read, which runs as socktop when mainEnv is set.
func socktopBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			binOnce.err = err
			return
		}
		dir, err := os.MkdirTemp("", "socktop-bin-")
		if err != nil {
			binOnce.err = err
			return
		}
		binOnce.path = filepath.Join(dir, "socktop")
		binOnce.err = kerneltest.CopyExecutable(self, binOnce.path)
		if binOnce.err == nil {
			binOnce.err = os.Chmod(dir, 0o755)
		}
	})
	if binOnce.err != nil {
		t.Fatal(binOnce.err)
	}
	return binOnce.path
}

// socktopCmd returns a command that runs socktop with args.
func socktopCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(socktopBin(t), args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	cmd.Dir = filepath.Dir(cmd.Path)
	return cmd
}

// runCLI runs the command line in-process and returns its exit status and
// output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// Bad flags exit 2 with the usage on stderr and the flag named as it was
// typed; nothing goes to stdout.
func TestBadFlagsNamedAsTyped(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"--once", "8080", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"-tz"}, "'z' in -tz"},
		{[]string{"-t", "-ulz"}, "'z' in -ulz"},
		{[]string{"-bogus"}, "'b' in -bogus"},
		{[]string{"--source", "bogus"}, `--source "bogus": want auto, netlink or gopsutil`},
		{[]string{"--version", "extra"}, `--version takes no arguments, got "extra"`},
		{[]string{"-s", "--json"}, "do not combine"},
		{[]string{"--services", "-n", "--once"}, "--services and -n contradict"},
		{[]string{"--interval"}, "flag needs an argument: --interval"},
		{[]string{"--events", "bogus"}, `--events "bogus": want auto, bpf, tracefs or sampled`},
		{[]string{"--events", "BPF", "--once"}, `--events "BPF": want auto, bpf, tracefs or sampled`},
	}
	for _, c := range cases {
		code, out, errs := runCLI(c.args...)
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", c.args, code, out)
		}
		if !strings.Contains(errs, c.want) || !strings.Contains(errs, "\nUsage:\n") {
			t.Errorf("%q: stderr %q, want %q and the usage", c.args, errs, c.want)
		}
		if strings.Contains(errs, "source unsupported here") {
			t.Errorf("%q: a bad name is not an unsupported source: %q", c.args, errs)
		}
	}
}

// Everything after -- is filter text: flags there are words.
func TestDashDashEndsFlags(t *testing.T) {
	cfg, err := parseArgs([]string{"--once", "--", "2024", "-u"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.udp || !cfg.once || cfg.filter != "2024 -u" {
		t.Errorf("--once -- 2024 -u: udp %v once %v filter %q; want -u in the filter", cfg.udp, cfg.once, cfg.filter)
	}
	cfg, err = parseArgs([]string{"-t", "--", "--once", "8080"})
	if err != nil || cfg.once || cfg.filter != "--once 8080" {
		t.Errorf("-t -- --once 8080: %+v, %v", cfg, err)
	}
	// As a filter, "-u" does not parse: a filter error (no usage), not a flag.
	code, _, errs := runCLI("--once", "--", "2024", "-u")
	if code != 2 || !strings.Contains(errs, `"-u"`) || strings.Contains(errs, "Usage:") {
		t.Errorf("--once -- 2024 -u: exit %d, stderr %q; want a filter error about -u", code, errs)
	}
}

// ss's -n -p -o -e are accepted (socktop always does what they ask); -H
// drops the header; -s counts.
func TestSSHabitFlags(t *testing.T) {
	_, port := listen(t, "tcp4", "127.0.0.1:0")
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	uport := u.LocalAddr().(*net.UDPAddr).Port
	// Our sockets, found by the pid holding them and their ports.
	mine := fmt.Sprintf("pid %d and (sport = :%d or sport = :%d)", os.Getpid(), port, uport)

	code, withHeader, errs := runCLI("--once", "-tunope", mine)
	if code != 0 {
		t.Fatalf("-tunope: exit %d: %s", code, errs)
	}
	code, noHeader, errs := runCLI("--once", "-H", "-tu", mine)
	if code != 0 {
		t.Fatalf("-H: exit %d: %s", code, errs)
	}
	wl, nl := strings.Split(strings.TrimSpace(withHeader), "\n"), strings.Split(strings.TrimSpace(noHeader), "\n")
	if len(wl) != 3 || !strings.HasPrefix(wl[0], "Proto") {
		t.Fatalf("want a header and our two sockets:\n%s", withHeader)
	}
	if len(nl) != 2 || strings.HasPrefix(nl[0], "Proto") {
		t.Errorf("-H: want our two sockets and no header:\n%s", noHeader)
	}

	code, sum, errs := runCLI("-s", mine)
	if code != 0 {
		t.Fatalf("-s: exit %d: %s", code, errs)
	}
	for _, want := range []string{"Total: 2\n", "TCP                 1        1        0", "UDP                 1        1        0",
		"LISTEN              1        0", "UNCONN              0        1"} {
		if !strings.Contains(sum, want) {
			t.Errorf("-s lacks %q:\n%s", want, sum)
		}
	}

	// -i is tested in main_rates_test.go.
}

func TestVersionAndHelp(t *testing.T) {
	code, out, errs := runCLI("--version")
	if code != 0 || !strings.HasPrefix(out, "socktop ") || errs != "" {
		t.Errorf("--version: exit %d, %q %q", code, out, errs)
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"demo", "run", "--help"}, {"completion", "--help"}} {
		code, out, errs := runCLI(args...)
		if code != 0 || !strings.Contains(out, "Usage:\n") || errs != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

// The README's usage block is `socktop --help`, word for word.
func TestREADMEQuotesHelp(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, help, _ := runCLI("--help")
	if !strings.Contains(string(readme), "```\n"+help+"```\n") {
		t.Errorf("README.md does not quote socktop --help; it should hold, in a code block:\n%s", help)
	}
}

// Bad demo command lines exit 2 with the demo usage on stderr.
func TestDemoBadUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demo"}, "list or run"},
		{[]string{"demo", "frobnicate"}, `"frobnicate"`},
		{[]string{"demo", "list", "extra"}, `"extra"`},
		{[]string{"demo", "run"}, "arg"},
		{[]string{"demo", "run", "no-such-scenario"}, `unknown scenario "no-such-scenario"`},
		{[]string{"demo", "run", "udp", "polite-close"}, "arg"},
		{[]string{"demo", "run", "udp", "--port", "abc"}, "--port"},
		{[]string{"demo", "run", "udp", "--port", "70000"}, "70000 is not a port"},
		{[]string{"demo", "run", "server-restart", "--reuseaddr=maybe"}, `"maybe"`},
		{[]string{"demo", "run", "udp", "--timeout", "-1s"}, "--timeout"},
		{[]string{"demo", "run", "udp", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"demo", "run", "polite-close", "--reuseaddr=true"}, "polite-close does not use SO_REUSEADDR"},
		{[]string{"demo", "run", "polite-close", "--reuseaddr"}, "polite-close does not use SO_REUSEADDR"},
		{[]string{"completion"}, "bash, zsh or fish"},
		{[]string{"completion", "tcsh"}, `"tcsh"`},
	} {
		code, out, errs := runCLI(c.args...)
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", c.args, code, out)
		}
		if !strings.Contains(errs, c.want) || !strings.Contains(errs, "Usage:\n  socktop ") {
			t.Errorf("%q: stderr %q, want %q and the usage", c.args, errs, c.want)
		}
	}
}

// parseDemoRun parses a `demo run` command line as the command does.
func parseDemoRun(args ...string) (*demo.Scenario, demo.RunOptions, error) {
	var fl demoRunFlags
	cmd := newDemoRunCmd(&fl, io.Discard, io.Discard)
	if err := cmd.ParseFlags(args); err != nil {
		return nil, demo.RunOptions{}, err
	}
	if cmd.Flags().NArg() != 1 {
		return nil, demo.RunOptions{}, fmt.Errorf("%d names", cmd.Flags().NArg())
	}
	return demoRunOptions(cmd, &fl, cmd.Flags().Arg(0))
}

func TestDemoRunFlags(t *testing.T) {
	sc, o, err := parseDemoRun("server-restart")
	if err != nil || o.Config.ReuseAddr != sc.ReuseAddr || o.Timeout != time.Minute || o.JSON {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	// Flags before or after the name, in any spelling of true.
	for _, args := range [][]string{
		{"server-restart", "--reuseaddr=true", "--port=12345", "--timeout=5s", "--json", "--fast"},
		{"--reuseaddr", "--port", "12345", "--timeout", "5s", "--json", "--fast", "server-restart"},
		{"--reuseaddr=yes", "--port=12345", "server-restart", "--timeout=5s", "--json", "--fast"},
	} {
		_, o, err := parseDemoRun(args...)
		if err != nil || !o.Config.ReuseAddr || o.Config.Port != 12345 || o.Timeout != 5*time.Second || !o.JSON || !o.Config.Fast {
			t.Errorf("%q: %+v, %v", args, o, err)
		}
	}
	if _, o, err := parseDemoRun("server-restart", "--reuseaddr=off"); err != nil || o.Config.ReuseAddr {
		t.Errorf("--reuseaddr=off: %+v, %v", o, err)
	}
}

func TestDemoListAndRun(t *testing.T) {
	code, out, errs := runCLI("demo", "list")
	if code != 0 || errs != "" {
		t.Fatalf("demo list: exit %d, stderr %q", code, errs)
	}
	for _, sc := range demo.Catalogue() {
		if !strings.Contains(out, "  "+sc.Name+" ") {
			t.Errorf("demo list lacks %s:\n%s", sc.Name, out)
		}
	}
	code, out, errs = runCLI("demo", "list", "--json")
	if code != 0 || errs != "" {
		t.Fatalf("demo list --json: exit %d, stderr %q", code, errs)
	}
	if n := strings.Count(out, "\n"); n != len(demo.Catalogue()) {
		t.Errorf("demo list --json: %d lines for %d scenarios", n, len(demo.Catalogue()))
	}
	port, err := probe.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI("demo", "run", "udp", "--fast", "--port", strconv.Itoa(int(port)), "--json")
	if code != 0 {
		t.Fatalf("demo run udp: exit %d\n%s\nstderr %s", code, out, errs)
	}
	// NDJSON: one object a line, the result last.
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", sc.Text(), err)
		}
	}
	if last["type"] != "result" || last["ok"] != true {
		t.Errorf("last line %v, want an ok result", last)
	}
}

// The completion scripts are generated, and bash can load its own.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errs := runCLI("completion", shell)
		if code != 0 || len(out) < 1000 || !strings.Contains(out, "socktop") {
			t.Fatalf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errs)
		}
		if shell != "bash" {
			continue
		}
		f := filepath.Join(t.TempDir(), "socktop.bash")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n on the bash completion: %v\n%s", err, msg)
		}
	}
	// The scripts call back into socktop, which offers the scenario names.
	code, out, _ := runCLI("__complete", "demo", "run", "")
	if code != 0 || !strings.Contains(out, "polite-close") {
		t.Errorf("completing demo run: exit %d, %q", code, out)
	}
}

// With too few descriptors socktop names the limit instead of dying in
// the Go runtime (eventfd failed) or blaming its sources.
func TestTooFewDescriptors(t *testing.T) {
	bin := socktopBin(t)
	for _, n := range []int{8, 5} {
		cmd := exec.Command("sh", "-c", fmt.Sprintf("ulimit -n %d && exec \"$0\" --once", n), bin)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		want := fmt.Sprintf("socktop: too few file descriptors: ulimit -n is %d, socktop needs at least %d\n", n, minFDs)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || errb.String() != want || out.Len() != 0 {
			t.Errorf("ulimit -n %d: %v, stdout %q, stderr %q; want exit 1 and %q", n, err, out.String(), errb.String(), want)
		}
	}
}

func TestFDHintNamesEMFILE(t *testing.T) {
	hint := fdHint(fmt.Errorf("collect: open NETLINK_SOCK_DIAG: %w", syscall.EMFILE))
	if !strings.Contains(hint, "EMFILE") || !strings.Contains(hint, "ulimit -n") {
		t.Errorf("hint %q does not name EMFILE and the limit", hint)
	}
	if h := fdHint(fmt.Errorf("x: %w", syscall.EPERM)); h != "" {
		t.Errorf("hint for EPERM: %q", h)
	}
}

// inodeOf returns the socket inode of a listener, the key the JSON tests
// find it by.
func inodeOf(t *testing.T, ln *net.TCPListener) uint64 {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// jsonDoc is the snapshot document, with the sockets left raw so that a
// test can tell an absent field from a zero.
type jsonDoc struct {
	Source        string `json:"source"`
	OwnersKnown   *bool  `json:"owners_known"`
	OwnersPartial *bool  `json:"owners_partial"`
	Sockets       []map[string]json.RawMessage
}

func parseDoc(t *testing.T, b []byte) jsonDoc {
	t.Helper()
	var doc jsonDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	if doc.OwnersKnown == nil || doc.OwnersPartial == nil {
		t.Fatalf("owners_known or owners_partial missing: %s", b)
	}
	return doc
}

// socketWithInode returns the document's socket with that inode, or nil.
func socketWithInode(doc jsonDoc, inode uint64) map[string]json.RawMessage {
	for _, s := range doc.Sockets {
		if string(s["inode"]) == strconv.FormatUint(inode, 10) {
			return s
		}
	}
	return nil
}

// The gopsutil source cannot know queues, timers, uids or inodes: the JSON
// leaves them out and the table shows "?".
func TestGopsutilUnknownFields(t *testing.T) {
	_, port := listen(t, "tcp4", "127.0.0.1:0")
	// gopsutil names one owner per socket: ours is found by our pid.
	mine := fmt.Sprintf("pid %d and sport = :%d", os.Getpid(), port)
	code, out, errs := runCLI("--json", "--source", "gopsutil", "-t", mine)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(errs, "as 0") || !strings.Contains(errs, "shown as ?") {
		t.Errorf("the notice should say the fields show as ?: %q", errs)
	}
	doc := parseDoc(t, []byte(out))
	if doc.Source != "gopsutil" || len(doc.Sockets) != 1 {
		t.Fatalf("want our one listener from gopsutil:\n%s", out)
	}
	s := doc.Sockets[0]
	for _, k := range []string{"recv_q", "send_q", "uid", "inode", "cookie", "timer", "timer_ms", "retrans"} {
		if v, ok := s[k]; ok {
			t.Errorf("gopsutil JSON has %q = %s, which it cannot know", k, v)
		}
	}
	for _, k := range []string{"proto", "family", "state", "local", "remote", "owners"} {
		if _, ok := s[k]; !ok {
			t.Errorf("gopsutil JSON lacks %q: %v", k, s)
		}
	}
	if !*doc.OwnersKnown || !*doc.OwnersPartial {
		t.Errorf("gopsutil owners: known %v partial %v, want known and partial (one owner per socket)", *doc.OwnersKnown, *doc.OwnersPartial)
	}

	code, out, errs = runCLI("--once", "-H", "--source", "gopsutil", "-t", mine)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f := strings.Fields(out)
	// Proto Recv-Q Send-Q Local Foreign State Process Timer
	if len(f) != 8 || f[1] != "?" || f[2] != "?" || f[7] != "?" || f[5] != "LISTEN" {
		t.Errorf("gopsutil row %q: want ? for the queues and the timer", out)
	}
}

// --no-owners: the snapshot says owners were not looked up, and no socket
// claims an empty owner list.
func TestNoOwnersJSON(t *testing.T) {
	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	inode := inodeOf(t, ln)
	code, out, errs := runCLI("--json", "--no-owners", "-t", "sport = :"+strconv.Itoa(port))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	doc := parseDoc(t, []byte(out))
	if *doc.OwnersKnown || *doc.OwnersPartial {
		t.Errorf("--no-owners: owners_known %v, owners_partial %v; want false, false", *doc.OwnersKnown, *doc.OwnersPartial)
	}
	if socketWithInode(doc, inode) == nil {
		t.Fatalf("our listener (inode %d) is missing:\n%s", inode, out)
	}
	for _, s := range doc.Sockets {
		if v, ok := s["owners"]; ok {
			t.Errorf("--no-owners: a socket has owners %s", v)
		}
	}
	code, out, _ = runCLI("--once", "-H", "--no-owners", "-t", "sport = :"+strconv.Itoa(port))
	if f := strings.Fields(out); code != 0 || len(f) < 7 || f[6] != "?" {
		t.Errorf("--no-owners table row %q: want ? in the Process column", out)
	}
}

// As nobody, socktop cannot read root's /proc/PID/fd: the snapshot says
// its owners are partial, and this (root) process's listener, whose owner
// it could not see, has no owners field rather than an empty one.
func TestNonRootOwnersPartial(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run socktop as nobody beside a root-held socket")
	}
	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	inode := inodeOf(t, ln)
	cmd := socktopCmd(t, "--json", "-t", "sport = :"+strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, errb.String())
	}
	doc := parseDoc(t, out)
	if !*doc.OwnersKnown || !*doc.OwnersPartial {
		t.Errorf("as nobody: owners_known %v, owners_partial %v; want true, true", *doc.OwnersKnown, *doc.OwnersPartial)
	}
	s := socketWithInode(doc, inode)
	if s == nil {
		t.Fatalf("our listener (inode %d) is missing:\n%s", inode, out)
	}
	if v, ok := s["owners"]; ok {
		t.Errorf("as nobody, root's listener has owners %s; want the field absent (unknown)", v)
	}
	if !strings.Contains(errb.String(), "not root") {
		t.Errorf("no not-root notice on stderr: %q", errb.String())
	}
}

// ss's flag list is accepted whole, so a habit does not hit a Go flag
// error.
func TestSSFlagsAccepted(t *testing.T) {
	for _, f := range []string{"-t", "-u", "-4", "-6", "-l", "-a", "-n", "-p", "-o", "-e", "-H", "-s"} {
		cfg, err := parseArgs([]string{f})
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if slices.Contains([]string{"-o", "-e"}, f) && !(cfg.options || cfg.extended) {
			t.Errorf("%s parsed to nothing: %+v", f, cfg)
		}
	}
}

// A demo whose server is a child copy of the binary (server-crash kills
// it) still works through the command line: the child is dispatched
// before cobra sees its argv.
func TestDemoChildThroughCLI(t *testing.T) {
	cmd := socktopCmd(t, "demo", "run", "server-crash", "--fast")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "result: every promise kept") {
		t.Fatalf("demo run server-crash: %v\n%s", err, out)
	}
}
