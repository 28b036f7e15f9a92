//go:build linux

package collect

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkNetNSRefresh is one --all-netns refresh over the same number
// of sockets (SOCKTOP_NETNS_SOCKETS, default 4000: established pairs and
// one listener per namespace) held in 1 namespace or spread over 100. Only
// the benchmark's namespaces are dumped besides socktop's own, so run it
// in an empty one: bench/netns.sh does (unshare -n).
func BenchmarkNetNSRefresh(b *testing.B) {
	total := 4000
	if v, err := strconv.Atoi(os.Getenv("SOCKTOP_NETNS_SOCKETS")); err == nil && v > 0 {
		total = v
	}
	for _, spaces := range []int{1, 100} {
		for _, owners := range []bool{false, true} {
			b.Run(fmt.Sprintf("spaces=%d/sockets=%d/owners=%v", spaces, total, owners), func(b *testing.B) {
				var names []testNetns
				for range spaces {
					ns := newTestNetns(b)
					names = append(names, ns)
					pairs := (total/spaces - 1) / 2
					inNetns(b, ns.path, func() {
						l, port := listenTCP(b, unix.AF_INET, 4096, nil)
						for range pairs {
							dialTCP(b, unix.AF_INET, loopback(unix.AF_INET), port, nil)
							acceptTCP(b, l)
						}
					})
				}
				n := NewNetlink(Options{AllNetNS: true, Owners: owners})
				n.others.scan.keep = func(ns NetNS) bool { return strings.HasPrefix(ns.Name, "socktop-test-") }
				b.Cleanup(func() { n.Close() })
				ctx := context.Background()
				snap, err := n.Snapshot(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for i := range snap.Sockets {
					if strings.HasPrefix(snap.Sockets[i].NetNS.Name, "socktop-test-") {
						got++
					}
				}
				if want := spaces * (1 + 2*((total/spaces-1)/2)); got != want {
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
