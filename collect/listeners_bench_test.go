package collect_test

import (
	"fmt"
	"testing"

	"socktop/collect"
	"socktop/internal/synth"
)

// BenchmarkListenerHealth is the cost of one snapshot's listener health,
// with the index reused as the live view reuses it.
func BenchmarkListenerHealth(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		snap := synth.Table(n, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var x collect.ListenerIndex
			x.Health(snap.Sockets)
			b.ReportAllocs()
			for b.Loop() {
				x.Health(snap.Sockets)
			}
		})
	}
}

// BenchmarkReadListenCounters is the cost of one reading: open, read
// and parse /proc/net/netstat.
func BenchmarkReadListenCounters(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := collect.ReadListenCounters(""); err != nil {
			b.Fatal(err)
		}
	}
}
