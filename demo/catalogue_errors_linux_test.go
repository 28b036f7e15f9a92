package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"socktop/internal/waitfor"
)

// TestAcceptAbortStopWhileBlocked stops accept-abort while its thread is
// asleep in accept(): closing the listener would not wake it, so Stop has
// to shut the socket down, or the run would never end.
func TestAcceptAbortStopWhileBlocked(t *testing.T) {
	t.Parallel()
	sc, _ := Find("accept-abort")
	r, err := Start(context.Background(), sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	logText := func() string {
		var b strings.Builder
		for _, ev := range r.Log() {
			b.WriteString(ev.String() + "\n")
		}
		return b.String()
	}
	waitfor.UntilShow(t, 60*time.Second, "the thread asleep in accept()", func() bool {
		return strings.Contains(logText(), "= asleep in accept4")
	}, logText)
	if strings.Contains(logText(), "shutdown(SHUT_RDWR) = 0") {
		t.Skip("the steps shut the listener down before the test could stop the run")
	}
	stopped := make(chan struct{})
	go func() { r.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatalf("Stop did not return while a thread was blocked in accept():\n%s", logText())
	}
	select {
	case <-r.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	log := logText()
	for _, want := range []string{"server: shutdown(SHUT_RDWR) [stop] = 0", "] = EINVAL"} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the narration:\n%s", want, log)
		}
	}
	if fds := ownFDsOnPorts(t, r.Ports()); len(fds) > 0 {
		t.Errorf("after Stop, this process still holds %v", fds)
	}
}
