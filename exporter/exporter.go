// Package exporter serves the host's socket table to Prometheus: a
// collector that takes one snapshot per scrape (what `socktop --once
// --no-owners` reads) and turns it into gauges, counters fed by the
// kernel's events, and the JSON contract on /snapshot. It knows nothing
// about terminals; `socktop serve` wires it to an HTTP server.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"socktop/collect"
	"socktop/collect/events"
	"socktop/filter"
	"socktop/output"
)

// DefaultTopPorts is how many local ports per state get a series of
// their own by default; the others are summed under port="other".
const DefaultTopPorts = 20

// scrapeTimeout bounds one snapshot, so that a wedged kernel answer does
// not pile up scrapes.
const scrapeTimeout = 30 * time.Second

// Options configure an Exporter.
type Options struct {
	// Source names the collector, one of collect.SourceNames.
	Source string
	// TopPorts bounds the TIME_WAIT and CLOSE_WAIT series by local port:
	// the TopPorts ports with the most sockets in the state, and
	// port="other" for the rest. 0 means DefaultTopPorts.
	TopPorts int
	// Events, when not nil, feeds the transition and closed-connection
	// counters and the lifetime histogram. The Exporter reads it but does
	// not close it.
	Events *events.Stream
	// NoListenerOwners leaves the process label of the listener series
	// at "?" instead of resolving it from /proc.
	NoListenerOwners bool
}

// Exporter is socktop's Prometheus collector and its HTTP handlers. Its
// methods are safe for concurrent use; scrapes are served one at a time.
type Exporter struct {
	topPorts int
	src      collect.Source
	owners   *listenerOwners
	ev       *eventStats
	notices  []string
	reg      *prometheus.Registry
	// scraping holds a token while a /metrics request is served.
	scraping chan struct{}

	// mu serialises scrapes: the scratch maps below are reused.
	mu      sync.Mutex
	byPort  [2]map[uint16]int
	ranked  []portCount
	lsn     map[listenerKey]*listenerQueues
	cookies []uint64
}

// New makes an Exporter: its own sources (one for the table, one for the
// listeners' owners unless o.NoListenerOwners), and a registry with its
// collector and the Go and process collectors. The first pass over the
// listeners' owners runs before New returns, so the first scrape already
// names them.
func New(o Options) (*Exporter, error) {
	if o.TopPorts < 0 {
		return nil, fmt.Errorf("exporter: top ports %d is negative", o.TopPorts)
	}
	if o.TopPorts == 0 {
		o.TopPorts = DefaultTopPorts
	}
	// The zero Options ask for what `socktop --once --no-owners` shows:
	// TCP and UDP, both families, the states ss -tanu lists, no owners
	// and no tcp_info.
	src, err := collect.NewSource(o.Source, collect.Options{})
	if err != nil {
		return nil, fmt.Errorf("exporter: %w", err)
	}
	e := &Exporter{
		topPorts: o.TopPorts,
		src:      src,
		byPort:   [2]map[uint16]int{make(map[uint16]int), make(map[uint16]int)},
		lsn:      make(map[listenerKey]*listenerQueues),
		scraping: make(chan struct{}, 1),
	}
	if !o.NoListenerOwners {
		if e.owners, err = newListenerOwners(o.Source); err != nil {
			e.closeSources()
			return nil, err
		}
		if msg := e.owners.refresh(context.Background()); msg != "" {
			e.notices = append(e.notices, msg)
		}
	}
	if o.Events != nil {
		e.ev = newEventStats(o.Events)
		e.notices = append(e.notices, e.ev.notices...)
	} else {
		e.notices = append(e.notices, noticeNoEvents)
	}
	e.reg = prometheus.NewRegistry()
	e.reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e, nil
}

// Notices returns what the operator should be told once, at start: which
// metrics are absent and why.
func (e *Exporter) Notices() []string { return e.notices }

// Registry returns the registry the Exporter's collectors are in.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler returns the HTTP handler: /metrics (the Prometheus text
// exposition), /snapshot (the JSON contract; ?filter=EXPR narrows it as
// the command line's FILTER does) and a short index page at /.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.oneAtATime(promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("/snapshot", e.serveSnapshot)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, indexPage)
	})
	return mux
}

// oneAtATime runs h for one request at a time. A request that waits
// while its client gives up (Prometheus's scrape timeout) is dropped
// without a snapshot, so that slow scrapes do not pile up behind each
// other.
func (e *Exporter) oneAtATime(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.scraping <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-e.scraping }()
		if r.Context().Err() != nil {
			return
		}
		h.ServeHTTP(w, r)
	})
}

const indexPage = `<!doctype html><title>socktop</title><h1>socktop serve</h1>
<ul><li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="/snapshot">/snapshot</a>: the socket table as JSON (?filter=EXPR)</li></ul>
`

// serveSnapshot writes one snapshot in the JSON contract.
func (e *Exporter) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	flt, err := filter.Parse(r.URL.Query().Get("filter"))
	if err != nil {
		http.Error(w, fmt.Sprintf("filter: %v", err), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout)
	defer cancel()
	e.mu.Lock()
	snap, err := e.src.Snapshot(ctx)
	e.mu.Unlock()
	if err != nil {
		http.Error(w, fmt.Sprintf("snapshot: %v", err), http.StatusInternalServerError)
		return
	}
	keep := snap.Sockets[:0]
	for i := range snap.Sockets {
		if flt.Match(&snap.Sockets[i]) {
			keep = append(keep, snap.Sockets[i])
		}
	}
	snap.Sockets = keep
	w.Header().Set("Content-Type", "application/json")
	// A client that went away makes the write fail; nothing is left to
	// tell it.
	_ = output.WriteJSON(w, &snap)
}

// Close stops the event reader of the Exporter and closes its sources.
// The events stream given in Options stays open.
func (e *Exporter) Close() error {
	if e.ev != nil {
		e.ev.close()
	}
	return e.closeSources()
}

func (e *Exporter) closeSources() error {
	var err error
	if c, ok := e.src.(io.Closer); ok {
		err = c.Close()
	}
	if e.owners != nil {
		err = errors.Join(err, e.owners.close())
	}
	return err
}
