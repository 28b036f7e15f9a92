// Package synth builds synthetic snapshots of a given size for benchmarks
// and view tests of the pure functions (diff, filter, sort, render), where
// the kernel's behaviour is not what is measured. Collector tests never use
// it: they build real sockets.
package synth

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"socktop/collect"
)

// Table returns a snapshot of n sockets shaped like a busy proxy: a few
// listeners, 70% ESTABLISHED and 30% TIME_WAIT, half IPv4 and half IPv6,
// with owners on the sockets that have a descriptor. The same seed gives
// the same table.
func Table(n int, seed uint64) *collect.Snapshot {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	snap := &collect.Snapshot{
		Taken:   time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Source:  "synthetic",
		Sockets: make([]collect.Socket, 0, n),
	}
	owners := [][]collect.Owner{
		{{PID: 812, Name: "nginx"}},
		{{PID: 813, Name: "nginx"}, {PID: 814, Name: "nginx"}},
		{{PID: 2201, Name: "envoy"}},
		{{PID: 97, Name: "sshd"}},
	}
	v4 := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	v6 := netip.IPv6Loopback()
	for i := 0; len(snap.Sockets) < n; i++ {
		fam, lo := uint8(4), v4
		if i%2 == 1 {
			fam, lo = 6, v6
		}
		s := collect.Socket{Proto: collect.TCP, Family: fam, UID: 1000}
		server := uint16(8000 + r.IntN(16))
		switch {
		case i < 16:
			s.State = collect.StateListen
			s.Local = netip.AddrPortFrom(lo, server)
			if fam == 4 {
				s.Remote = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			} else {
				s.Remote = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
			}
			s.SendQ = 4096
			s.Inode = uint32(100000 + i)
			s.Owners = owners[i%len(owners)]
		case r.IntN(10) < 7:
			s.State = collect.StateEstablished
			s.Local = netip.AddrPortFrom(lo, server)
			s.Remote = netip.AddrPortFrom(lo, uint16(10000+i%55000))
			s.RecvQ = uint32(r.IntN(3)) * 512
			s.SendQ = uint32(r.IntN(2)) * 1024
			s.Inode = uint32(100000 + i)
			s.Owners = owners[i%len(owners)]
			s.Timer = collect.TimerKeepalive
			s.TimerLeft = time.Duration(r.IntN(15000)) * time.Millisecond
		default:
			s.State = collect.StateTimeWait
			s.Local = netip.AddrPortFrom(lo, uint16(10000+i%55000))
			s.Remote = netip.AddrPortFrom(lo, server)
			s.Timer = collect.TimerTimeWait
			s.TimerLeft = time.Duration(r.IntN(60000)) * time.Millisecond
		}
		// Spread the client ports so 4-tuples stay unique past 55k rows.
		if i >= 55000 {
			s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i / 55000), 2}), s.Local.Port())
			if fam == 6 {
				s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte{15: 1, 14: byte(i / 55000)}), s.Local.Port())
			}
		}
		snap.Sockets = append(snap.Sockets, s)
	}
	return snap
}
