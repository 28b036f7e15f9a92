package demo

import (
	"context"
	"fmt"
	"testing"

	"socktop/collect"
	"socktop/internal/synth"
)

// BenchmarkObserve measures ObserveChanges on a busy machine's table in a
// steady state, which the terminal view calls once per refresh for every
// running demo with the changes its tracker already computed.
func BenchmarkObserve(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("%dsockets", n), func(b *testing.B) {
			sc, _ := Find("polite-close")
			r, err := Start(context.Background(), sc, Config{Fast: true})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Stop()
			snap := synth.Table(n, 1)
			ch := collect.Diff(snap, snap)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.ObserveChanges(snap, &ch)
			}
		})
	}
}
