package probe

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// orphanEnv makes the test binary a parent that starts a probe child,
// prints its pid and waits to be killed, for TestChildDiesWithParent.
const orphanEnv = "SOCKTOP_PROBE_TEST_PARENT"

func TestMain(m *testing.M) {
	RunChildIfRequested()
	if v := os.Getenv(orphanEnv); v != "" {
		os.Exit(runOrphanParent(v))
	}
	os.Exit(m.Run())
}

func runOrphanParent(portText string) int {
	port, err := strconv.Atoi(portText)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	p := New(nil)
	child, err := p.StartServer(ServerSpec{Name: "server", Port: uint16(port), Backlog: 1})
	if err == nil {
		_, err = child.WaitFor("listen(", childWait)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(child.PID())
	time.Sleep(time.Hour) // until the test kills this process
	return 0
}

// childWait bounds the wait for a probe child's call: a fork and exec of
// this race-built binary on a loaded host. It is a hang guard, not a
// speed requirement.
const childWait = 60 * time.Second
