//go:build linux

package collect

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// benchTable makes sure the table holds at least about 1000 loopback
// sockets (a listener and 250 connected pairs per family), so the
// benchmarks never measure an empty table. A harness may run them on a
// much bigger table; these sockets are then a small part of it.
func benchTable(b *testing.B) {
	b.Helper()
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		l, port := listenTCP(b, fam, 512, nil)
		for range 250 {
			c := dialTCP(b, fam, loopback(fam), port, nil)
			s := acceptTCP(b, l)
			// Closing with RST leaves no TIME_WAIT behind, so one
			// benchmark does not grow the table of the next.
			for _, r := range []*rawFD{c, s} {
				if err := unix.SetsockoptLinger(r.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func benchSnapshot(b *testing.B, opts Options) {
	benchTable(b)
	n := NewNetlink(opts)
	b.Cleanup(func() { n.Close() })
	ctx := context.Background()
	snap, err := n.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		snap, err = n.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(snap.Sockets)), "sockets")
}

// BenchmarkSnapshot is one full dump, TCP and UDP, both families, without
// owners or tcp_info.
func BenchmarkSnapshot(b *testing.B) { benchSnapshot(b, Options{}) }

// BenchmarkSnapshotTCPInfo adds tcp_info on every TCP socket.
func BenchmarkSnapshotTCPInfo(b *testing.B) { benchSnapshot(b, Options{TCPInfo: true}) }

// BenchmarkSnapshotOwners is a dump with owners when the cache already
// knows every inode: the steady state of a calm table.
func BenchmarkSnapshotOwners(b *testing.B) { benchSnapshot(b, Options{Owners: true}) }

// BenchmarkOwnersCold is one full /proc/*/fd scan into an empty cache for
// the current table.
func BenchmarkOwnersCold(b *testing.B) { benchOwnersCold(b, true) }

// benchOwnersCold times one full pass into an empty cache, with the
// /proc scan when scan is set and the task_file iterator otherwise.
func benchOwnersCold(b *testing.B, scan bool) {
	b.Helper()
	benchTable(b)
	n := NewNetlink(Options{})
	b.Cleanup(func() { n.Close() })
	snap, err := n.Snapshot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	// The iterator is loaded once, as the live view does: its load (BTF,
	// the verifier) is not part of a pass.
	var it *taskIter
	if !scan {
		if it, err = loadTaskIter(); err != nil {
			b.Skipf("the task_file iterator: %v", err)
		}
		b.Cleanup(it.close)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := newOwnerCache()
		c.noIter, c.iter = scan, it
		c.resolve(snap.Sockets)
	}
	b.ReportMetric(float64(len(snap.Sockets)), "sockets")
}
