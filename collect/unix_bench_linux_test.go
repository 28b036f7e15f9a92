//go:build linux

package collect

import (
	"context"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// unixFarm makes n Unix sockets (socketpairs, a tenth of them bound to
// an abstract name so the dump carries names too) for the benchmarks.
func unixFarm(b *testing.B, n int) {
	b.Helper()
	for i := 0; i < n/2; i++ {
		p := unixPair(b, unix.SOCK_STREAM)
		if i%10 == 0 {
			s := unixSock(b, unix.SOCK_STREAM)
			must(b, "bind", unix.Bind(s, &unix.SockaddrUnix{Name: "@socktop-bench-" + randomName(b)}))
		}
		_ = p
	}
}

// BenchmarkUnixDump measures one dump of about 10k Unix sockets (plus the
// host's own) into Socket rows: socktop's own request and parser, and
// vishvananda/netlink's UnixSocketDiagInfo with its result turned into
// the same rows. docs/performance.md has the figures.
func BenchmarkUnixDump(b *testing.B) {
	unixFarm(b, 10000)
	b.Run("socktop", func(b *testing.B) {
		n := NewNetlink(Options{Unix: true})
		defer n.Close()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			snap, err := n.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(snap.Sockets)), "sockets")
		}
	})
	b.Run("vishvananda", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := netlink.UnixSocketDiagInfo()
			if err != nil {
				b.Fatal(err)
			}
			socks := make([]Socket, 0, len(res))
			for _, r := range res {
				s := Socket{Proto: Unix, Type: SockType(r.DiagMsg.Type), State: State(r.DiagMsg.State),
					Inode: r.DiagMsg.INode, Cookie: uint64(r.DiagMsg.Cookie[0]) | uint64(r.DiagMsg.Cookie[1])<<32}
				if r.Name != nil {
					s.Path = *r.Name
				}
				if r.Peer != nil {
					s.PeerInode = *r.Peer
				}
				if r.Queue != nil {
					s.RecvQ, s.SendQ = r.Queue.RQueue, r.Queue.WQueue
				}
				socks = append(socks, s)
			}
			b.ReportMetric(float64(len(socks)), "sockets")
		}
	})
}
