package exporter

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"socktop/collect"
	"socktop/collect/events"
)

// noticeNoEvents is told when the exporter has no events stream at all.
const noticeNoEvents = "no kernel events: socktop_transitions_total, socktop_closed_connections_total and socktop_connection_lifetime_seconds are absent"

var (
	descTransitions = prometheus.NewDesc("socktop_transitions_total",
		"TCP state changes the kernel reported (sock:inet_sock_set_state), by the state left and the state entered.",
		[]string{"from", "to"}, nil)
	descClosed = prometheus.NewDesc("socktop_closed_connections_total",
		"TCP and UDP sockets the kernel destroyed (sock_diag destroy groups), by protocol and address family.",
		[]string{"proto", "family"}, nil)
	descEventsLost = prometheus.NewDesc("socktop_events_lost_total",
		"Kernel events socktop could not read (full buffers): kind=\"transition\" or \"closed\".",
		[]string{"kind"}, nil)
	descLifetime = prometheus.NewDesc("socktop_connection_lifetime_seconds",
		"Lifetime of the TCP connections opened and destroyed while socktop ran: from connect() (SYN_SENT) or the SYN's arrival (SYN_RECV) to the destroy of the socket.",
		nil, nil)
)

// lifetimeBuckets run from a millisecond to about 70 minutes, by 4.
var lifetimeBuckets = prometheus.ExponentialBuckets(0.001, 4, 12)

// drainEvery is how often the reader drains the stream between scrapes:
// the stream holds a TCP destroy record until the tracepoint reader has
// caught up with it, and a record in hold raises no new signal.
const drainEvery = 100 * time.Millisecond

// pruneSlack is how many more open connections than the snapshot lists
// the reader keeps before it looks for ones whose destroy it missed, and
// pruneAge how old such an entry must be: a destroy record waits in the
// stream's queue for a moment after the socket left the table.
const (
	pruneSlack = 4096
	pruneAge   = 10 * time.Second
)

// eventStats counts what an events stream reports, on a goroutine of its
// own. The counters exist only for what the stream can read: transitions
// with an exact reader (BPF or tracefs), the lifetime with BPF (which
// gives the socket cookie that joins the opening to the destroy record),
// closed connections when the destroy watcher runs.
type eventStats struct {
	st                    *events.Stream
	transitions, lifetime bool
	closedOn              bool
	notices               []string
	done                  chan struct{}
	wg                    sync.WaitGroup
	mu                    sync.Mutex
	evs                   []collect.StateEvent
	closedBuf             []collect.Closed
	trans                 [collect.NumStates][collect.NumStates]uint64
	closed                map[[2]string]uint64
	lostTrans, lostClosed uint64
	open                  map[uint64]time.Time
	buckets               []uint64
	lifeCount             uint64
	lifeSum               float64
}

// newEventStats starts reading st.
func newEventStats(st *events.Stream) *eventStats {
	e := &eventStats{
		st:          st,
		transitions: st.Mode().Exact(),
		lifetime:    st.Mode() == events.ModeBPF,
		closedOn:    true,
		closed:      make(map[[2]string]uint64),
		open:        make(map[uint64]time.Time),
		buckets:     make([]uint64, len(lifetimeBuckets)),
		done:        make(chan struct{}),
	}
	for _, n := range st.Notices() {
		if strings.HasPrefix(n, "closed connections off") {
			e.closedOn = false
		}
		e.notices = append(e.notices, n)
	}
	var absent []string
	if !e.transitions {
		absent = append(absent, "socktop_transitions_total")
	}
	if !e.lifetime {
		absent = append(absent, "socktop_connection_lifetime_seconds")
	}
	if !e.closedOn {
		absent = append(absent, "socktop_closed_connections_total")
	}
	if len(absent) > 0 {
		e.notices = append(e.notices, "kernel events "+string(st.Mode())+": "+strings.Join(absent, ", ")+
			" absent (transitions need BPF or tracefs, the lifetime BPF: run as root, or setcap cap_bpf,cap_perfmon+ep socktop)")
	}
	e.wg.Add(1)
	go e.loop()
	return e
}

func (e *eventStats) loop() {
	defer e.wg.Done()
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-e.st.Ready():
		case <-tick.C:
		}
		e.mu.Lock()
		e.drainLocked()
		e.mu.Unlock()
	}
}

// drainLocked takes what the stream queued and counts it.
func (e *eventStats) drainLocked() {
	var lost, closedLost uint64
	e.evs, e.closedBuf, lost, closedLost = e.st.Drain(e.evs[:0], e.closedBuf[:0])
	e.lostTrans += lost
	e.lostClosed += closedLost
	for i := range e.evs {
		ev := &e.evs[i]
		if ev.Proto != collect.TCP || ev.From >= collect.NumStates || ev.To >= collect.NumStates {
			continue
		}
		e.trans[ev.From][ev.To]++
		if e.lifetime && ev.Cookie != 0 && opening(ev) {
			e.open[ev.Cookie] = ev.Time
		}
	}
	for i := range e.closedBuf {
		c := &e.closedBuf[i]
		e.closed[[2]string{c.Proto.String(), familyLabel(c.Family)}]++
		if c.Cookie == 0 {
			continue
		}
		if at, ok := e.open[c.Cookie]; ok {
			delete(e.open, c.Cookie)
			e.observe(c.Received.Sub(at))
		}
	}
	clear(e.evs)
	clear(e.closedBuf)
}

// opening reports whether ev starts a connection: connect() moving a
// socket to SYN_SENT, or a SYN making a listener's child in SYN_RECV.
func opening(ev *collect.StateEvent) bool {
	return ev.From == collect.StateClosed && ev.To == collect.StateSynSent ||
		ev.From == collect.StateListen && ev.To == collect.StateSynRecv
}

// observe adds one lifetime to the histogram. A lifetime below zero (the
// watcher's clock read the destroy before the kernel stamped the
// opening) counts as zero.
func (e *eventStats) observe(d time.Duration) {
	v := max(d.Seconds(), 0)
	e.lifeCount++
	e.lifeSum += v
	if i, _ := slices.BinarySearch(lifetimeBuckets, v); i < len(e.buckets) {
		e.buckets[i]++
	}
}

func (e *eventStats) describe(ch chan<- *prometheus.Desc) {
	ch <- descEventsLost
	if e.transitions {
		ch <- descTransitions
	}
	if e.closedOn {
		ch <- descClosed
	}
	if e.lifetime {
		ch <- descLifetime
	}
}

// collect drains the stream, forgets connections whose destroy was
// missed (listed by live, the snapshot taken at taken), and sends the
// counters.
func (e *eventStats) collect(ch chan<- prometheus.Metric, taken time.Time, live func() []uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drainLocked()
	if len(e.open) > pruneSlack {
		cookies := live()
		if len(e.open) > len(cookies)+pruneSlack {
			for c, at := range e.open {
				if _, found := slices.BinarySearch(cookies, c); !found && taken.Sub(at) > pruneAge {
					delete(e.open, c)
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descEventsLost, prometheus.CounterValue, float64(e.lostTrans), "transition")
	ch <- prometheus.MustNewConstMetric(descEventsLost, prometheus.CounterValue, float64(e.lostClosed), "closed")
	if e.transitions {
		for from := range e.trans {
			for to, n := range e.trans[from] {
				if n > 0 {
					ch <- prometheus.MustNewConstMetric(descTransitions, prometheus.CounterValue, float64(n),
						collect.State(from).String(), collect.State(to).String())
				}
			}
		}
	}
	if e.closedOn {
		for _, proto := range []string{"tcp", "udp"} {
			for _, fam := range []string{"ipv4", "ipv6"} {
				ch <- prometheus.MustNewConstMetric(descClosed, prometheus.CounterValue, float64(e.closed[[2]string{proto, fam}]), proto, fam)
			}
		}
	}
	if e.lifetime {
		cum := make(map[float64]uint64, len(lifetimeBuckets))
		var run uint64
		for i, b := range lifetimeBuckets {
			run += e.buckets[i]
			cum[b] = run
		}
		ch <- prometheus.MustNewConstHistogram(descLifetime, e.lifeCount, e.lifeSum, cum)
	}
}

func (e *eventStats) close() {
	close(e.done)
	e.wg.Wait()
}
