package names

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a1 = netip.MustParseAddr("192.0.2.1")
	a2 = netip.MustParseAddr("192.0.2.2")
)

// A name is trusted for TTL, a failure for NegTTL, on the injected
// clock; a pending address is not handed out twice.
func TestHostsTTL(t *testing.T) {
	now := t0
	h := &Hosts{TTL: time.Hour, NegTTL: time.Minute, Now: func() time.Time { return now }}
	if !h.Claim(a1) || h.Claim(a1) {
		t.Fatal("the first Claim must hand the address out, the second not while it is pending")
	}
	if _, ok := h.Name(a1); ok {
		t.Fatal("a pending address has no name yet")
	}
	h.Put(a1, []string{"", "one.example."}, nil)
	if n, ok := h.Name(a1); !ok || n != "one.example" {
		t.Fatalf("Name = %q, %v; want one.example without the root's dot", n, ok)
	}
	h.Claim(a2)
	h.Put(a2, nil, errors.New("no PTR"))
	now = now.Add(59 * time.Second)
	if h.Claim(a2) {
		t.Error("a failed lookup is asked again within NegTTL")
	}
	now = now.Add(2 * time.Second)
	if !h.Claim(a2) {
		t.Error("a failed lookup is not asked again after NegTTL")
	}
	if h.Claim(a1) {
		t.Error("a name is asked again within TTL")
	}
	now = now.Add(time.Hour)
	if _, ok := h.Name(a1); ok || !h.Claim(a1) {
		t.Error("a name outlived its TTL")
	}
	if h.Claim(netip.IPv4Unspecified()) || h.Claim(netip.Addr{}) {
		t.Error("the unspecified address has no name to look up")
	}
}

// An IPv4-mapped address and its IPv4 form are one entry.
func TestHostsUnmap(t *testing.T) {
	h := &Hosts{}
	mapped := netip.AddrFrom16(a1.As16())
	h.Claim(mapped)
	h.Put(mapped, []string{"one"}, nil)
	if n, _ := h.Name(a1); n != "one" {
		t.Errorf("the mapped form's name is not the address's: %q", n)
	}
}

// The cache never holds more than Max entries, pending ones included,
// and keeps pending entries when it makes room.
func TestHostsBound(t *testing.T) {
	h := &Hosts{Max: 64, Now: func() time.Time { return t0 }}
	pending := netip.MustParseAddr("198.51.100.1")
	h.Claim(pending)
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if h.Claim(a) {
			h.Put(a, []string{"x"}, nil)
		}
		if h.Len() > 64 {
			t.Fatalf("after %d inserts the cache holds %d entries, over its bound 64", i+1, h.Len())
		}
	}
	if h.Claim(pending) {
		t.Error("making room dropped a pending lookup")
	}
}

// Resolve runs at most parallel lookups at a time and names every address.
func TestResolveParallel(t *testing.T) {
	var cur, peak atomic.Int32
	var mu sync.Mutex
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	lookup := func(ctx context.Context, addr string) ([]string, error) {
		n := cur.Add(1)
		mu.Lock()
		peak.Store(max(peak.Load(), n))
		mu.Unlock()
		started <- struct{}{}
		<-release
		cur.Add(-1)
		return []string{"h-" + addr}, nil
	}
	var addrs []netip.Addr
	for i := range 40 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}))
	}
	h := &Hosts{}
	done := make(chan struct{})
	go func() { h.Resolve(context.Background(), lookup, addrs, 4); close(done) }()
	for range 4 {
		<-started
	}
	close(release)
	<-done
	if p := peak.Load(); p > 4 || p < 1 {
		t.Errorf("peak parallel lookups %d, want 1..4", p)
	}
	for _, a := range addrs {
		if n, ok := h.Name(a); !ok || n != "h-"+a.String() {
			t.Errorf("%v: %q %v", a, n, ok)
		}
	}
}

// Resolve returns when its context ends (the headless forms' time
// limit), though lookups hang; what did not answer stays nameless.
func TestResolveDeadline(t *testing.T) {
	started := make(chan struct{}, 10)
	lookup := func(ctx context.Context, addr string) ([]string, error) {
		if addr == a1.String() {
			return []string{"quick"}, nil
		}
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hosts{}
	done := make(chan struct{})
	go func() { h.Resolve(ctx, lookup, []netip.Addr{a1, a2}, 2); close(done) }()
	<-started
	// The quick lookup runs beside the hung one: the deadline comes once
	// it has answered, so what it tests is that the answer survives it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, ok := h.Name(a1); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the quick lookup never answered")
		}
	}
	cancel()
	<-done
	if n, _ := h.Name(a1); n != "quick" {
		t.Errorf("the lookup that answered is lost: %q", n)
	}
	if _, ok := h.Name(a2); ok {
		t.Error("the hung lookup has a name")
	}
}
