package demo

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The settings of the buffer-sizes table, as its JSON rows name them.
const (
	settingLoopback = "loopback"
	settingLAN      = "lan"
	settingPipe     = "pipe"
	settingMemcpy   = "memcpy"
)

// bufferRow is one row of the buffer-sizes table for --json: one
// setting, one buffer size, the throughput over its runs.
type bufferRow struct {
	Setting     string  `json:"setting"`
	BufferBytes int     `json:"buffer_bytes"`
	Runs        int     `json:"runs"`
	MbpsMean    float64 `json:"mbps_mean"`
	MbpsStddev  float64 `json:"mbps_stddev"`
}

// errFewRuns means a standard deviation was asked of fewer than two runs,
// where it is not defined.
var errFewRuns = errors.New("a standard deviation needs at least two runs")

// meanStddev returns the mean and the sample standard deviation (n-1 in
// the denominator: the runs are a sample of what the host can do) of xs.
func meanStddev(xs []float64) (mean, sd float64, err error) {
	if len(xs) < 2 {
		return 0, 0, fmt.Errorf("%w: got %d", errFewRuns, len(xs))
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1)), nil
}

// mbps is a transfer's throughput in megabits (10^6 bits) a second, the
// unit of the material's "10 Mbps ethernet".
func mbps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * 8 / d.Seconds() / 1e6
}

// summarize makes the row of one setting and size from its runs'
// throughputs.
func summarize(setting string, size int, runs []float64) (bufferRow, error) {
	mean, sd, err := meanStddev(runs)
	if err != nil {
		return bufferRow{}, fmt.Errorf("%s %s: %w", setting, sizeLabel(size), err)
	}
	return bufferRow{Setting: setting, BufferBytes: size, Runs: len(runs), MbpsMean: mean, MbpsStddev: sd}, nil
}

// bufferGrid is what one run of buffer-sizes measures: the sizes, how
// many runs of each, and how long each run writes, per setting (the lan
// setting's runs move lanBytes instead).
type bufferGrid struct {
	sizes []int
	runs  map[string]int
	dur   map[string]time.Duration
}

// lanBytes is how much one lan run moves: 256 KiB, about 0.2 s at
// 10 Mbit/s, or two buffers when they are larger. A timed run would
// leave the send buffer full, and at 10 Mbit/s draining it takes longer
// than the run.
func lanBytes(size int) int64 { return int64(max(256<<10, 2*size)) }

// gridFor returns the material's grid, 1 KiB to 512 KiB by powers of two
// with several runs each, or with fast a reduced one for tests: three
// sizes, two runs, short transfers.
func gridFor(fast bool) bufferGrid {
	if fast {
		return bufferGrid{
			sizes: []int{1 << 10, 64 << 10, 512 << 10},
			runs:  map[string]int{settingLoopback: 2, settingLAN: 2, settingPipe: 2, settingMemcpy: 2},
			dur: map[string]time.Duration{settingLoopback: 50 * time.Millisecond,
				settingPipe: 30 * time.Millisecond, settingMemcpy: 10 * time.Millisecond},
		}
	}
	var sizes []int
	for s := 1 << 10; s <= 512<<10; s *= 2 {
		sizes = append(sizes, s)
	}
	// The whole grid has to fit in the headless run's minute: about 10 s
	// on loopback, 14 s on the lan, 8 s for the baselines.
	return bufferGrid{
		sizes: sizes,
		runs:  map[string]int{settingLoopback: 5, settingLAN: 5, settingPipe: 5, settingMemcpy: 5},
		dur: map[string]time.Duration{settingLoopback: 200 * time.Millisecond,
			settingPipe: 100 * time.Millisecond, settingMemcpy: 50 * time.Millisecond},
	}
}

// sizeLabel writes a buffer size as the material does: "1 KiB", "512 KiB".
func sizeLabel(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// rateCell writes a mean and standard deviation in Mbit/s with as many
// decimals as the size of the figure deserves.
func rateCell(r bufferRow) string {
	prec := 0
	switch {
	case r.MbpsMean < 10:
		prec = 2
	case r.MbpsMean < 100:
		prec = 1
	}
	return fmt.Sprintf("%.*f ± %.*f", prec, r.MbpsMean, prec, r.MbpsStddev)
}

// materialUnknown stands for a figure of the material's table that
// socktop does not have: the material's buffer-size figures were not
// found, and an unknown figure is shown as unknown, never as a number.
const materialUnknown = "?"

// bufferColumns are the buffer-sizes table's columns: the material's
// rows are buffer sizes and its columns the settings it measured, each
// of ours beside the material's figure.
var bufferColumns = []string{"buffer", "same computer", "material", "10 Mbps LAN", "material", "pipe", "material", "memcpy", "material"}

// bufferSettings are the settings in the order of bufferColumns.
var bufferSettings = []string{settingLoopback, settingLAN, settingPipe, settingMemcpy}

// bufferTable builds the table from the rows measured; a setting with
// no row for a size shows why in missing (a skipped setting), or "-".
func bufferTable(sizes []int, rows []bufferRow, missing map[string]string, notes []string) Table {
	byKey := map[string]bufferRow{}
	for _, r := range rows {
		byKey[fmt.Sprintf("%s/%d", r.Setting, r.BufferBytes)] = r
	}
	text := make([][]string, 0, len(sizes))
	for _, size := range sizes {
		line := []string{sizeLabel(size)}
		for _, s := range bufferSettings {
			cell := "-"
			if r, ok := byKey[fmt.Sprintf("%s/%d", s, size)]; ok {
				cell = rateCell(r)
			} else if why, ok := missing[s]; ok {
				cell = why
			}
			line = append(line, cell, materialUnknown)
		}
		text = append(text, line)
	}
	objs := make([]any, len(rows))
	for i, r := range rows {
		objs[i] = r
	}
	return Table{
		Name:    "buffer-sizes",
		Title:   "TCP throughput by buffer size, Mbit/s (mean ± standard deviation over the runs)",
		Columns: bufferColumns,
		Rows:    text,
		Objects: objs,
		Notes:   notes,
	}
}

// memcpyRun measures copying a size-byte buffer to another for at least
// d: the baseline of no kernel at all.
func memcpyRun(size int, d time.Duration) (int64, time.Duration) {
	src, dst := make([]byte, size), make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	// Reading the clock costs about as much as copying a kilobyte: look
	// at it once a megabyte.
	batch := max(1, (1<<20)/size)
	var n int64
	start := time.Now()
	for {
		for range batch {
			copy(dst, src)
		}
		n += int64(batch * size)
		if el := time.Since(start); el >= d {
			return n, el
		}
	}
}
