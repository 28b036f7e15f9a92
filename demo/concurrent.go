package demo

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"socktop/probe"
)

// The material's "Testing Concurrent Servers" table: an ab-like tester
// with several concurrent clients, each fetching a small reply from a
// server over and over, against a server that forks a child per
// connection and one whose children were forked in advance.

// replyBytes is the size of the reply every request fetches: the
// material's "~3 KB" page.
const replyBytes = 3072

// request is what a client sends before the server answers; its size is
// fixed so that the server knows when it has all of it without parsing.
const request = "GET / HTTP/1.0\r\n\r\n"

// loadConfig is the size of one measurement.
type loadConfig struct {
	// Clients is how many clients fetch at the same time.
	Clients int
	// Requests is how many fetches each client makes, one after another.
	Requests int
}

// loadConfigFor is the measurement a run makes: small in Fast runs, so
// tests stay quick, and big enough otherwise for stable means.
func loadConfigFor(cfg Config) loadConfig {
	if cfg.Fast {
		return loadConfig{Clients: 3, Requests: 3}
	}
	return loadConfig{Clients: 8, Requests: 10}
}

// fetch is one request as a client saw it; every duration counts from
// the moment connect() was called.
type fetch struct {
	connect  time.Duration // until the handshake completed
	first    time.Duration // until the first byte of the reply arrived
	last     time.Duration // until the end of the reply (the server's FIN)
	received int           // bytes of the reply
}

// loadResult is the summary of one measurement, in the material's
// columns.
type loadResult struct {
	// Requests is how many fetches completed.
	Requests int
	// Bytes is the sum of the reply bytes received.
	Bytes int64
	// Connect, Latency and Response are the means of the time to
	// connect, to the first byte and to the last byte.
	Connect, Latency, Response time.Duration
	// Kbps is the data rate one connection saw: the reply's bits over the
	// response time, summed over every fetch (the material's 3 KB in
	// 180 ms is its 150 kbit/s).
	Kbps float64
}

// summarizeFetches turns the fetches into the material's figures.
func summarizeFetches(fs []fetch) (loadResult, error) {
	if len(fs) == 0 {
		return loadResult{}, errors.New("no fetch completed")
	}
	var r loadResult
	var connect, first, last time.Duration
	for _, f := range fs {
		if f.connect < 0 || f.first < f.connect || f.last < f.first {
			return loadResult{}, fmt.Errorf("fetch out of order: connect %v, first byte %v, last byte %v", f.connect, f.first, f.last)
		}
		connect += f.connect
		first += f.first
		last += f.last
		r.Bytes += int64(f.received)
	}
	n := time.Duration(len(fs))
	r.Requests = len(fs)
	r.Connect, r.Latency, r.Response = connect/n, first/n, last/n
	if last > 0 {
		r.Kbps = float64(r.Bytes) * 8 / 1000 / last.Seconds()
	}
	return r, nil
}

// loadTester is the ab-like client side: it makes its sockets on its own
// probe, so that hundreds of fetches neither flood the run's narration
// nor count as the run's sockets.
type loadTester struct {
	p *probe.Probe
	// connect connects a fresh socket to the server under test.
	connect func(c *probe.Endpoint) error
	// now is the clock the durations are read from.
	now func() time.Time
}

// run makes cfg.Clients clients fetch cfg.Requests replies each, at the
// same time, and returns every fetch; the first error ends the
// measurement.
func (lt *loadTester) run(cfg loadConfig) ([]fetch, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		fetches  []fetch
		firstErr error
	)
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range cfg.Requests {
				f, err := lt.fetch(fmt.Sprintf("client %d.%d", i+1, j+1))
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				fetches = append(fetches, f)
				stop := firstErr != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	return fetches, firstErr
}

// fetch is one request: connect, send the request, read the reply to the
// server's FIN, close.
func (lt *loadTester) fetch(name string) (fetch, error) {
	c, err := lt.p.TCP(name)
	if err != nil {
		return fetch{}, err
	}
	defer c.Close()
	start := lt.now()
	if err := lt.connect(c); err != nil {
		return fetch{}, err
	}
	var f fetch
	f.connect = lt.now().Sub(start)
	if n, err := c.Send([]byte(request)); err != nil || n != len(request) {
		return fetch{}, fmt.Errorf("%s: request: %d of %d bytes: %w", name, n, len(request), err)
	}
	n, err := c.Recv(64<<10, waitLimit)
	if err != nil {
		return fetch{}, err
	}
	f.first = lt.now().Sub(start)
	if n == 0 {
		return fetch{}, fmt.Errorf("%s: the server closed without a reply", name)
	}
	rest, err := c.Drain(waitLimit)
	if err != nil {
		return fetch{}, err
	}
	f.last = lt.now().Sub(start)
	f.received = n + rest
	if f.received != replyBytes {
		return fetch{}, fmt.Errorf("%s: reply of %d bytes, want %d", name, f.received, replyBytes)
	}
	return f, nil
}
