package demo

import (
	"fmt"
	"net/netip"
	"time"

	"socktop/probe"
)

// concurrentTableName names the table in JSON output and in the call
// promise that waits for it.
const concurrentTableName = "concurrent-servers"

// The two servers of the table.
const (
	serverForking   = "fork-per-connection"
	serverPreforked = "preforked"
)

// materialFigures are the material's measurements of one server: 10
// Mbit/s LAN between two workstations.
type materialFigures struct {
	connectMS, latencyMS, responseMS, kbps float64
}

// material is the material's "Testing Concurrent Servers" table.
var material = map[string]materialFigures{
	serverForking:   {4, 120, 180, 150},
	serverPreforked: {6, 26, 42, 630},
}

// concurrentRow is one row of the table: one server in one setting. It
// is also the row's JSON object.
type concurrentRow struct {
	Setting    string  `json:"setting"`
	Server     string  `json:"server"`
	Clients    int     `json:"clients"`
	Fetches    int     `json:"fetches"`
	ReplyBytes int     `json:"reply_bytes"`
	Bytes      int64   `json:"bytes"`
	ConnectMS  float64 `json:"connect_ms"`
	LatencyMS  float64 `json:"latency_ms"`
	ResponseMS float64 `json:"response_ms"`
	Kbps       float64 `json:"kbps"`

	MaterialConnectMS  float64 `json:"material_connect_ms"`
	MaterialLatencyMS  float64 `json:"material_latency_ms"`
	MaterialResponseMS float64 `json:"material_response_ms"`
	MaterialKbps       float64 `json:"material_kbps"`
}

func newConcurrentRow(setting, server string, clients int, r loadResult) concurrentRow {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	m := material[server]
	return concurrentRow{
		Setting: setting, Server: server, Clients: clients, Fetches: r.Requests, ReplyBytes: replyBytes, Bytes: r.Bytes,
		ConnectMS: ms(r.Connect), LatencyMS: ms(r.Latency), ResponseMS: ms(r.Response), Kbps: r.Kbps,
		MaterialConnectMS: m.connectMS, MaterialLatencyMS: m.latencyMS, MaterialResponseMS: m.responseMS, MaterialKbps: m.kbps,
	}
}

// loadSetting is where the servers of the table listen and how the
// tester's clients reach them.
type loadSetting struct {
	// name is the setting's column value: "loopback", "lan".
	name string
	// listen makes a listening socket for a server, on a port the
	// kernel picks.
	listen func(p *probe.Probe, name string) (*probe.Endpoint, error)
	// connect connects a client's socket to the listener ln.
	connect func(c, ln *probe.Endpoint) error
}

// loopbackSetting is the material's "same computer": 127.0.0.1.
var loopbackSetting = loadSetting{
	name: "loopback",
	listen: func(p *probe.Probe, name string) (*probe.Endpoint, error) {
		ln, err := p.TCP(name)
		if err != nil {
			return nil, err
		}
		if err := ln.SetReuseAddr(true); err != nil {
			return nil, err
		}
		if err := ln.Bind(0); err != nil {
			return nil, err
		}
		return ln, ln.Listen(64)
	},
	connect: func(c, ln *probe.Endpoint) error { return c.ConnectAddr(ln.Local(), waitLimit) },
}

// lanRateBits is the rate of the lan setting's link: the material's
// 10 Mbit/s Ethernet.
const lanRateBits = 10_000_000

// lanSetting is the material's LAN: the servers listen inside the lab's
// namespace, the clients connect from this one across the veth pair,
// whose both directions tbf limits to lanRateBits.
func lanSetting(l *netLab) loadSetting {
	return loadSetting{
		name: "lan",
		listen: func(p *probe.Probe, name string) (*probe.Endpoint, error) {
			ln, err := p.TCPIn(name, l.Path())
			if err != nil {
				return nil, err
			}
			if err := ln.SetReuseAddr(true); err != nil {
				return nil, err
			}
			if err := ln.BindAddr(netip.AddrPortFrom(l.NSAddr(), 0)); err != nil {
				return nil, err
			}
			return ln, ln.Listen(64)
		},
		connect: func(c, ln *probe.Endpoint) error { return c.ConnectAddr(ln.Local(), waitLimit) },
	}
}

// concurrentSettings are the settings this process can measure: always
// loopback, and the rate-limited lan when it may make a namespace; the
// notes say why lan is missing.
func (e *env) concurrentSettings() (settings []loadSetting, notes []string) {
	settings = []loadSetting{loopbackSetting}
	if why := labAllowed(); why != "" {
		return settings, []string{"lan not measured: it needs a network namespace, a veth pair and tc tbf (" + why + ")"}
	}
	l := e.netLab(labConfig{RateBits: lanRateBits})
	return append(settings, lanSetting(l)), []string{fmt.Sprintf("lan is a veth pair into the network namespace %s, limited to %d Mbit/s each way with tc tbf; tbf lets a burst of its bucket (16 KB) through at full speed, so a few 3 KB replies cross faster than the rate alone allows.", l.Name(), lanRateBits/1_000_000)}
}

// preforkChildren is how many children the preforked servers fork.
const preforkChildren = 3

// startServer starts the children of one server on ln and waits until
// each of them waits in accept().
func startServer(p *probe.Probe, server string, ln *probe.Endpoint, children int) ([]*probe.Child, error) {
	var kids []*probe.Child
	start := func(name, program string) error {
		c, err := p.StartProgram(name, program, workerArgs{Name: name}, ln)
		if err != nil {
			return err
		}
		kids = append(kids, c)
		return nil
	}
	switch server {
	case serverForking:
		if err := start("server", programForkServer); err != nil {
			return kids, err
		}
	case serverPreforked:
		for k := range children {
			if err := start(fmt.Sprintf("server %d", k+1), programPreforkWorker); err != nil {
				return kids, err
			}
		}
	default:
		return nil, fmt.Errorf("%w: no server %q", probe.ErrBadArgument, server)
	}
	for _, c := range kids {
		if _, err := c.WaitFor(readyCall, waitLimit); err != nil {
			return kids, err
		}
	}
	return kids, nil
}

// measureServer runs the tester against one server in one setting: it
// makes the listener, starts the server's children on it, lets go of its
// own copy, measures, and ends the children.
func measureServer(p *probe.Probe, set loadSetting, server string, lc loadConfig, now func() time.Time) (concurrentRow, error) {
	ln, err := set.listen(p, "server")
	if err != nil {
		return concurrentRow{}, err
	}
	kids, err := startServer(p, server, ln, preforkChildren)
	defer func() {
		for _, c := range kids {
			select {
			case <-c.Exited():
			default:
				c.Kill()
			}
		}
	}()
	if cerr := ln.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return concurrentRow{}, err
	}
	lt := &loadTester{p: p, now: now, connect: func(c *probe.Endpoint) error { return set.connect(c, ln) }}
	fetches, err := lt.run(lc)
	select {
	case <-p.Stopping():
		// Stop ends the children first: the clients' errors that follow
		// (a reset, a closed descriptor) are the stop, not the server's.
		return concurrentRow{}, probe.ErrStopped
	default:
	}
	if err != nil {
		return concurrentRow{}, fmt.Errorf("%s on %s: %w", server, set.name, err)
	}
	res, err := summarizeFetches(fetches)
	if err != nil {
		return concurrentRow{}, fmt.Errorf("%s on %s: %w", server, set.name, err)
	}
	return newConcurrentRow(set.name, server, lc.Clients, res), nil
}

// measureConcurrent measures both servers in every setting, on a probe
// of its own that Stop of the run's probe also ends.
func (e *env) measureConcurrent(settings []loadSetting) []concurrentRow {
	tp := probe.New(nil)
	defer tp.Stop()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-e.p.Stopping():
			tp.Stop()
		case <-done:
		}
	}()
	lc := loadConfigFor(e.cfg)
	var rows []concurrentRow
	for _, set := range settings {
		for _, server := range []string{serverForking, serverPreforked} {
			e.say("tester", fmt.Sprintf("%d clients x %d fetches of %d bytes from the %s server (%s)", lc.Clients, lc.Requests, replyBytes, server, set.name), "measuring")
			row, err := measureServer(tp, set, server, lc, time.Now)
			select {
			case <-tp.Stopping():
				panic(stepFailure{probe.ErrStopped})
			default:
			}
			e.ok(err)
			e.say("tester", fmt.Sprintf("%s, %s", server, set.name),
				fmt.Sprintf("connect %.2f ms, latency %.2f ms, response %.2f ms, %.0f kbit/s", row.ConnectMS, row.LatencyMS, row.ResponseMS, row.Kbps))
			rows = append(rows, row)
		}
	}
	return rows
}

// concurrentTable builds the table from the rows; notes say how to read
// it and which settings were left out.
func concurrentTable(rows []concurrentRow, notes ...string) Table {
	t := Table{
		Name:    concurrentTableName,
		Title:   "Testing concurrent servers: a fork per connection against preforked children",
		Columns: []string{"setting", "server", "fetches", "connect ms", "latency ms", "response ms", "kbit/s"},
	}
	for _, r := range rows {
		t.Rows = append(t.Rows, []string{r.Setting, r.Server, fmt.Sprintf("%d", r.Fetches),
			fmt.Sprintf("%.2f (%g)", r.ConnectMS, r.MaterialConnectMS),
			fmt.Sprintf("%.2f (%g)", r.LatencyMS, r.MaterialLatencyMS),
			fmt.Sprintf("%.2f (%g)", r.ResponseMS, r.MaterialResponseMS),
			fmt.Sprintf("%.0f (%g)", r.Kbps, r.MaterialKbps)})
		t.Objects = append(t.Objects, r)
	}
	t.Notes = append([]string{
		"In parentheses: the material's figures, measured between two workstations on a 10 Mbit/s LAN.",
		fmt.Sprintf("Each client fetches a %d-byte reply, one fetch after another, while the others do the same; the times are means over every fetch, counted from connect(): to the end of the handshake (connect), to the first byte of the reply (latency), to its last byte, the server's FIN (response).", replyBytes),
		"kbit/s is what one connection saw, the reply's bits over the response time, as the material's 3 KB in 180 ms is its 150 kbit/s; the clients together move that many times more.",
		fmt.Sprintf("The forking server re-executes socktop for every connection (how a Go program forks: fork and exec), dearer than the material's bare fork(); the preforked server's %d children were started before the first client.", preforkChildren),
	}, notes...)
	return t
}
