//go:build linux

package collect

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkNetNSRefresh is one --all-netns refresh over the same number
// of sockets (SOCKTOP_NETNS_SOCKETS, default 4000: established pairs and
// one listener per namespace) held in 1 namespace, spread over 100, or
// spread over 10 of 100 (the other 90 empty, as namespaces of containers
// that hold no socket are, or hold only Unix ones). Only
// the benchmark's namespaces are dumped besides socktop's own, so run it
// in an empty one: bench/netns.sh does (unshare -n).
func BenchmarkNetNSRefresh(b *testing.B) {
	total := 4000
	if v, err := strconv.Atoi(os.Getenv("SOCKTOP_NETNS_SOCKETS")); err == nil && v > 0 {
		total = v
	}
	for _, c := range []struct{ spaces, filled int }{{1, 1}, {100, 100}, {100, 10}} {
		spaces, filled := c.spaces, c.filled
		tag := ""
		if filled < spaces {
			tag = fmt.Sprintf(",filled=%d", filled)
		}
		pairs := (total/filled - 1) / 2
		for _, owners := range []bool{false, true} {
			b.Run(fmt.Sprintf("spaces=%d%s/sockets=%d/owners=%v", spaces, tag, total, owners), func(b *testing.B) {
				var names []testNetns
				for i := range spaces {
					ns := newTestNetns(b)
					names = append(names, ns)
					if i >= filled {
						continue
					}
					inNetns(b, ns.path, func() {
						l, port := listenTCP(b, unix.AF_INET, 4096, nil)
						for range pairs {
							dialTCP(b, unix.AF_INET, loopback(unix.AF_INET), port, nil)
							acceptTCP(b, l)
						}
					})
				}
				n := NewNetlink(Options{AllNetNS: true, Owners: owners})
				// Only its own: other tests on the host make socktop-test-
				// namespaces too.
				mine := map[uint32]bool{}
				for _, ns := range names {
					mine[ns.inode] = true
				}
				n.others.scan.keep = func(ns NetNS) bool { return mine[ns.Inode] }
				b.Cleanup(func() { n.Close() })
				ctx := context.Background()
				snap, err := n.Snapshot(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for i := range snap.Sockets {
					if mine[snap.Sockets[i].NetNS.Inode] {
						got++
					}
				}
				if want := filled * (1 + 2*pairs); got != want {
					b.Fatalf("the benchmark's namespaces hold %d sockets, want %d", got, want)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := n.Snapshot(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(got), "sockets")
			})
		}
	}
}
