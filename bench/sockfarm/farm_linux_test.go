package main

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"socktop/internal/waitfor"
)

// TestMain lets the test binary act as sockfarm itself, so that the farm
// and its re-executed children run the code under test.
func TestMain(m *testing.M) {
	if os.Getenv("SOCKFARM_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// farmRows runs ss and returns the rows that touch one of the listening
// addresses (the listener itself, its accepted sockets, and the clients
// connected to it) as state and "local peer", the addresses as ss prints
// them. While the farm holds its listeners nobody else can have those
// addresses, so these rows are the farm's.
func farmRows(t *testing.T, listen map[netip.AddrPort]bool) [][2]string {
	t.Helper()
	out, err := exec.Command("ss", "-tanH").Output()
	if err != nil {
		t.Fatalf("ss -tanH: %v", err)
	}
	var rows [][2]string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		// ss may print what netip does not parse (`*:P` for a dual-stack
		// listener, zones): such a row is not the farm's.
		local, err1 := netip.ParseAddrPort(f[3])
		peer, err2 := netip.ParseAddrPort(f[4])
		if (err1 == nil && listen[local]) || (err2 == nil && listen[peer]) {
			rows = append(rows, [2]string{f[0], f[3] + " " + f[4]})
		}
	}
	return rows
}

// stateCounts tallies the farm's rows per state.
func stateCounts(rows [][2]string) map[string]int {
	got := map[string]int{}
	for _, r := range rows {
		got[r[0]]++
	}
	return got
}

func runFarm(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-print-listeners"}, args...)...)
	cmd.Env = append(os.Environ(), "SOCKFARM_AS_MAIN=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	listen := map[netip.AddrPort]bool{}
	ready := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == "listen" {
				if ap, err := netip.ParseAddrPort(f[1]); err == nil {
					listen[ap] = true
				}
			}
			if len(f) == 2 && f[0] == "ready" {
				n, _ := strconv.Atoi(f[1])
				ready <- n
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		close(ready)
	}()
	var n int
	waitfor.Recv(t, 60*time.Second, "sockfarm to print ready", ready, func(v int, open bool) bool {
		n = v
		return open
	}, nil)
	if n != 200 {
		t.Errorf("ready %d, want ready 200", n)
	}
	rows := farmRows(t, listen)
	got := stateCounts(rows)
	// 0.3 of 200 in TIME_WAIT, the rest established pairs and listeners.
	if got["TIME-WAIT"] != 60 {
		t.Errorf("ss shows %d TIME-WAIT, want 60 (all: %v)", got["TIME-WAIT"], got)
	}
	if got["LISTEN"] < 2 || got["ESTAB"]%2 != 0 || got["LISTEN"]+got["ESTAB"] != 140 {
		t.Errorf("ss shows %d LISTEN and %d ESTAB, want an even ESTAB and 140 together (all: %v)", got["LISTEN"], got["ESTAB"], got)
	}
	if len(got) != 3 {
		t.Errorf("ss shows states %v, want only LISTEN, ESTAB and TIME-WAIT", got)
	}
	v4, v6 := 0, 0
	for a := range listen {
		if a.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 == 0 || v6 == 0 {
		t.Errorf("listeners %v: want both IPv4 and IPv6", listen)
	}

	stdin.Close()
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sockfarm exit: %v", err)
	}
	// Once the farm is gone its listener ports are free for anyone (they
	// lie in the ephemeral range): only the farm's own rows, by their
	// exact addresses, must be gone.
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r[1]] = true
	}
	for _, r := range farmRows(t, listen) {
		if seen[r[1]] {
			t.Errorf("after stop ss still shows the farm's %s %s", r[0], r[1])
		}
	}
}

// The two farm tests run one after the other: a farm that stops frees
// listener ports another could take, and ss would then see its sockets.

func TestFarmOneProcess(t *testing.T) {
	runFarm(t, "-n", "200", "-tw", "0.3")
}

func TestFarmSpreadOverChildren(t *testing.T) {
	// 250 descriptors per process cannot hold 67 pairs and the listeners:
	// the farm must re-exec itself.
	runFarm(t, "-n", "200", "-tw", "0.3", "-fd-limit", "250")
}
