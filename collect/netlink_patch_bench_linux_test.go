//go:build linux

package collect

import (
	"context"
	"testing"
)

// BenchmarkPatch is a patch of the host's whole table with nothing
// announced: the passes over the rows (the copy, the tagging, the count,
// the timed rows) and the lookups of the TIME_WAIT rows due, as a live
// view pays them each refresh. Run it beside a farm (bench/sockfarm) for
// a large table; rows reports its size.
func BenchmarkPatch(b *testing.B) {
	ctx := context.Background()
	src := NewNetlink(Options{TCP: true, UDP: true, IPv4: true, IPv6: true, States: AllStates})
	defer src.Close()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	base, err := src.Sockstat()
	if err != nil {
		b.Fatal(err)
	}
	var spare []Socket
	b.ReportAllocs()
	for b.Loop() {
		p, counts, err := src.Patch(ctx, &snap, base, nil, nil, nil, spare)
		if err != nil {
			b.Fatal(err)
		}
		spare, snap, base = snap.Sockets, p, counts.Kernel
	}
	b.ReportMetric(float64(len(snap.Sockets)), "rows")
}
