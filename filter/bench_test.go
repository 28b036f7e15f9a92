package filter_test

import (
	"testing"

	"socktop/filter"
	"socktop/internal/synth"
)

// benchExprs are typical filters: a state, a port, an address range, and
// a long one with owners, negation and grouping.
var benchExprs = []struct{ name, expr string }{
	{"state", "state time-wait"},
	{"port", "sport = :8003 or dport = :8003"},
	{"prefix", "src 127.0.0.0/8 and dport >= :1024"},
	{"complex", "state connected ( src 127.0.0.0/8 or dst [::1] ) and not proc nginx* and uid >= 1000 or port 8080"},
}

func BenchmarkParse(b *testing.B) {
	for _, e := range benchExprs {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := filter.Parse(e.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFilterMatch100k filters a 100k-socket table, as one refresh of
// a busy proxy does; ns/op is for the whole table.
func BenchmarkFilterMatch100k(b *testing.B) {
	snap := synth.Table(100_000, 1)
	for _, e := range benchExprs {
		f, err := filter.Parse(e.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = 0
				for i := range snap.Sockets {
					if f.Match(&snap.Sockets[i]) {
						n++
					}
				}
			}
			b.ReportMetric(float64(n), "matched")
		})
	}
}
