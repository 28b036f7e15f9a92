package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"socktop/internal/waitfor"
	"socktop/probe"
)

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	got, err := summarizeFetches([]fetch{
		{connect: 1 * ms, first: 3 * ms, last: 5 * ms, received: replyBytes},
		{connect: 2 * ms, first: 4 * ms, last: 7 * ms, received: replyBytes},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := loadResult{Requests: 2, Bytes: 2 * replyBytes, Connect: 1500 * time.Microsecond, Latency: 3500 * time.Microsecond, Response: 6 * ms,
		Kbps: float64(2*replyBytes*8) / 1000 / 0.012}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if _, err := summarizeFetches(nil); err == nil {
		t.Error("summarizeFetches(nil) gave no error")
	}
	if _, err := summarizeFetches([]fetch{{connect: 2 * ms, first: 1 * ms, last: 3 * ms}}); err == nil {
		t.Error("a first byte before the connect was accepted")
	}
}

// forkRecorder is a probe sink that keeps the pid of every process a
// fork() event names, at any depth (a fork-per-connection server's
// children report through it).
type forkRecorder struct {
	mu    sync.Mutex
	pids  []int
	forks map[string]int // by the endpoint that forked, without its pid
}

func (r *forkRecorder) sink(ev probe.Event) {
	if ev.Call != "fork()" || ev.Err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscanf(ev.Result, "pid %d", &pid); err != nil {
		return
	}
	who, _, _ := strings.Cut(ev.Endpoint, " (pid ")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pids = append(r.pids, pid)
	if r.forks == nil {
		r.forks = map[string]int{}
	}
	r.forks[who]++
}

func (r *forkRecorder) snapshot() ([]int, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	forks := map[string]int{}
	for k, v := range r.forks {
		forks[k] = v
	}
	return append([]int(nil), r.pids...), forks
}

// allGone waits until none of pids is a process any more (an orphaned
// grandchild is reaped by init, a moment after its parent died).
func allGone(t *testing.T, pids []int) {
	t.Helper()
	waitfor.UntilShow(t, 30*time.Second, "every forked process to be gone", func() bool {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) != syscall.ESRCH {
				return false
			}
		}
		return true
	}, func() string {
		var alive []int
		for _, pid := range pids {
			if syscall.Kill(pid, 0) != syscall.ESRCH {
				alive = append(alive, pid)
			}
		}
		return fmt.Sprintf("still there: %v", alive)
	})
}

// TestMeasureServers runs the tester against both servers on loopback
// and checks its figures against what the clients must have seen: every
// fetch counted with the whole reply, the times in order, a fork per
// connection for the forking server and one per child for the preforked
// one, and every process gone after Stop.
func TestMeasureServers(t *testing.T) {
	t.Parallel()
	lc := loadConfig{Clients: 2, Requests: 3}
	for _, server := range []string{serverForking, serverPreforked} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			rec := &forkRecorder{}
			p := probe.New(rec.sink)
			defer p.Stop()
			row, err := measureServer(p, loopbackSetting, server, lc, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			n := lc.Clients * lc.Requests
			if row.Fetches != n || row.Bytes != int64(n*replyBytes) || row.ReplyBytes != replyBytes || row.Clients != lc.Clients {
				t.Errorf("%d fetches, %d bytes (reply %d, %d clients), want %d fetches of %d bytes from %d clients",
					row.Fetches, row.Bytes, row.ReplyBytes, row.Clients, n, replyBytes, lc.Clients)
			}
			if row.ConnectMS < 0 || row.LatencyMS < row.ConnectMS || row.ResponseMS < row.LatencyMS || row.ResponseMS <= 0 || row.Kbps <= 0 {
				t.Errorf("figures out of order: connect %v ms, latency %v ms, response %v ms, %v kbit/s",
					row.ConnectMS, row.LatencyMS, row.ResponseMS, row.Kbps)
			}
			if m := material[server]; row.MaterialConnectMS != m.connectMS || row.MaterialKbps != m.kbps {
				t.Errorf("material figures %v / %v, want %v / %v", row.MaterialConnectMS, row.MaterialKbps, m.connectMS, m.kbps)
			}
			pids, forks := rec.snapshot()
			switch server {
			case serverForking:
				// The test process forks the server, the server forks a
				// child per connection.
				if forks["server"] != 1 || forks["server child"] != n {
					t.Errorf("forks %v, want 1 server and %d connection children", forks, n)
				}
			case serverPreforked:
				if len(forks) != preforkChildren || len(pids) != preforkChildren {
					t.Errorf("forks %v, want %d children forked once each", forks, preforkChildren)
				}
			}
			p.Stop()
			allGone(t, pids)
		})
	}
}

// TestMeasureStopped stops the tester's probe while it measures the
// forking server: the measurement ends with ErrStopped and no process
// it forked outlives it.
func TestMeasureStopped(t *testing.T) {
	t.Parallel()
	rec := &forkRecorder{}
	p := probe.New(rec.sink)
	errc := make(chan error, 1)
	go func() {
		_, err := measureServer(p, loopbackSetting, serverForking, loadConfig{Clients: 3, Requests: 1000}, time.Now)
		errc <- err
	}()
	waitfor.Until(t, 60*time.Second, "the forking server to fork for a connection", func() bool {
		_, forks := rec.snapshot()
		return forks["server child"] >= 3
	})
	p.Stop()
	select {
	case err := <-errc:
		if !errors.Is(err, probe.ErrStopped) {
			t.Errorf("measurement ended with %v, want ErrStopped", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the measurement did not end after Stop")
	}
	pids, _ := rec.snapshot()
	allGone(t, pids)
}

// TestPreforkTable runs prefork-server and checks the table it records:
// both servers in every setting this process may measure, each row's
// cells as wide as the columns, its object consistent with the tester's
// counts, and the material's figures beside ours.
func TestPreforkTable(t *testing.T) {
	t.Parallel()
	sc, ok := Find("prefork-server")
	if !ok {
		t.Fatal("no prefork-server")
	}
	if sc.Key != "k" || sc.Section != SectionServers {
		t.Errorf("key %q, section %q", sc.Key, sc.Section)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := Start(ctx, sc, Config{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if err := watch(ctx, r, newCollector(), nil, 50*time.Millisecond, 60*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	tables := r.Tables()
	if len(tables) != 1 || tables[0].Name != concurrentTableName {
		t.Fatalf("tables %+v, want one %s", tables, concurrentTableName)
	}
	tb := tables[0]
	settings := []string{"loopback"}
	if labAllowed() == "" {
		settings = append(settings, "lan")
	}
	if len(tb.Rows) != 2*len(settings) || len(tb.Objects) != len(tb.Rows) {
		t.Fatalf("%d rows, %d objects, want %d of each", len(tb.Rows), len(tb.Objects), 2*len(settings))
	}
	lc := loadConfigFor(Config{Fast: true})
	n := lc.Clients * lc.Requests
	i := 0
	for _, setting := range settings {
		for _, server := range []string{serverForking, serverPreforked} {
			cells, row := tb.Rows[i], tb.Objects[i].(concurrentRow)
			i++
			if len(cells) != len(tb.Columns) {
				t.Errorf("row %v has %d cells for %d columns", cells, len(cells), len(tb.Columns))
			}
			if row.Setting != setting || row.Server != server || cells[0] != setting || cells[1] != server {
				t.Errorf("row %v (%s %s), want %s %s", cells, row.Setting, row.Server, setting, server)
			}
			if row.Fetches != n || row.Bytes != int64(n*replyBytes) {
				t.Errorf("%s %s: %d fetches of %d bytes in all, want %d of %d", setting, server, row.Fetches, row.Bytes, n, replyBytes)
			}
			if row.ConnectMS < 0 || row.LatencyMS < row.ConnectMS || row.ResponseMS < row.LatencyMS || row.Kbps <= 0 {
				t.Errorf("%s %s: figures out of order: %+v", setting, server, row)
			}
			m := material[server]
			want := fmt.Sprintf("(%g)", m.responseMS)
			if !strings.HasSuffix(cells[5], want) {
				t.Errorf("response cell %q does not end with the material's %s", cells[5], want)
			}
		}
	}
	notes := strings.Join(tb.Notes, "\n")
	if (labAllowed() == "") != strings.Contains(notes, "tc tbf;") {
		t.Errorf("notes do not say how lan was measured (or why not):\n%s", notes)
	}
}
