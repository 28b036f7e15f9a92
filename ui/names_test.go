package ui

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"socktop/collect"
	"socktop/names"
)

// fakeDNS is an injected reverse lookup: it answers from a table, counts
// its calls per address, fails the test when it runs inside Update, and
// blocks while gate is held.
type fakeDNS struct {
	t        *testing.T
	updating *atomic.Bool
	answers  map[string]string // address -> name; absent: no name
	gate     sync.RWMutex
	mu       sync.Mutex
	calls    map[string]int
}

func (f *fakeDNS) lookup(ctx context.Context, addr string) ([]string, error) {
	// The gate first: while a test holds it, it runs Updates beside
	// the blocked lookups on purpose (a lookup inside Update would hang
	// there instead).
	f.gate.RLock()
	defer f.gate.RUnlock()
	if f.updating != nil && f.updating.Load() {
		f.t.Errorf("reverse lookup of %s ran inside Update", addr)
	}
	f.mu.Lock()
	f.calls[addr]++
	f.mu.Unlock()
	if n, ok := f.answers[addr]; ok {
		return []string{n + "."}, nil
	}
	return nil, &netErr{addr}
}

type netErr struct{ addr string }

func (e *netErr) Error() string { return "no PTR for " + e.addr }

func (f *fakeDNS) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[addr]
}

var peerA = netip.MustParseAddr("192.0.2.7")

// namedSnap is a connection from 127.0.0.1:port to peer:443, and a
// listener on 127.0.0.1:8080.
func namedSnap(peer netip.Addr, port uint16) collect.Snapshot {
	c := tcpSock(collect.StateEstablished, port, 443)
	c.Remote = ap(peer, 443)
	c.Inode = 77
	l := tcpSock(collect.StateListen, 8080, 0)
	l.Inode = 78
	return collect.Snapshot{Taken: t0, Source: "netlink", Sockets: []collect.Socket{c, l}}
}

func namesHarness(t *testing.T, n Names, dns *fakeDNS, snaps ...collect.Snapshot) *harness {
	t.Helper()
	if dns != nil {
		n.Lookup = dns.lookup
	}
	h := newHarness(t, Config{NoColor: true, Names: n}, snaps...)
	if dns != nil {
		dns.updating = &h.updating
	}
	h.send(tea.WindowSizeMsg{Width: 120, Height: 20})
	return h
}

// hostMsgs runs the lookups among cmd's commands and returns their answers.
func hostMsgs(cmd tea.Cmd) []hostMsg {
	var out []hostMsg
	for _, msg := range run(cmd) {
		if hm, ok := msg.(hostMsg); ok {
			out = append(out, hm)
		}
	}
	return out
}

// A row shows its address while the lookup runs; a refresh meanwhile is
// not held up; the name, when it arrives, replaces the address; and the
// next refreshes ask no more.
func TestHostNameArrivesLater(t *testing.T) {
	dns := &fakeDNS{t: t, answers: map[string]string{"192.0.2.7": "peer.example", "127.0.0.1": "localhost"}, calls: map[string]int{}}
	h := namesHarness(t, Names{Hosts: true}, dns)
	cmd := h.send(snapMsg{snap: namedSnap(peerA, 40000)})
	if s := h.screen(); !strings.Contains(s, "192.0.2.7:443") || strings.Contains(s, "peer.example") {
		t.Fatalf("before any answer the row must show the address:\n%s", s)
	}
	// The lookups block; a refresh arrives meanwhile and is drawn.
	dns.gate.Lock()
	answers := make(chan []hostMsg, 1)
	go func() { answers <- hostMsgs(cmd) }()
	h.send(snapMsg{snap: namedSnap(peerA, 40001)})
	if s := h.screen(); !strings.Contains(s, "127.0.0.1:40001") || !strings.Contains(s, "192.0.2.7:443") {
		t.Fatalf("the refresh during the lookups is not shown:\n%s", s)
	}
	dns.gate.Unlock()
	got := <-answers
	if len(got) != 2 {
		t.Fatalf("want lookups of the two addresses on screen, got %+v", got)
	}
	for _, m := range got {
		h.send(m)
	}
	s := h.screen()
	if !strings.Contains(s, "peer.example:443") || !strings.Contains(s, "localhost:40001") || !strings.Contains(s, "localhost:8080") {
		t.Fatalf("the names did not replace the addresses:\n%s", s)
	}
	if strings.Contains(s, "peer.example.:") {
		t.Errorf("the root's trailing dot is shown:\n%s", s)
	}
	cmd = h.send(snapMsg{snap: namedSnap(peerA, 40002)})
	if n := len(hostMsgs(cmd)); n != 0 {
		t.Errorf("a refresh of cached names started %d lookups", n)
	}
	if dns.count("192.0.2.7") != 1 || dns.count("127.0.0.1") != 1 {
		t.Errorf("each address must be looked up once: %v", dns.calls)
	}
}

// An address with no name is remembered as such until the negative TTL
// runs out on the injected clock; then it is asked again.
func TestHostNegativeCached(t *testing.T) {
	now := t0
	cache := &names.Hosts{NegTTL: time.Minute, Now: func() time.Time { return now }}
	dns := &fakeDNS{t: t, answers: map[string]string{"127.0.0.1": "localhost"}, calls: map[string]int{}}
	h := namesHarness(t, Names{Hosts: true, Cache: cache}, dns)
	for _, m := range hostMsgs(h.send(snapMsg{snap: namedSnap(peerA, 40000)})) {
		h.send(m)
	}
	if !strings.Contains(h.screen(), "192.0.2.7:443") {
		t.Fatalf("an address with no name must show as the address:\n%s", h.screen())
	}
	now = now.Add(59 * time.Second)
	for _, m := range hostMsgs(h.send(snapMsg{snap: namedSnap(peerA, 40000)})) {
		t.Errorf("looked up %v again within the negative TTL", m.addr)
	}
	now = now.Add(2 * time.Second)
	again := hostMsgs(h.send(snapMsg{snap: namedSnap(peerA, 40000)}))
	if len(again) != 1 || again[0].addr != peerA {
		t.Errorf("after the negative TTL want one new lookup of %v, got %+v", peerA, again)
	}
}

// A screenful of unnamed peers is looked up maxLookups at a time: each
// answer frees a slot for the next, until every one is named.
func TestHostLookupsBounded(t *testing.T) {
	dns := &fakeDNS{t: t, answers: map[string]string{"127.0.0.1": "localhost"}, calls: map[string]int{}}
	snap := collect.Snapshot{Taken: t0, Source: "netlink"}
	for i := range 15 {
		peer := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
		dns.answers[peer.String()] = fmt.Sprintf("peer%d.example", i)
		c := tcpSock(collect.StateEstablished, uint16(41000+i), 443)
		c.Remote, c.Inode = ap(peer, 443), uint32(100+i)
		snap.Sockets = append(snap.Sockets, c)
	}
	h := namesHarness(t, Names{Hosts: true}, dns)
	pending := hostMsgs(h.send(snapMsg{snap: snap}))
	if len(pending) != maxLookups {
		t.Fatalf("first frame: %d lookups started, want the bound %d", len(pending), maxLookups)
	}
	total := len(pending)
	for len(pending) > 0 {
		m := pending[0]
		pending = pending[1:]
		more := hostMsgs(h.send(m))
		if h.m.names.inflight > maxLookups {
			t.Fatalf("%d lookups in flight, over the bound %d", h.m.names.inflight, maxLookups)
		}
		total += len(more)
		pending = append(pending, more...)
	}
	if total != 16 {
		t.Errorf("%d lookups for 16 addresses", total)
	}
	s := h.screen()
	for i := range 15 {
		if !strings.Contains(s, fmt.Sprintf("peer%d.example:443", i)) {
			t.Errorf("peer%d not named:\n%s", i, s)
		}
	}
}

// n switches between numbers and names: with nothing on the command
// line it names hosts and services, and back; and the lookups it starts
// run off Update like the others.
func TestNamesKey(t *testing.T) {
	table, err := names.ParseServices(strings.NewReader("https 443/tcp\nhttp-alt 8080/tcp\n"))
	if err != nil {
		t.Fatal(err)
	}
	dns := &fakeDNS{t: t, answers: map[string]string{"127.0.0.1": "localhost"}, calls: map[string]int{}}
	h := namesHarness(t, Names{Table: table}, dns)
	if cmd := h.send(snapMsg{snap: namedSnap(peerA, 40000)}); len(hostMsgs(cmd)) != 0 {
		t.Fatal("numbers: no lookup may start")
	}
	if s := h.screen(); !strings.Contains(s, "127.0.0.1:8080") || !strings.Contains(s, "192.0.2.7:443") {
		t.Fatalf("numeric by default:\n%s", s)
	}
	for _, m := range hostMsgs(h.key("n")) {
		h.send(m)
	}
	if s := h.screen(); !strings.Contains(s, "localhost:http-alt") || !strings.Contains(s, "192.0.2.7:https") {
		t.Fatalf("after n, names:\n%s", s)
	}
	h.key("n")
	if s := h.screen(); !strings.Contains(s, "127.0.0.1:8080") || strings.Contains(s, "https") {
		t.Fatalf("after n again, numbers:\n%s", s)
	}
}

// A name too long for its column keeps its start and its port; an
// address loses its whole IP.
func TestFitAddrName(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"build-server-17.example.org:ssh", 16, "build-serve…:ssh"},
		{"127.0.0.1:40000", 10, "…:40000   "},
		{"[::1]:443", 6, "…:443 "},
		{"localhost:80", 14, "localhost:80  "},
	} {
		if got := fitAddr(c.in, c.n); got != c.want {
			t.Errorf("fitAddr(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// goldenServices is the services table of the names goldens, so that
// they do not depend on this host's /etc/services: 8080 has a name for
// TCP only, 53 one for UDP only, as in Debian's file.
const goldenServices = `
http-alt	8080/tcp	webcache
domain		53/udp
mdns		5353/udp
omniorb		8088/tcp
irdmi		8000/tcp
`

// The fixture's table with service names and 127.0.0.1 named (::1 is
// still being looked up), at 80 and 120 columns, filtered to the rows
// with names and a few without: names replace numbers per protocol, and
// the address columns fit them.
func TestGoldenNames(t *testing.T) {
	for name, sz := range map[string][2]int{"names_80x24": {80, 24}, "names_120x30": {120, 30}} {
		t.Run(name, func(t *testing.T) {
			checkGoldens(t, name, sz[0], sz[1], func(t *testing.T, noColor bool) *harness {
				table, err := names.ParseServices(strings.NewReader(goldenServices))
				if err != nil {
					t.Fatal(err)
				}
				cache := &names.Hosts{Now: func() time.Time { return t0 }}
				cache.Claim(lo4)
				cache.Put(lo4, []string{"localhost."}, nil)
				hs := newHarness(t, Config{NoColor: noColor, Filter: "port 8080 or port 53 or port 5353 or port 8001", Names: Names{Hosts: true, Services: true, Table: table, Cache: cache,
					Lookup: func(context.Context, string) ([]string, error) { return nil, errors.New("no lookups here") }}})
				hs.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
				hs.feed(fixture())
				hs.feed(fixtureNext())
				hs.key("j")
				return hs
			})
		})
	}
}

// cellWidth agrees with ansi.StringWidth on plain ASCII, wide and
// combining characters, escape sequences and control bytes; fit pads and
// cuts by it.
func TestCellWidthAgreesWithAnsi(t *testing.T) {
	for _, s := range []string{
		"", "ESTABLISHED", "127.0.0.1:8080", "[::1]:22", "nginx(1234)",
		"日本語", "e\u0301", "a\tb", "\x1b[31mred\x1b[0m", "~\x7f", "ü",
	} {
		if got, want := cellWidth(s), ansi.StringWidth(s); got != want {
			t.Errorf("cellWidth(%q) = %d, ansi.StringWidth = %d", s, got, want)
		}
	}
	if got := fit("日本語", 4, false); ansi.StringWidth(got) != 4 || !strings.HasPrefix(got, "日") {
		t.Errorf("fit(日本語, 4) = %q, %d cells", got, ansi.StringWidth(got))
	}
	if got := fit("LISTEN", 8, true); got != "  LISTEN" {
		t.Errorf("fit(LISTEN, 8, right) = %q", got)
	}
	if got := fit("ESTABLISHED", 6, false); got != "ESTAB…" {
		t.Errorf("fit(ESTABLISHED, 6) = %q", got)
	}
}
