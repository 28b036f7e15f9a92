package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

func TestMain(m *testing.M) { kerneltest.Main(m) }

// timeWaits makes n connections to a listener on the test's own address
// that the server closes first, so that each leaves a TIME_WAIT socket on
// the server's side: local 127.a.b.c:port, remote the client. It returns
// the listener's port and the TIME_WAIT sockets' 4-tuples (local, remote).
func timeWaits(t *testing.T, n int) (uint16, map[[2]netip.AddrPort]bool) {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	tuples := make(map[[2]netip.AddrPort]bool)
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		tuples[[2]netip.AddrPort{s.LocalAddr().(*net.TCPAddr).AddrPort(), s.RemoteAddr().(*net.TCPAddr).AddrPort()}] = true
		s.Close()
		// The client reads the server's FIN, then closes: the server's
		// LAST_ACK ends and its side is the one in TIME_WAIT.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read after the server's close: %v, want EOF", err)
		}
		c.Close()
	}
	return port, tuples
}

// ownTimeWaits counts the sockets of snap among tuples that are in
// TIME_WAIT.
func ownTimeWaits(snap *collect.Snapshot, tuples map[[2]netip.AddrPort]bool) int {
	n := 0
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.Proto == collect.TCP && s.State == collect.StateTimeWait && tuples[[2]netip.AddrPort{s.Local, s.Remote}] {
			n++
		}
	}
	return n
}

// gather returns the registry's families by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the series of mf whose labels include
// want, summed over every such series, and how many there were.
func value(mf *dto.MetricFamily, want map[string]string) (float64, int) {
	if mf == nil {
		return 0, 0
	}
	var sum float64
	n := 0
	for _, m := range mf.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		n++
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, n
}

func newExporter(t *testing.T, o Options) *Exporter {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// The TIME_WAIT sockets the test made are counted in socktop_sockets and
// under their own local port, the by-port series of a state add up to its
// total in the same scrape, and the per-state total agrees with a
// snapshot taken before and one after, within what changed between them.
func TestTimeWaitMetrics(t *testing.T) {
	port, tuples := timeWaits(t, 40)
	src := collect.NewNetlink(collect.Options{})
	defer src.Close()
	before, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ownTimeWaits(&before, tuples); got != len(tuples) {
		t.Fatalf("%d of the test's %d connections are in TIME_WAIT before the scrape", got, len(tuples))
	}
	e := newExporter(t, Options{TopPorts: 1 << 16})
	mfs := gather(t, e.Registry())
	after, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ownTimeWaits(&after, tuples); got != len(tuples) {
		t.Fatalf("%d of the test's %d connections are in TIME_WAIT after the scrape", got, len(tuples))
	}

	byPort, n := value(mfs["socktop_sockets_by_local_port"], map[string]string{"state": "TIME_WAIT", "port": strconv.Itoa(int(port))})
	if n != 1 || byPort < float64(len(tuples)) {
		t.Errorf("socktop_sockets_by_local_port{state=TIME_WAIT,port=%d} = %v in %d series, want one series of at least the test's %d", port, byPort, n, len(tuples))
	}
	countTW := func(s *collect.Snapshot) float64 {
		k := 0
		for i := range s.Sockets {
			if s.Sockets[i].Proto == collect.TCP && s.Sockets[i].State == collect.StateTimeWait {
				k++
			}
		}
		return float64(k)
	}
	lo, hi := countTW(&before), countTW(&after)
	if lo > hi {
		lo, hi = hi, lo
	}
	slack := hi - lo
	total, n := value(mfs["socktop_sockets"], map[string]string{"proto": "tcp", "state": "TIME_WAIT"})
	if n != 2 || total < lo-slack || total > hi+slack {
		t.Errorf("socktop_sockets{proto=tcp,state=TIME_WAIT} = %v in %d series; snapshots before and after counted %v and %v", total, n, countTW(&before), countTW(&after))
	}
	for _, st := range []string{"TIME_WAIT", "CLOSE_WAIT"} {
		ports, _ := value(mfs["socktop_sockets_by_local_port"], map[string]string{"state": st})
		all, _ := value(mfs["socktop_sockets"], map[string]string{"proto": "tcp", "state": st})
		if ports != all {
			t.Errorf("%s: the by-port series add up to %v, socktop_sockets to %v in the same scrape", st, ports, all)
		}
	}
}

// With --top-ports N a state has at most N port series and "other", and
// they still add up to the state's total.
func TestTopPortsBound(t *testing.T) {
	timeWaits(t, 3)
	timeWaits(t, 2)
	e := newExporter(t, Options{TopPorts: 1, NoListenerOwners: true})
	mfs := gather(t, e.Registry())
	_, n := value(mfs["socktop_sockets_by_local_port"], map[string]string{"state": "TIME_WAIT"})
	if n != 2 {
		t.Errorf("TIME_WAIT has %d by-port series with top ports 1, want 2 (one port and other)", n)
	}
	other, _ := value(mfs["socktop_sockets_by_local_port"], map[string]string{"state": "TIME_WAIT", "port": "other"})
	ports, _ := value(mfs["socktop_sockets_by_local_port"], map[string]string{"state": "TIME_WAIT"})
	all, _ := value(mfs["socktop_sockets"], map[string]string{"proto": "tcp", "state": "TIME_WAIT"})
	if other < 2 || ports != all {
		t.Errorf("other = %v (want at least the smaller table's 2), ports sum %v, total %v", other, ports, all)
	}
}

// listenRaw listens on the test's own address with the given backlog,
// which net.Listen does not let a caller choose.
func listenRaw(t *testing.T, backlog int) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: kerneltest.Addr4.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, netip.AddrPortFrom(kerneltest.Addr4, uint16(sa.(*unix.SockaddrInet4).Port))
}

// A listener's series say its backlog, how many connections wait to be
// accepted, and the process that holds it.
func TestListenerMetrics(t *testing.T) {
	_, addr := listenRaw(t, 7)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	e := newExporter(t, Options{})
	labels := map[string]string{"local": addr.Addr().String(), "port": strconv.Itoa(int(addr.Port())), "process": strings.TrimSpace(string(comm))}
	var mfs map[string]*dto.MetricFamily
	waitfor.UntilShow(t, 10*time.Second, "the three connections in the accept queue", func() bool {
		mfs = gather(t, e.Registry())
		q, n := value(mfs["socktop_listener_accept_queue"], labels)
		return n == 1 && q == 3
	}, func() string { return fmt.Sprint(mfs["socktop_listener_accept_queue"]) })
	if b, n := value(mfs["socktop_listener_backlog"], labels); n != 1 || b != 7 {
		t.Errorf("socktop_listener_backlog%v = %v in %d series, want 7 in one", labels, b, n)
	}
}

// The retransmission counter is the host's RetransSegs, read between a
// reading before and one after.
func TestRetransCounter(t *testing.T) {
	b0, ok := readRetransSegs()
	if !ok {
		t.Fatal("no Tcp RetransSegs in /proc/net/snmp")
	}
	e := newExporter(t, Options{NoListenerOwners: true})
	mfs := gather(t, e.Registry())
	b1, _ := readRetransSegs()
	v, n := value(mfs["socktop_tcp_retransmitted_segments_total"], nil)
	if n != 1 || v < float64(b0) || v > float64(b1) {
		t.Errorf("socktop_tcp_retransmitted_segments_total = %v (%d series), want between %d and %d", v, n, b0, b1)
	}
}

// A scrape over HTTP is valid exposition by promtool's rules.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; scripts/test.sh installs it)")
	}
	timeWaits(t, 2)
	e := newExporter(t, Options{})
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, fam := range []string{"socktop_sockets", "socktop_listener_backlog", "socktop_scrape_duration_seconds", "socktop_tcp_retransmitted_segments_total"} {
		if !bytes.Contains(body, []byte("\n"+fam+"{")) && !bytes.Contains(body, []byte("\n"+fam+" ")) {
			t.Errorf("the scrape has no %s", fam)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func get(t *testing.T, url string, want int) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d: %s", url, resp.Status, want, body)
	}
	return body
}

// /snapshot is the JSON contract, narrowed by ?filter; a bad filter is a
// 400 naming the problem.
func TestSnapshotEndpoint(t *testing.T) {
	port, tuples := timeWaits(t, 3)
	e := newExporter(t, Options{NoListenerOwners: true})
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	body := get(t, srv.URL+"/snapshot?filter="+strings.ReplaceAll(fmt.Sprintf("state time-wait and src %s", kerneltest.Addr4), " ", "+"), http.StatusOK)
	var doc struct {
		Source      string `json:"source"`
		OwnersKnown bool   `json:"owners_known"`
		Sockets     []struct {
			State string `json:"state"`
			Local struct {
				Addr string
				Port uint16
			}
			Remote struct {
				Addr string
				Port uint16
			}
		} `json:"sockets"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("/snapshot is not JSON: %v\n%s", err, body)
	}
	found := 0
	for _, s := range doc.Sockets {
		l := netip.AddrPortFrom(netip.MustParseAddr(s.Local.Addr), s.Local.Port)
		r := netip.AddrPortFrom(netip.MustParseAddr(s.Remote.Addr), s.Remote.Port)
		if s.State != "TIME_WAIT" || l.Addr() != kerneltest.Addr4 {
			t.Errorf("the filter let through %s %v -> %v", s.State, l, r)
		}
		if tuples[[2]netip.AddrPort{l, r}] {
			found++
		}
	}
	if found != len(tuples) || doc.Source != "netlink" || doc.OwnersKnown {
		t.Errorf("/snapshot: %d of the test's %d TIME_WAIT sockets (port %d), source %q, owners_known %v", found, len(tuples), port, doc.Source, doc.OwnersKnown)
	}
	if b := get(t, srv.URL+"/snapshot?filter=sport+%3D+%3Ax", http.StatusBadRequest); !bytes.Contains(b, []byte("column")) {
		t.Errorf("a bad filter's answer does not name the column: %s", b)
	}
}

// As root with BPF, the kernel's events feed the transition and closed
// counters and the lifetime histogram: connections made after the
// exporter started add to each at least as many as the test made.
func TestEventMetrics(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the BPF reader")
	}
	st, err := events.Open(events.Options{Mode: events.ModeBPF, Closed: true})
	if err != nil {
		t.Fatalf("BPF events as root: %v", err)
	}
	defer st.Close()
	e := newExporter(t, Options{Events: st, NoListenerOwners: true})
	mfs := gather(t, e.Registry())
	opened0, _ := value(mfs["socktop_transitions_total"], map[string]string{"from": "CLOSED", "to": "SYN_SENT"})
	closed0, _ := value(mfs["socktop_closed_connections_total"], map[string]string{"proto": "tcp", "family": "ipv4"})
	life0, _ := value(mfs["socktop_connection_lifetime_seconds"], nil)
	const n = 10
	timeWaits(t, n)
	waitfor.UntilShow(t, 15*time.Second, "the test's connections in the event metrics", func() bool {
		mfs = gather(t, e.Registry())
		opened, _ := value(mfs["socktop_transitions_total"], map[string]string{"from": "CLOSED", "to": "SYN_SENT"})
		closed, _ := value(mfs["socktop_closed_connections_total"], map[string]string{"proto": "tcp", "family": "ipv4"})
		// Both ends of each connection are destroyed, and both opened
		// (connect, and the SYN's child on the listener).
		life, _ := value(mfs["socktop_connection_lifetime_seconds"], nil)
		return opened-opened0 >= n && closed-closed0 >= n && life-life0 >= n
	}, func() string {
		return fmt.Sprint(mfs["socktop_transitions_total"], mfs["socktop_closed_connections_total"], mfs["socktop_connection_lifetime_seconds"])
	})
}

// Without privilege the exporter serves the table, and the metrics that
// need the tracepoint are absent, with one notice saying so.
func TestNonRootNoEventMetrics(t *testing.T) {
	if !kerneltest.AsNobody(t) {
		return
	}
	st, err := events.Open(events.Options{Closed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newExporter(t, Options{Events: st})
	mfs := gather(t, e.Registry())
	if _, n := value(mfs["socktop_sockets"], nil); n == 0 {
		t.Error("no socktop_sockets as nobody")
	}
	for _, fam := range []string{"socktop_transitions_total", "socktop_connection_lifetime_seconds"} {
		if mfs[fam] != nil {
			t.Errorf("%s present without privilege", fam)
		}
	}
	told := 0
	for _, n := range e.Notices() {
		if strings.Contains(n, "socktop_transitions_total") && strings.Contains(n, "absent") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("notices %q: want one naming the absent metrics", e.Notices())
	}
}
