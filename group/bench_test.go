package group

import (
	"testing"

	"socktop/internal/synth"
)

// BenchmarkGroup groups a 100k-socket table by each key with a reused
// Grouper, as the live view does every refresh.
func BenchmarkGroup(b *testing.B) {
	socks := synth.Table(100_000, 1).Sockets
	for _, by := range Bys {
		b.Run(by.String(), func(b *testing.B) {
			var gr Grouper
			gr.Group(socks, by) // the steady state: sized by a first refresh
			b.ReportAllocs()
			for b.Loop() {
				gs := gr.Group(socks, by)
				Sort(gs, ByCount, false)
			}
		})
	}
}
