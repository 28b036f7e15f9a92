//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
)

// cliNetns makes a named network namespace with lo up and a TCP listener
// inside, opened by this process; the namespace is deleted when the test
// ends. It returns the name and the listener's inode.
func cliNetns(t *testing.T) (string, uint64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("ip netns add needs root")
	}
	name := fmt.Sprintf("socktop-test-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	var ln *net.TCPListener
	func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			t.Fatal(err)
		}
		defer orig.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			runtime.UnlockOSThread()
			t.Fatal(err)
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			t.Fatal(err)
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				t.Fatalf("back from %s: %v", name, err) // the thread stays locked and is retired
			}
			runtime.UnlockOSThread()
		}()
		// socket() runs on this locked thread, so the listener lives in
		// the namespace whatever thread later serves it.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln = l.(*net.TCPListener)
	}()
	t.Cleanup(func() { ln.Close() })
	return name, inodeOf(t, ln)
}

// netnsOf returns the "netns" object of a JSON socket.
func netnsOf(t *testing.T, s map[string]json.RawMessage) (inode uint64, name string) {
	t.Helper()
	var ns struct {
		Inode uint64 `json:"inode"`
		Name  string `json:"name"`
	}
	if err := json.Unmarshal(s["netns"], &ns); err != nil {
		t.Fatalf("netns %s: %v", s["netns"], err)
	}
	return ns.Inode, ns.Name
}

// `socktop --once --json --all-netns` lists a listener that lives only
// in a test namespace, with the namespace's name; the filter `netns NAME`
// keeps that namespace's sockets and no other.
func TestAllNetNSJSON(t *testing.T) {
	name, inode := cliNetns(t)
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+name, &st); err != nil {
		t.Fatal(err)
	}
	for _, filter := range []string{"", "netns " + name} {
		args := []string{"--once", "--json", "--all-netns"}
		if filter != "" {
			args = append(args, filter)
		}
		out, err := socktopCmd(t, args...).Output()
		if err != nil {
			t.Fatalf("socktop %q: %v", args, err)
		}
		doc := parseDoc(t, out)
		s := socketWithInode(doc, inode)
		if s == nil {
			t.Fatalf("socktop %q: the listener of %s (inode %d) is missing", args, name, inode)
		}
		if ino, n := netnsOf(t, s); ino != st.Ino || n != name {
			t.Errorf("socktop %q: listener in netns %d %q, want %d %q", args, ino, n, st.Ino, name)
		}
		hosts := 0
		for _, s := range doc.Sockets {
			ino, n := netnsOf(t, s)
			if n == "host" {
				hosts++
			}
			if filter != "" && (ino != st.Ino || n != name) {
				t.Errorf("socktop %q keeps a socket of netns %d %q", args, ino, n)
			}
		}
		if filter == "" && hosts == 0 {
			t.Errorf("socktop %q: no socket of the host namespace", args)
		}
	}
	// Without --all-netns the listener is not there.
	out, err := socktopCmd(t, "--once", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	if socketWithInode(parseDoc(t, out), inode) != nil {
		t.Errorf("the listener of %s shows without --all-netns", name)
	}
}

// ssStateOf maps socktop's state names to ss's, for comparing tables.
var ssStateOf = map[string]string{
	"LISTEN": "LISTEN", "ESTABLISHED": "ESTAB", "UNCONN": "UNCONN", "TIME_WAIT": "TIME-WAIT",
	"SYN_SENT": "SYN-SENT", "SYN_RECV": "SYN-RECV", "FIN_WAIT_1": "FIN-WAIT-1", "FIN_WAIT_2": "FIN-WAIT-2",
	"CLOSE_WAIT": "CLOSE-WAIT", "LAST_ACK": "LAST-ACK", "CLOSING": "CLOSING",
}

// tableRows reads `socktop --once -H` rows as ss -tanuH would print
// them: netid state recv-q send-q local peer.
func tableRows(t *testing.T, out []byte) []string {
	t.Helper()
	var rows []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("short row %q", line)
		}
		proto := strings.TrimSuffix(f[0], "6")
		rows = append(rows, strings.Join([]string{proto, ssStateOf[f[5]], f[1], f[2], f[3], f[4]}, " "))
	}
	slices.Sort(rows)
	return rows
}

// `socktop --once -N NAME` agrees with `ip netns exec NAME ss -tanuH`, and
// -N with the namespace's path or the pid of a process inside lists the
// same.
func TestOnceNetNSAgreesWithSS(t *testing.T) {
	name, _ := cliNetns(t)
	// A connection inside too, made by ss's own namespace-mate.
	sleep := exec.Command("ip", "netns", "exec", name, "python3", "-c",
		"import socket,time\nl=socket.socket();l.bind(('127.0.0.1',0));l.listen()\n"+
			"c=socket.create_connection(l.getsockname());a=l.accept()\n"+
			"u=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);u.bind(('::1',0))\nprint('ready',flush=True)\ntime.sleep(60)")
	stdout, err := sleep.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sleep.Start(); err != nil {
		t.Skipf("python3 in the namespace: %v", err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child not ready: %q %v", line, err)
	}
	ssOut, err := exec.Command("ip", "netns", "exec", name, "ss", "-tanuH").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(ssOut)), "\n") {
		want = append(want, strings.Join(strings.Fields(line), " "))
	}
	slices.Sort(want)
	if len(want) != 5 {
		t.Fatalf("ss in %s lists %d sockets, want 5:\n%s", name, len(want), ssOut)
	}
	pid := strconv.Itoa(sleep.Process.Pid)
	for _, arg := range []string{name, "/run/netns/" + name, pid} {
		var errb bytes.Buffer
		cmd := socktopCmd(t, "--once", "-H", "-N", arg)
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("-N %s: %v\n%s", arg, err, errb.String())
		}
		if got := tableRows(t, out); !slices.Equal(got, want) {
			t.Errorf("-N %s lists\n%s\nss in the namespace lists\n%s", arg, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	code, _, errs := runCLI("--once", "-N", "socktop-test-nosuch")
	if code != 2 || !strings.Contains(errs, "no network namespace named") {
		t.Errorf("-N of no namespace: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCLI("--once", "-N", name, "--all-netns")
	if code != 2 || !strings.Contains(errs, "do not combine") {
		t.Errorf("-N with --all-netns: exit %d, stderr %q", code, errs)
	}
}

// Without CAP_SYS_ADMIN, --all-netns shows socktop's own namespace and
// says once that the others are left out.
func TestAllNetNSNotRoot(t *testing.T) {
	name, inode := cliNetns(t)
	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	own := inodeOf(t, ln)
	cmd := socktopCmd(t, "--once", "--json", "--all-netns", "-t")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, errb.String())
	}
	doc := parseDoc(t, out)
	if socketWithInode(doc, own) == nil {
		t.Errorf("as nobody: own namespace's listener :%d missing", port)
	}
	if socketWithInode(doc, inode) != nil {
		t.Errorf("as nobody: the listener of %s is listed", name)
	}
	const notice = "not permitted to enter other network namespaces (setns needs CAP_SYS_ADMIN)"
	if c := strings.Count(errb.String(), notice); c != 1 {
		t.Errorf("as nobody: the notice %q told %d times: %q", notice, c, errb.String())
	}
}
