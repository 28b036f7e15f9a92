package names

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"socktop/internal/kerneltest"
)

// ptrServer is a DNS server on the test's own loopback address that
// answers one PTR question, for the test's address, and NXDOMAIN to any
// other: the Go resolver is exercised for real with no traffic off the
// host.
type ptrServer struct {
	conn    *net.UDPConn
	name    string // the answer, "own.socktop.test."
	queries atomic.Int32
	mu      sync.Mutex
	asked   map[string]bool // the names questions were about
}

func startPTRServer(t *testing.T, name string) *ptrServer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(kerneltest.Addr4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s := &ptrServer{conn: c, name: name, asked: map[string]bool{}}
	t.Cleanup(func() { c.Close() })
	go s.serve()
	return s
}

func (s *ptrServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			s.conn.WriteToUDPAddrPort(resp, from)
		}
	}
}

// answer builds the reply to one query: the header and question copied,
// and one PTR record when the question is the test address's name.
func (s *ptrServer) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	s.queries.Add(1)
	// The question: labels up to the root, then type and class.
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	end := i + 5
	if end > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	s.mu.Lock()
	s.asked[strings.Join(labels, ".")+"."] = true
	s.mu.Unlock()
	resp := append([]byte(nil), q[:end]...)
	binary.BigEndian.PutUint16(resp[2:], 0x8180) // response, recursion desired and available
	binary.BigEndian.PutUint16(resp[8:], 0)      // no authority
	binary.BigEndian.PutUint16(resp[10:], 0)     // no additional records
	if qtype != 12 || strings.Join(labels, ".")+"." != reverseName(kerneltest.Addr4) {
		binary.BigEndian.PutUint16(resp[2:], 0x8183) // NXDOMAIN
		return resp
	}
	binary.BigEndian.PutUint16(resp[6:], 1)
	var rdata []byte
	for _, l := range strings.Split(strings.TrimSuffix(s.name, "."), ".") {
		rdata = append(append(rdata, byte(len(l))), l...)
	}
	rdata = append(rdata, 0)
	resp = append(resp, 0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
	return append(resp, rdata...)
}

// reverseName is an IPv4 address's in-addr.arpa name.
func reverseName(a netip.Addr) string {
	b := a.As4()
	return net.IPv4(b[3], b[2], b[1], b[0]).String() + ".in-addr.arpa."
}

// The Go resolver, pointed at the loopback server: the test's own
// address gets the server's name through Hosts.Resolve; an address the
// server does not know stays nameless (and cached so); and a name from
// /etc/hosts comes without asking the server.
func TestGoResolverOnLoopback(t *testing.T) {
	srv := startPTRServer(t, "own.socktop.test.")
	server := srv.conn.LocalAddr().String()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", server)
	}}
	unknown := netip.AddrFrom4([4]byte{127, kerneltest.Addr4.As4()[1], kerneltest.Addr4.As4()[2], kerneltest.Addr4.As4()[3] ^ 1})
	addrs := []netip.Addr{kerneltest.Addr4, unknown}
	hostsName, inHosts := etcHostsName(t, "127.0.0.1")
	if inHosts {
		addrs = append(addrs, netip.MustParseAddr("127.0.0.1"))
	}
	h := &Hosts{}
	h.Resolve(context.Background(), r.LookupAddr, addrs, 4)
	if n, ok := h.Name(kerneltest.Addr4); !ok || n != "own.socktop.test" {
		t.Errorf("%v: name %q, %v; want own.socktop.test", kerneltest.Addr4, n, ok)
	}
	if n, ok := h.Name(unknown); ok {
		t.Errorf("%v has no PTR record, got %q", unknown, n)
	}
	if h.Claim(unknown) {
		t.Errorf("the failed lookup of %v is not cached", unknown)
	}
	if inHosts {
		if n, _ := h.Name(netip.MustParseAddr("127.0.0.1")); n != hostsName {
			t.Errorf("127.0.0.1: %q, want %q from /etc/hosts", n, hostsName)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, a := range []netip.Addr{kerneltest.Addr4, unknown} {
		if !srv.asked[reverseName(a)] {
			t.Errorf("no question about %v reached the server: %v", a, srv.asked)
		}
	}
	if srv.asked["1.0.0.127.in-addr.arpa."] {
		t.Error("127.0.0.1 was asked of DNS; /etc/hosts names it")
	}
}

// etcHostsName is the first name /etc/hosts gives addr, as the Go
// resolver reads it.
func etcHostsName(t *testing.T, addr string) (string, bool) {
	f, err := os.Open("/etc/hosts")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fs := strings.Fields(line); len(fs) >= 2 && fs[0] == addr {
			return fs[1], true
		}
	}
	return "", false
}
