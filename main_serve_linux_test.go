package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"socktop/internal/kerneltest"
	"socktop/internal/waitfor"
)

// Bad serve flags exit 2 with a message that names the problem.
func TestServeBadFlags(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "0.0.0.0:9733"}, "--allow-remote"},
		{[]string{"serve", "--listen", ":9733"}, "--allow-remote"},
		{[]string{"serve", "--listen", "[::]:9733"}, "--allow-remote"},
		{[]string{"serve", "--listen", "example.com:9733"}, "--allow-remote"},
		{[]string{"serve", "--listen", "127.0.0.1"}, "--listen"},
		{[]string{"serve", "--listen", "127.0.0.1:nope"}, "port"},
		{[]string{"serve", "--top-ports", "0"}, "--top-ports"},
		{[]string{"serve", "--events", "nope"}, "--events"},
		{[]string{"serve", "--source", "nope"}, "--source"},
		{[]string{"serve", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"serve", "extra"}, "unknown command"},
		{[]string{"serve", "--web.config.file", "/nonexistent/web.yml"}, "web.config.file"},
		{[]string{"serve", "--web.config.file", cfg}, "nonexistent"},
	}
	for _, c := range cases {
		code, out, errb := runCLI(c.args...)
		if code != 2 || !strings.Contains(errb, c.want) || out != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and a message naming %q", c.args, code, errb, out, c.want)
		}
	}
}

// serveRun is a running `socktop serve`.
type serveRun struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	errb strings.Builder
}

func (r *serveRun) stderr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errb.String()
}

var servingRe = regexp.MustCompile(`serving .* on (127\.0\.0\.1:\d+):`)

// startServe starts `socktop serve --listen 127.0.0.1:0 ARGS` from cmd's
// arguments and waits for the line that says where it listens.
func startServe(t *testing.T, cmd *exec.Cmd) *serveRun {
	t.Helper()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &serveRun{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			r.mu.Lock()
			r.errb.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	waitfor.Recv(t, 30*time.Second, "socktop serve to listen", addr, func(a string, open bool) bool {
		if !open {
			t.Fatalf("socktop serve ended before listening:\n%s", r.stderr())
		}
		r.addr = a
		return true
	}, r.stderr)
	return r
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return b
}

// serveTimeWaits leaves n TIME_WAIT sockets on the server side of
// connections to a listener on the test's own address, and returns the
// listener's port and their 4-tuples, local then remote.
func serveTimeWaits(t *testing.T, n int) (uint16, map[[2]netip.AddrPort]bool) {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(kerneltest.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read after the server's close: %v, want EOF", err)
		}
		c.Close()
	}
	return uint16(ln.Addr().(*net.TCPAddr).Port), tuples
}

// ssTimeWaits counts `ss -tanH state time-wait` lines.
func ssTimeWaits(t *testing.T) float64 {
	t.Helper()
	out, err := exec.Command("ss", "-tanH", "state", "time-wait").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	return float64(bytes.Count(out, []byte("\n")))
}

// ssCount is one ss count and when it ran.
type ssCount struct {
	from, to time.Time
	n        float64
}

// freeLoopbackPort returns a port nothing listens on at the moment.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs a Prometheus server of the test's own that
// scrapes target every interval (whole seconds), and returns its
// address; Cleanup kills it.
func startPrometheus(t *testing.T, target string, interval time.Duration) string {
	t.Helper()
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (Debian package prometheus; scripts/test.sh installs it)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	sec := int(interval / time.Second)
	conf := fmt.Sprintf("global:\n  scrape_interval: %ds\n  scrape_timeout: %ds\nscrape_configs:\n  - job_name: socktop\n    static_configs:\n      - targets: [%q]\n", sec, sec, target)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	var logb bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitfor.UntilShow(t, 60*time.Second, "prometheus to be ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logb.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, logb.String)
	return addr
}

// promSamples asks Prometheus for the last 30 seconds of expr's series
// and returns, per sample time, the sum over the series.
func promSamples(t *testing.T, prom, expr string) map[float64]float64 {
	t.Helper()
	body := httpGet(t, "http://"+prom+"/api/v1/query?query="+url.QueryEscape(expr+"[30s]"))
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Values [][2]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Status != "success" {
		t.Fatalf("prometheus query %s: %v: %s", expr, err, body)
	}
	sums := make(map[float64]float64)
	for _, r := range resp.Data.Result {
		for _, v := range r.Values {
			var ts float64
			var s string
			if json.Unmarshal(v[0], &ts) != nil || json.Unmarshal(v[1], &s) != nil {
				t.Fatalf("prometheus sample %s %s", v[0], v[1])
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			sums[ts] += f
		}
	}
	return sums
}

// A real Prometheus server scrapes socktop serve: its count of TIME_WAIT
// sockets agrees with ss counts taken before and after the scrape it
// used, within what changed between the two, and the by-port series show
// the test's own TIME_WAIT table, which /snapshot lists by 4-tuple.
func TestServeScrapedByPrometheus(t *testing.T) {
	port, tuples := serveTimeWaits(t, 30)
	srv := startServe(t, socktopCmd(t, "serve", "--listen", "127.0.0.1:0", "--top-ports", "100000", "--no-owners"))
	base := "http://" + srv.addr

	var doc struct {
		Sockets []struct {
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
	if err := json.Unmarshal(httpGet(t, base+"/snapshot?filter="+url.QueryEscape("state time-wait")), &doc); err != nil {
		t.Fatal(err)
	}
	own := 0
	for _, s := range doc.Sockets {
		l := netip.AddrPortFrom(netip.MustParseAddr(s.Local.Addr), s.Local.Port)
		r := netip.AddrPortFrom(netip.MustParseAddr(s.Remote.Addr), s.Remote.Port)
		if s.State == "TIME_WAIT" && tuples[[2]netip.AddrPort{l, r}] {
			own++
		}
	}
	if own != len(tuples) {
		t.Fatalf("/snapshot lists %d of the test's %d TIME_WAIT sockets", own, len(tuples))
	}

	// Every second, unless one scrape takes a good part of that: a host
	// that other programs fill with hundreds of thousands of sockets, and
	// the race detector, can make it last longer than Prometheus waits.
	began := time.Now()
	httpGet(t, base+"/metrics")
	interval := max(time.Second, (3*time.Since(began)).Truncate(time.Second)+time.Second)
	if interval > time.Second {
		t.Logf("one scrape took %v here: Prometheus scrapes every %v", time.Since(began), interval)
	}
	prom := startPrometheus(t, srv.addr, interval)
	// ss counts all the while, so that the scrape Prometheus made is
	// bracketed by counts taken just before it began and just after it
	// ended; the host's churn between those decides the tolerance.
	counts := make(chan ssCount, 4096)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			from := time.Now()
			out, err := exec.Command("ss", "-tanH", "state", "time-wait").Output()
			n := float64(bytes.Count(out, []byte("\n")))
			if err != nil {
				n = -1 // refused below
			}
			select {
			case counts <- ssCount{from, time.Now(), n}:
			case <-stop:
				return
			}
			// A pause between counts leaves the two cores to the scrapes.
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t0 := float64(time.Now().UnixMilli()) / 1000
	var got map[float64]float64
	var at float64
	waitfor.UntilShow(t, 60*time.Second+10*interval, "a Prometheus scrape after ss started counting", func() bool {
		got = promSamples(t, prom, `socktop_sockets{state="TIME_WAIT"}`)
		for ts := range got {
			if ts > t0+1 && (at == 0 || ts < at) {
				at = ts
			}
		}
		return at != 0
	}, func() string {
		// A loaded host (the race detector, two cores) can make a
		// scrape miss its 1s timeout: the target's last error says so.
		return fmt.Sprint(got, "\ntargets: ", string(httpGet(t, "http://"+prom+"/api/v1/targets")), "\nserve:\n", srv.stderr())
	})
	durs := promSamples(t, prom, `scrape_duration_seconds{job="socktop"}`)
	dur, ok := durs[at]
	if !ok {
		t.Fatalf("Prometheus has no scrape_duration_seconds at %v: %v", at, durs)
	}
	begin := time.UnixMilli(int64(at * 1000))
	end := begin.Add(time.Duration(dur*float64(time.Second)) + time.Millisecond)
	// Counts until one starts after the scrape ended.
	var window []ssCount
	var last ssCount
	for c := range counts {
		switch {
		case !c.to.After(begin):
			last = c // the latest count that ended before the scrape began
			continue
		case window == nil && !last.to.IsZero():
			window = append(window, last)
		}
		window = append(window, c)
		if c.from.After(end) {
			break
		}
	}
	close(stop)
	<-done
	if last.to.IsZero() {
		t.Fatalf("no ss count ended before the scrape at %v began", begin)
	}
	lo, hi := window[0].n, window[0].n
	for _, c := range window {
		if c.n < 0 {
			t.Fatal("ss -tanH state time-wait failed")
		}
		lo, hi = min(lo, c.n), max(hi, c.n)
	}
	slack := hi - lo
	if v := got[at]; v < lo-slack || v > hi+slack {
		t.Errorf("Prometheus has socktop_sockets{state=TIME_WAIT} = %v for its scrape at %v (%.3fs); ss counted %v around it", v, begin, dur, window)
	}

	byPort := promSamples(t, prom, fmt.Sprintf(`socktop_sockets_by_local_port{state="TIME_WAIT",port="%d"}`, port))
	for ts, v := range byPort {
		if v < float64(len(tuples)) {
			t.Errorf("Prometheus has %v TIME_WAIT sockets on port %d at %v, fewer than the test's %d (still in TIME_WAIT)", v, port, ts, len(tuples))
		}
	}
	if len(byPort) == 0 {
		t.Errorf("Prometheus has no TIME_WAIT series for the test's port %d", port)
	}
}

// As nobody, serve serves the table; the metrics that need the
// tracepoint are absent, and one notice says so.
func TestServeNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run socktop as nobody")
	}
	cmd := socktopCmd(t, "serve", "--listen", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	srv := startServe(t, cmd)
	body := string(httpGet(t, "http://"+srv.addr+"/metrics"))
	if !strings.Contains(body, "\nsocktop_sockets{") {
		t.Errorf("no socktop_sockets as nobody:\n%s", body)
	}
	for _, fam := range []string{"socktop_transitions_total", "socktop_connection_lifetime_seconds"} {
		if strings.Contains(body, "\n"+fam) {
			t.Errorf("%s present as nobody", fam)
		}
	}
	if n := strings.Count(srv.stderr(), "socktop_transitions_total"); n != 1 {
		t.Errorf("stderr as nobody names the absent metrics %d times, want once:\n%s", n, srv.stderr())
	}
}

// The Grafana dashboard fleet.md points to is valid JSON whose panels
// query socktop's metrics.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("docs/grafana-socktop.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("docs/grafana-socktop.json: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard %q has %d panels", dash.Title, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "socktop_") {
				t.Errorf("panel %q queries %q, no socktop metric", p.Title, q.Expr)
			}
		}
	}
	fleet, err := os.ReadFile("docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fleet, []byte("grafana-socktop.json")) {
		t.Error("docs/fleet.md does not point to grafana-socktop.json")
	}
}

// The alert examples of docs/fleet.md are valid Prometheus rules.
func TestFleetAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; scripts/test.sh installs it)")
	}
	fleet, err := os.ReadFile("docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(fleet, []byte("```yaml\n# socktop-alerts\n"))
	rules, _, closed := bytes.Cut(rest, []byte("```"))
	if !ok || !closed {
		t.Fatal("docs/fleet.md has no ```yaml block starting with # socktop-alerts")
	}
	f := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(f, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("5 rules found")) {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
