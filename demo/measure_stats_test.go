package demo

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestMeanStddev(t *testing.T) {
	mean, sd, err := meanStddev([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if err != nil {
		t.Fatal(err)
	}
	// The sample standard deviation: the sum of squares 32 over n-1 = 7.
	if mean != 5 || math.Abs(sd-math.Sqrt(32.0/7)) > 1e-12 {
		t.Errorf("mean, sd = %v, %v; want 5, %v", mean, sd, math.Sqrt(32.0/7))
	}
	if _, sd, _ := meanStddev([]float64{3, 3}); sd != 0 {
		t.Errorf("sd of equal runs = %v, want 0", sd)
	}
	for _, xs := range [][]float64{nil, {1}} {
		if _, _, err := meanStddev(xs); !errors.Is(err, errFewRuns) {
			t.Errorf("meanStddev(%v) error = %v, want errFewRuns", xs, err)
		}
	}
	if _, err := summarize(settingPipe, 1024, []float64{1}); !errors.Is(err, errFewRuns) {
		t.Errorf("summarize of one run: error = %v, want errFewRuns", err)
	}
}

func TestMbps(t *testing.T) {
	if got := mbps(1_250_000, time.Second); got != 10 {
		t.Errorf("1.25 MB in 1 s = %v Mbit/s, want 10", got)
	}
	if got := mbps(1000, 0); got != 0 {
		t.Errorf("no time = %v, want 0", got)
	}
}

func TestGrid(t *testing.T) {
	full := gridFor(false)
	want := []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10}
	if len(full.sizes) != len(want) {
		t.Fatalf("full grid sizes %v, want %v", full.sizes, want)
	}
	for i := range want {
		if full.sizes[i] != want[i] {
			t.Fatalf("full grid sizes %v, want %v", full.sizes, want)
		}
	}
	fast := gridFor(true)
	for _, s := range bufferSettings {
		if full.runs[s] < 3 || fast.runs[s] != 2 {
			t.Errorf("%s: runs full %d fast %d; want several and 2", s, full.runs[s], fast.runs[s])
		}
		if s != settingLAN && (fast.dur[s] <= 0 || fast.dur[s] > full.dur[s]) {
			t.Errorf("%s: duration fast %v full %v", s, fast.dur[s], full.dur[s])
		}
	}
	if len(fast.sizes) >= len(full.sizes) {
		t.Errorf("fast grid %v is not reduced", fast.sizes)
	}
	if lanBytes(1024) != 256<<10 || lanBytes(512<<10) != 1<<20 {
		t.Errorf("lanBytes = %d, %d", lanBytes(1024), lanBytes(512<<10))
	}
}

func TestBufferTable(t *testing.T) {
	rows := []bufferRow{
		{Setting: settingLoopback, BufferBytes: 1024, Runs: 2, MbpsMean: 1234.4, MbpsStddev: 5.6},
		{Setting: settingPipe, BufferBytes: 1024, Runs: 2, MbpsMean: 55.55, MbpsStddev: 0.25},
		{Setting: settingMemcpy, BufferBytes: 2048, Runs: 2, MbpsMean: 9.567, MbpsStddev: 0.011},
	}
	tb := bufferTable([]int{1024, 2048}, rows, map[string]string{settingLAN: "skipped"}, []string{"n"})
	if tb.Name != "buffer-sizes" || len(tb.Objects) != len(rows) || len(tb.Rows) != 2 {
		t.Fatalf("table %+v", tb)
	}
	want := [][]string{
		{"1 KiB", "1234 ± 6", "?", "skipped", "?", "55.5 ± 0.2", "?", "-", "?"},
		{"2 KiB", "-", "?", "skipped", "?", "-", "?", "9.57 ± 0.01", "?"},
	}
	for i, r := range tb.Rows {
		if len(r) != len(tb.Columns) {
			t.Errorf("row %d has %d cells for %d columns", i, len(r), len(tb.Columns))
		}
		for j := range want[i] {
			if j < len(r) && r[j] != want[i][j] {
				t.Errorf("row %d cell %d (%s) = %q, want %q", i, j, tb.Columns[j], r[j], want[i][j])
			}
		}
	}
}

func TestMemcpyRun(t *testing.T) {
	n, d := memcpyRun(4096, time.Millisecond)
	if n <= 0 || n%4096 != 0 || d < time.Millisecond {
		t.Errorf("memcpyRun = %d bytes in %v", n, d)
	}
}
