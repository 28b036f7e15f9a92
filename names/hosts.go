// Package names turns the numbers of a socket table into the names ss
// shows: host names by reverse lookup (ss -r) and service names from
// /etc/services. It knows nothing of terminals: the live view asks it for
// what is cached and runs the lookups in its own commands, the headless
// forms resolve a table's addresses at once under a time limit.
package names

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// LookupFunc is a reverse lookup: the names of an address, as
// net.Resolver.LookupAddr gives them.
type LookupFunc func(ctx context.Context, addr string) ([]string, error)

// GoLookup is the Go resolver's reverse lookup. It reads /etc/hosts
// before asking DNS (as nsswitch.conf orders), so loopback names resolve
// without traffic, and it does not depend on the C library's NSS modules.
func GoLookup() LookupFunc {
	r := &net.Resolver{PreferGo: true}
	return r.LookupAddr
}

// Defaults of a Hosts cache: a positive answer is kept for TTL, a failed
// lookup (no PTR record, a timeout) for NegTTL, so that an address with
// no name is not asked about on every refresh.
const (
	DefaultMax    = 4096
	DefaultTTL    = 5 * time.Minute
	DefaultNegTTL = time.Minute
)

// Hosts is a bounded cache of reverse lookups, safe for concurrent use.
// It never resolves by itself: a caller claims an address it means to
// look up, and puts the answer.
type Hosts struct {
	// Max bounds the entries, pending ones included; TTL and NegTTL are
	// how long an answer and a failure are trusted. Now is the clock.
	// Zero values take the defaults above and time.Now.
	Max         int
	TTL, NegTTL time.Duration
	Now         func() time.Time

	mu sync.Mutex
	m  map[netip.Addr]hostEntry
}

// hostEntry is one address: pending while a lookup runs, else its name
// ("" when it has none) until expires.
type hostEntry struct {
	name    string
	pending bool
	expires time.Time
}

func (h *Hosts) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Name returns the cached name of a: ok is false when there is none yet,
// or the address has no name, or the answer has expired.
func (h *Hosts) Name(a netip.Addr) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, found := h.m[a.Unmap()]
	if !found || e.pending || e.name == "" || !h.now().Before(e.expires) {
		return "", false
	}
	return e.name, true
}

// Claim reports whether a needs a lookup (no fresh answer, none running)
// and, if so, marks it pending: the caller must Put its answer. An
// unspecified or invalid address is never claimed; it has no name.
func (h *Hosts) Claim(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if e, found := h.m[a]; found && (e.pending || now.Before(e.expires)) {
		return false
	}
	if h.m == nil {
		h.m = map[netip.Addr]hostEntry{}
	}
	h.makeRoom(now)
	h.m[a] = hostEntry{pending: true}
	return true
}

// Put records the answer of a lookup of a that Claim handed out: the
// first name, without the root's trailing dot, or no name when err is
// set or the list is empty.
func (h *Hosts) Put(a netip.Addr, names []string, err error) {
	a = a.Unmap()
	var name string
	if err == nil {
		for _, n := range names {
			if n = strings.TrimSuffix(n, "."); n != "" {
				name = n
				break
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[netip.Addr]hostEntry{}
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if name == "" {
		if ttl = h.NegTTL; ttl == 0 {
			ttl = DefaultNegTTL
		}
	}
	now := h.now()
	if _, found := h.m[a]; !found {
		h.makeRoom(now)
	}
	h.m[a] = hostEntry{name: name, expires: now.Add(ttl)}
}

// Len returns how many addresses the cache holds, pending ones included.
func (h *Hosts) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// makeRoom keeps the cache under its bound before an insert: expired
// answers go first; if that is not enough, an eighth of the answers go,
// whichever the map yields, so that a full cache costs one sweep per
// many inserts rather than one per insert. Pending entries stay: their
// lookups will Put.
func (h *Hosts) makeRoom(now time.Time) {
	limit := h.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	if len(h.m) < limit {
		return
	}
	for a, e := range h.m {
		if !e.pending && !now.Before(e.expires) {
			delete(h.m, a)
		}
	}
	drop := max(limit/8, 1)
	for a, e := range h.m {
		if len(h.m) < limit && drop <= 0 {
			break
		}
		if !e.pending {
			delete(h.m, a)
			drop--
		}
	}
}

// Resolve looks up every address of addrs that needs it, at most
// parallel at a time, and returns when all have answered or ctx is done
// (the headless forms' total time limit); an address whose lookup did not
// finish stays nameless, and its lookup is cancelled.
func (h *Hosts) Resolve(ctx context.Context, lookup LookupFunc, addrs []netip.Addr, parallel int) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parallel = max(parallel, 1)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, a := range addrs {
			if !h.Claim(a) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				h.Put(a, nil, ctx.Err())
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				names, err := lookup(ctx, a.String())
				h.Put(a, names, err)
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
