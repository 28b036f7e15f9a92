package demo

import (
	"context"
	"fmt"
	"testing"

	"socktop/internal/synth"
)

// BenchmarkObserve measures Observe on a busy machine's table, which the
// terminal view calls once per refresh for every running demo.
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
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.Observe(snap)
			}
		})
	}
}
