package collect

import (
	"net/netip"
	"testing"
)

func tcpSock(local, remote string, st State) Socket {
	return Socket{Proto: TCP, Family: 4, State: st, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote)}
}

// TestPeersFind checks what the kernel test cannot make without traffic
// to another host or a second namespace: a remote that is not local, a
// local one whose socket is missing, the same 4-tuple in two namespaces,
// an address counted as local because a socket is bound to it or the
// host has it, and a TIME_WAIT leftover beside a live socket.
func TestPeersFind(t *testing.T) {
	const otherNS = 4026599999
	socks := []Socket{
		0: tcpSock("127.0.0.1:5000", "127.0.0.1:40000", StateEstablished),
		1: tcpSock("127.0.0.1:40000", "127.0.0.1:5000", StateEstablished),
		2: tcpSock("192.0.2.2:40001", "203.0.113.5:443", StateEstablished),
		3: tcpSock("127.0.0.1:40002", "127.0.0.1:6000", StateSynSent),
		// A listener on an address of the host: the address is local.
		4: tcpSock("192.0.2.50:22", "0.0.0.0:0", StateListen),
		5: tcpSock("192.0.2.50:22", "192.0.2.2:40003", StateEstablished),
		6: tcpSock("192.0.2.2:40003", "192.0.2.50:22", StateEstablished),
		// The reversed tuple of 0, in another namespace: not its peer.
		7: tcpSock("127.0.0.1:40000", "127.0.0.1:5001", StateEstablished),
		8: tcpSock("127.0.0.1:5001", "127.0.0.1:40000", StateEstablished),
		// 9 is a TIME_WAIT leftover of 10's 4-tuple; 10 is live.
		9:  tcpSock("127.0.0.1:7000", "127.0.0.1:41000", StateTimeWait),
		10: tcpSock("127.0.0.1:7000", "127.0.0.1:41000", StateEstablished),
		11: tcpSock("127.0.0.1:41000", "127.0.0.1:7000", StateEstablished),
		// A v4 client of a dual-stack listener: the accepted end is v6.
		12: tcpSock("127.0.0.1:42000", "127.0.0.1:8000", StateEstablished),
		13: {Proto: TCP, Family: 6, State: StateEstablished,
			Local: netip.MustParseAddrPort("[::ffff:127.0.0.1]:8000"), Remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:42000")},
		// UDP and TCP on the same ports are not each other's peers.
		14: {Proto: UDP, Family: 4, State: StateEstablished,
			Local: netip.MustParseAddrPort("127.0.0.1:40000"), Remote: netip.MustParseAddrPort("127.0.0.1:5000")},
		15: tcpSock("10.9.9.9:9000", "10.9.9.9:0", StateListen),
		16: tcpSock("192.0.2.2:40004", "10.1.1.1:9000", StateSynSent),
		// 17 is live and 18 a TIME_WAIT leftover listed after it.
		17: tcpSock("127.0.0.1:7100", "127.0.0.1:41100", StateEstablished),
		18: tcpSock("127.0.0.1:7100", "127.0.0.1:41100", StateTimeWait),
		19: tcpSock("127.0.0.1:41100", "127.0.0.1:7100", StateEstablished),
		// UDP clients of unconnected servers: a resolver stub on its
		// address, one on 0.0.0.0, one on :: taking IPv4; and a TCP
		// socket to the stub's port, which no UDP server answers.
		20: {Proto: UDP, Family: 4, State: StateUnconn, Local: netip.MustParseAddrPort("127.0.0.53:53"), Remote: netip.MustParseAddrPort("0.0.0.0:0")},
		21: {Proto: UDP, Family: 4, State: StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:50000"), Remote: netip.MustParseAddrPort("127.0.0.53:53")},
		22: {Proto: UDP, Family: 4, State: StateUnconn, Local: netip.MustParseAddrPort("0.0.0.0:5353"), Remote: netip.MustParseAddrPort("0.0.0.0:0")},
		23: {Proto: UDP, Family: 4, State: StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:50001"), Remote: netip.MustParseAddrPort("127.0.0.1:5353")},
		24: {Proto: UDP, Family: 6, State: StateUnconn, Local: netip.MustParseAddrPort("[::]:6363"), Remote: netip.MustParseAddrPort("[::]:0")},
		25: {Proto: UDP, Family: 4, State: StateEstablished, Local: netip.MustParseAddrPort("127.0.0.1:50002"), Remote: netip.MustParseAddrPort("127.0.0.1:6363")},
		26: tcpSock("127.0.0.1:50003", "127.0.0.53:53", StateSynSent),
	}
	socks[7].NetNS = NetNS{Inode: otherNS}
	socks[8].NetNS = NetNS{Inode: otherNS}
	socks[15].Proto = UDP
	var p Peers
	p.Build(socks)
	for _, c := range []struct {
		i    int
		want int // -1: no peer
		st   PeerStatus
	}{
		{0, 1, PeerFound}, {1, 0, PeerFound},
		{2, -1, PeerNotLocal},
		{3, -1, PeerNotFound},
		{4, -1, PeerNone},
		{5, 6, PeerFound}, {6, 5, PeerFound},
		{7, 8, PeerFound}, {8, 7, PeerFound},
		{11, 10, PeerFound}, {10, 11, PeerFound},
		{12, 13, PeerFound}, {13, 12, PeerFound},
		{14, -1, PeerNotFound},
		{16, -1, PeerNotLocal},
		{19, 17, PeerFound},
		{21, 20, PeerFound}, {20, -1, PeerNone},
		{23, 22, PeerFound}, {25, 24, PeerFound},
		{26, -1, PeerNotFound},
	} {
		got, st := p.Find(&socks[c.i])
		var want *Socket
		if c.want >= 0 {
			want = &socks[c.want]
		}
		if got != want || st != c.st {
			t.Errorf("Find(socks[%d] %v -> %v) = %v, %v; want socks[%d], %v", c.i, socks[c.i].Local, socks[c.i].Remote, got, st, c.want, c.st)
		}
	}
	// The host's own addresses count once it says it has them.
	p.SetHostAddrs([]netip.Addr{netip.MustParseAddr("10.1.1.1")})
	p.Build(socks)
	if got, st := p.Find(&socks[16]); got != nil || st != PeerNotFound {
		t.Errorf("with 10.1.1.1 a host address: Find = %v, %v; want not found", got, st)
	}
	var none *Peers
	if got, st := none.Find(&socks[0]); got != nil || st != PeerNotFound {
		t.Errorf("a nil Peers: %v, %v", got, st)
	}
}

// TestPeersSteadyState: rebuilt for a snapshot of the same size, the index
// allocates nothing.
func TestPeersSteadyState(t *testing.T) {
	socks := peerFarm(2000)
	var p Peers
	p.Build(socks)
	if n := testing.AllocsPerRun(10, func() { p.Build(socks) }); n != 0 {
		t.Errorf("Build allocates %v times per rebuild, want 0", n)
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = p.Find(&socks[0]) }); n != 0 {
		t.Errorf("Find allocates %v times, want 0", n)
	}
}

// peerFarm makes n sockets like a busy host's: half of them are the
// two ends of loopback TCP connections, a quarter connections to other
// hosts, the rest Unix socketpairs.
func peerFarm(n int) []Socket {
	socks := make([]Socket, 0, n)
	lo := netip.MustParseAddr("127.0.0.1")
	host := netip.MustParseAddr("192.0.2.2")
	for i := 0; len(socks) < n; i++ {
		port := uint16(1024 + i%60000)
		switch i % 4 {
		case 0:
			a := netip.AddrPortFrom(lo, port)
			b := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 16), byte(i >> 8)}), uint16(30000+i%30000))
			socks = append(socks,
				Socket{Proto: TCP, Family: 4, State: StateEstablished, Local: a, Remote: b, Inode: uint32(2 * i)},
				Socket{Proto: TCP, Family: 4, State: StateEstablished, Local: b, Remote: a, Inode: uint32(2*i + 1)})
		case 1, 2:
			r := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 443)
			socks = append(socks, Socket{Proto: TCP, Family: 4, State: StateEstablished, Local: netip.AddrPortFrom(host, port), Remote: r, Inode: uint32(2 * i)})
		case 3:
			socks = append(socks,
				Socket{Proto: Unix, Type: SockStream, State: StateEstablished, Inode: uint32(2 * i), PeerInode: uint32(2*i + 1)},
				Socket{Proto: Unix, Type: SockStream, State: StateEstablished, Inode: uint32(2*i + 1), PeerInode: uint32(2 * i)})
		}
	}
	return socks[:n]
}

// BenchmarkPeers100k measures building the index of 100k sockets (a
// rebuild, as every refresh does) and asking it for every socket's peer.
// docs/performance.md has the figures.
func BenchmarkPeers100k(b *testing.B) {
	socks := peerFarm(100000)
	b.Run("build", func(b *testing.B) {
		var p Peers
		p.Build(socks)
		b.ReportAllocs()
		for b.Loop() {
			p.Build(socks)
		}
	})
	b.Run("fresh", func(b *testing.B) {
		// As output.WriteJSON does: one new index per document.
		b.ReportAllocs()
		for b.Loop() {
			new(Peers).Build(socks)
		}
	})
	b.Run("find-all", func(b *testing.B) {
		var p Peers
		p.Build(socks)
		b.ReportAllocs()
		for b.Loop() {
			for i := range socks {
				_, _ = p.Find(&socks[i])
			}
		}
	})
}
