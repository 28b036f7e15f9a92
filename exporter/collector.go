package exporter

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"socktop/collect"
)

var (
	descSockets = prometheus.NewDesc("socktop_sockets",
		"Sockets by protocol, address family and state, as ss -tanu lists them (TCP and UDP).",
		[]string{"proto", "family", "state"}, nil)
	descByPort = prometheus.NewDesc("socktop_sockets_by_local_port",
		"TCP sockets in TIME_WAIT or CLOSE_WAIT by local port: the ports with the most such sockets, and port=\"other\" for the rest.",
		[]string{"proto", "state", "port"}, nil)
	descAcceptQueue = prometheus.NewDesc("socktop_listener_accept_queue",
		"Connections waiting in a listener's accept queue (Recv-Q of a LISTEN socket); summed over listeners sharing the labels (SO_REUSEPORT).",
		[]string{"proto", "local", "port", "process"}, nil)
	descBacklog = prometheus.NewDesc("socktop_listener_backlog",
		"A listener's accept queue limit, the backlog given to listen() capped by net.core.somaxconn (Send-Q of a LISTEN socket); summed like socktop_listener_accept_queue.",
		[]string{"proto", "local", "port", "process"}, nil)
	descRetrans = prometheus.NewDesc("socktop_tcp_retransmitted_segments_total",
		"TCP segments the host retransmitted (RetransSegs of /proc/net/snmp, this network namespace).",
		nil, nil)
	descPartial = prometheus.NewDesc("socktop_snapshot_partial",
		"1 when the scrape's snapshot is incomplete (an interrupted dump, a family the kernel refused), else 0.",
		nil, nil)
	descScrape = prometheus.NewDesc("socktop_scrape_duration_seconds",
		"How long this scrape's snapshot and the computing of its metrics took.",
		nil, nil)
)

// byPortStates are the states socktop_sockets_by_local_port covers.
var byPortStates = [2]collect.State{collect.StateTimeWait, collect.StateCloseWait}

// tcpStates and udpStates are the states socktop_sockets always has a
// series for, 0 when no socket is in them, so that a query over a state
// does not see gaps. TCP's CLOSED is left out: ss -tan does not list
// bound-only sockets.
var (
	tcpStates = []collect.State{
		collect.StateEstablished, collect.StateSynSent, collect.StateSynRecv, collect.StateFinWait1,
		collect.StateFinWait2, collect.StateTimeWait, collect.StateCloseWait, collect.StateLastAck,
		collect.StateListen, collect.StateClosing,
	}
	udpStates = []collect.State{collect.StateUnconn, collect.StateEstablished}
)

// countKey is one series of socktop_sockets.
type countKey struct {
	proto  collect.Proto
	family uint8
	state  collect.State
}

// listenerKey is one series of the listener metrics.
type listenerKey struct {
	local   netip.Addr
	port    uint16
	process string
}

type listenerQueues struct{ queue, backlog uint64 }

// portCount is one port's count in the ranking of a state's ports.
type portCount struct {
	port  uint16
	count int
}

// Describe sends the descriptions of every metric the collector makes.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSockets, descByPort, descAcceptQueue, descBacklog, descRetrans, descPartial, descScrape} {
		ch <- d
	}
	if e.ev != nil {
		e.ev.describe(ch)
	}
}

// Collect takes one snapshot and sends the metrics made from it, then
// the event counters. A failed snapshot is sent as an invalid metric, so
// that the scrape fails rather than shows a table of zeros.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	snap, err := e.src.Snapshot(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descSockets, err)
		return
	}
	e.collectSockets(ch, &snap)
	if n, ok := readRetransSegs(); ok {
		ch <- prometheus.MustNewConstMetric(descRetrans, prometheus.CounterValue, float64(n))
	}
	partial := 0.0
	if snap.Partial {
		partial = 1
	}
	ch <- prometheus.MustNewConstMetric(descPartial, prometheus.GaugeValue, partial)
	if e.ev != nil {
		e.ev.collect(ch, snap.Taken, e.liveCookies(&snap))
	}
	if e.owners != nil {
		// The next pass over the listeners' owners runs between scrapes,
		// so that its /proc scan never lengthens one.
		e.owners.kick()
	}
	ch <- prometheus.MustNewConstMetric(descScrape, prometheus.GaugeValue, time.Since(start).Seconds())
}

// collectSockets sends the per-state, per-port and per-listener metrics
// of snap.
func (e *Exporter) collectSockets(ch chan<- prometheus.Metric, snap *collect.Snapshot) {
	counts := make(map[countKey]int, 2*(len(tcpStates)+len(udpStates)))
	for _, fam := range []uint8{4, 6} {
		for _, st := range tcpStates {
			counts[countKey{collect.TCP, fam, st}] = 0
		}
		for _, st := range udpStates {
			counts[countKey{collect.UDP, fam, st}] = 0
		}
	}
	for i := range e.byPort {
		clear(e.byPort[i])
	}
	clear(e.lsn)
	var names map[uint32]string
	if e.owners != nil {
		names = e.owners.names()
	}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		st := s.State.Canonical()
		counts[countKey{s.Proto, s.Family, st}]++
		if s.Proto != collect.TCP {
			continue
		}
		for k, bp := range byPortStates {
			if st == bp {
				e.byPort[k][s.Local.Port()]++
			}
		}
		if st == collect.StateListen {
			proc := "?"
			if n, ok := names[s.Inode]; ok && s.Inode != 0 {
				proc = n
			}
			k := listenerKey{s.Local.Addr().Unmap(), s.Local.Port(), proc}
			q := e.lsn[k]
			if q == nil {
				q = new(listenerQueues)
				e.lsn[k] = q
			}
			// A queue the source could not read stays out of the sum
			// rather than count as empty.
			if s.Known(collect.FieldRecvQ) {
				q.queue += uint64(s.RecvQ)
			}
			if s.Known(collect.FieldSendQ) {
				q.backlog += uint64(s.SendQ)
			}
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(descSockets, prometheus.GaugeValue, float64(n),
			k.proto.String(), familyLabel(k.family), k.state.String())
	}
	for k, st := range byPortStates {
		e.sendTopPorts(ch, st, e.byPort[k])
	}
	for k, q := range e.lsn {
		local, port := k.local.String(), strconv.Itoa(int(k.port))
		ch <- prometheus.MustNewConstMetric(descAcceptQueue, prometheus.GaugeValue, float64(q.queue), "tcp", local, port, k.process)
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(q.backlog), "tcp", local, port, k.process)
	}
}

// sendTopPorts sends the e.topPorts ports of ports with the most sockets
// in st (ties broken by the lower port, so a scrape is reproducible),
// and the sum of the others as port="other", 0 when there are none.
func (e *Exporter) sendTopPorts(ch chan<- prometheus.Metric, st collect.State, ports map[uint16]int) {
	e.ranked = e.ranked[:0]
	for p, n := range ports {
		e.ranked = append(e.ranked, portCount{p, n})
	}
	slices.SortFunc(e.ranked, func(a, b portCount) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.port, b.port)
	})
	other := 0
	for i, pc := range e.ranked {
		if i >= e.topPorts {
			other += pc.count
			continue
		}
		ch <- prometheus.MustNewConstMetric(descByPort, prometheus.GaugeValue, float64(pc.count), "tcp", st.String(), strconv.Itoa(int(pc.port)))
	}
	ch <- prometheus.MustNewConstMetric(descByPort, prometheus.GaugeValue, float64(other), "tcp", st.String(), "other")
}

// liveCookies returns a function that lists the sorted cookies of snap's
// TCP sockets, for the event reader to forget connections whose destroy
// record it missed; it is called only when there may be such.
func (e *Exporter) liveCookies(snap *collect.Snapshot) func() []uint64 {
	return func() []uint64 {
		e.cookies = e.cookies[:0]
		for i := range snap.Sockets {
			if s := &snap.Sockets[i]; s.Proto == collect.TCP && s.Cookie != 0 {
				e.cookies = append(e.cookies, s.Cookie)
			}
		}
		slices.Sort(e.cookies)
		return e.cookies
	}
}

// familyLabel names an address family: ipv4, ipv6, or unknown for a
// source that did not say.
func familyLabel(f uint8) string {
	switch f {
	case 4:
		return "ipv4"
	case 6:
		return "ipv6"
	}
	return "unknown"
}
